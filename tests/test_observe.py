"""Watching a run: the custom metrics on Ray's metrics port, the Grafana dashboard, the HTML reports.

One real grid run (launch.py, benchmark=local with the digits task, the scripted baseline policy as
the LLM's test double, real Ray, Serve and bwrap sandboxes) is scraped while it runs; its run
directory then feeds the report tests, which open the pages in a real headless Chromium.
"""

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote, urlparse

import pytest
from prometheus_client.parser import text_string_to_metric_families
from ray.util.metrics import Counter, Gauge, Histogram

import actors.metrics
import serving.metrics
from tests.browser import Browser, chromium_path, png_colours
from tests.conftest import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "dashboards" / "aira.json"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class ObservedGrid(NamedTuple):
    root: Path
    scrapes: list[Samples]  # every scrape of the metrics port while the run went on, in order
    output: str


def _scrape(port: int) -> Samples | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return None  # Ray is not up yet, or already gone
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("ray_aira_")
    }


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> ObservedGrid:
    root = tmp_path_factory.mktemp("observe") / "grid"
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "launch.py"),
            "benchmark=local",
            "benchmark.tasks=[digits]",
            "search.num_workers=2",
            "search.budget.max_nodes=4",
            f"hydra.run.dir={root}",
            f"ray.metrics_export_port={port}",
            f"serve.port={free_port()}",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # Workers report their metrics every second instead of every 10 s, so a short run shows them.
        env={**os.environ, "RAY_metrics_report_interval_ms": "1000"},
    )
    scrapes = []
    give_up = time.time() + 600
    while proc.poll() is None and time.time() < give_up:
        if (samples := _scrape(port)) is not None:
            scrapes.append(samples)
        time.sleep(1.0)
    if proc.poll() is None:
        proc.kill()
    output = proc.communicate()[0]
    assert proc.returncode == 0, output[-3000:]
    return ObservedGrid(root, scrapes, output)


def _total(samples: Samples, name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, tags), v in samples.items() if n == name and want <= tags)


def test_counters_move_during_the_run_and_carry_the_run_tags(grid: ObservedGrid) -> None:
    run = {"task": "digits", "seed": "0"}
    finished = [_total(s, "ray_aira_search_nodes_finished_total", **run) for s in grid.scrapes]
    assert max(finished) >= 1, "no finished node was ever exported"
    assert any(a < b for a, b in itertools.pairwise(finished)), f"never moved: {finished}"
    last = next(s for s in reversed(grid.scrapes) if _total(s, "ray_aira_search_nodes_finished_total"))
    runs = {dict(tags)["run"] for (n, tags) in last if n == "ray_aira_search_nodes_finished_total"}
    assert runs == {"grid/digits/seed0"}
    seen = {n for s in grid.scrapes for (n, _) in s}
    for name in (
        "ray_aira_search_best_score",
        "ray_aira_search_jobs_in_flight",
        "ray_aira_worker_busy_seconds_total",
        "ray_aira_worker_idle_seconds_total",
        "ray_aira_episode_duration_seconds_count",
        "ray_aira_episode_steps_bucket",
        "ray_aira_tool_call_duration_seconds_count",
        "ray_aira_episodes_ended_total",
        "ray_aira_policy_request_duration_seconds_count",
        "ray_aira_policy_prompt_tokens_total",
        "ray_aira_policy_completion_tokens_total",
        "ray_aira_evaluator_scoring_duration_seconds_count",
        "ray_aira_evaluator_queue_submissions",
        "ray_aira_grid_runs",
    ):
        assert name in seen, f"{name} never exported; seen: {sorted(seen)}"
    busiest = max(grid.scrapes, key=lambda s: _total(s, "ray_aira_policy_completion_tokens_total"))
    assert _total(busiest, "ray_aira_policy_completion_tokens_total", **run) > 0
    assert _total(busiest, "ray_aira_episodes_ended_total", reason="submit", **run) >= 1
    assert max(_total(s, "ray_aira_grid_runs", state="running") for s in grid.scrapes) == 1
    best = [_total(s, "ray_aira_search_best_score", **run) for s in grid.scrapes]
    result = json.loads((grid.root / "digits" / "seed0" / "result.json").read_text())
    journal = [
        json.loads(line)
        for line in (grid.root / "digits" / "seed0" / "journal.jsonl").read_text().splitlines()
    ]
    assert max(best) in {n["search_score"] for n in journal if n["valid"]}
    assert result["nodes"] == len(journal)


def _exported_names() -> dict[str, set[str]]:
    """Every metric the project defines, with the sample names Ray exports it under (prefix ray_)."""
    names: dict[str, set[str]] = {}
    for make in (*actors.metrics.METRICS, *serving.metrics.METRICS):
        metric = make()
        name = "ray_" + metric.info["name"]
        if isinstance(metric, Histogram):
            names[name] = {name + "_bucket", name + "_sum", name + "_count"}
        else:
            assert isinstance(metric, Counter | Gauge)
            names[name] = {name}
    return names


def test_exported_names_follow_the_project_definitions(grid: ObservedGrid) -> None:
    defined = _exported_names()
    assert all(n.endswith("_total") for n in defined if "_total" in n)
    allowed = set().union(*defined.values())
    seen = {n for s in grid.scrapes for (n, _) in s}
    assert seen <= allowed, f"exported but not defined as expected: {seen - allowed}"


def test_grafana_dashboard_references_only_metrics_that_exist(grid: ObservedGrid) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    defined = _exported_names()
    allowed = set().union(*defined.values())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [
        v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        for v in dashboard["templating"]["list"]
        if v["type"] == "query"
    ]
    referenced = {m for e in exprs for m in re.findall(r"ray_aira_[a-z_]+", e)}
    assert referenced, "the dashboard queries no project metric"
    assert referenced <= allowed, f"the dashboard queries metrics that do not exist: {referenced - allowed}"
    # Every metric the project defines has a panel, and every panel is filtered by run.
    covered = {base for base, samples in defined.items() if samples & referenced}
    assert covered == set(defined), f"metrics without a panel: {set(defined) - covered}"
    run_metrics = {base for base in defined if base != "ray_aira_grid_runs"}
    for e in exprs:
        if any(base in e for base in run_metrics) and "label_values" not in e:
            assert 'run=~"$run"' in e, f"a panel not filtered by run: {e}"
    seen = {n for s in grid.scrapes for (n, _) in s}
    assert referenced & seen, "none of the dashboard's metrics was exported by a real run"


# Every link's absolute target (an SVG <a> has no string .href: resolve its attribute).
HREFS = (
    "Array.from(document.querySelectorAll('{selector}'),"
    " a => new URL(a.getAttribute('href'), document.baseURI).href)"
)


def _check_page(browser: Browser, page: Path) -> list[str]:
    """Open a page; return its links' targets that do not resolve. Asserts there was no console error."""
    browser.open(page)
    assert browser.errors == [], browser.errors
    hrefs: list[str] = browser.evaluate(HREFS.format(selector="a[href]"))
    assert hrefs
    broken = []
    for href in hrefs:
        url = urlparse(href)
        assert url.scheme == "file", f"a link leaves the run directory: {href}"
        target = Path(unquote(url.path))
        if url.fragment:
            if target == page.resolve() and not browser.evaluate(
                f"!!document.getElementById({json.dumps(url.fragment)})"
            ):
                broken.append(href)
        elif not target.is_file():
            broken.append(href)
    return broken


def _not_blank(png: bytes) -> None:
    colours = png_colours(png)
    assert len(colours) > 20, f"the drawing is blank: {len(colours)} colours"


needs_chromium = pytest.mark.skipif(
    chromium_path() is None, reason="chromium not installed (apt-get install chromium)"
)


@needs_chromium
def test_run_report_draws_plots_tree_and_every_node(grid: ObservedGrid) -> None:
    run_dir = grid.root / "digits" / "seed0"
    report = run_dir / "report.html"
    assert report.is_file(), "the run did not write its report"
    html = report.read_text()
    assert "http://" not in html and "https://" not in html, "the report must open offline"
    journal = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    result = json.loads((run_dir / "result.json").read_text())
    with Browser() as browser:
        assert _check_page(browser, report) == []
        count = browser.evaluate
        assert count("document.querySelectorAll('#lineage-tree circle.tree-node').length") == len(journal)
        edges = sum(len(n["parent_ids"]) for n in journal)
        assert count("document.querySelectorAll('#lineage-tree line.edge').length") == edges
        valid = sum(n["valid"] for n in journal)
        assert count("document.querySelectorAll('#score-plot circle.point').length") >= valid
        assert count("document.querySelectorAll('#score-plot path.best-line').length") == 1
        assert count("document.querySelectorAll('#nodes-table tbody tr').length") == len(journal)
        assert count("document.querySelectorAll('section[id^=node-] .step').length") > 0
        # After the search: each node's sealed D_val and D_test, the final node's as in result.json.
        table = count("document.getElementById('nodes-table').innerText")
        assert (
            "D_val" in table
            and f"{result['val_score']:.6g}" in table
            and f"{result['test_score']:.6g}" in table
        )
        assert count("document.querySelectorAll('#gap-plot circle.point').length") >= 2 * valid
        # A click on a tree node opens that node's code and trajectory.
        browser.evaluate(
            "document.querySelector('#lineage-tree a')"
            ".dispatchEvent(new MouseEvent('click', {bubbles: true}))"
        )
        time.sleep(0.3)
        first = min(n["id"] for n in journal)  # the tree draws its nodes in id order
        assert count("location.hash") == f"#node-{first}"
        assert count(f"document.querySelector('#node-{first} details').open") is True
        _not_blank(browser.screenshot("#lineage-tree"))
        _not_blank(browser.screenshot("#score-plot"))


def test_report_of_a_running_search_shows_no_sealed_score(grid: ObservedGrid, tmp_path: Path) -> None:
    run_dir = tmp_path / "running"
    shutil.copytree(grid.root / "digits" / "seed0", run_dir)
    (run_dir / "result.json").unlink()  # as while the search still runs
    from launcher.html_report import write_run_report

    html = write_run_report(run_dir).read_text()
    sealed = [
        json.loads(line)["scores"]
        for line in (run_dir / "hce_private" / "sealed_scores.jsonl").read_text().splitlines()
    ]
    assert "D_val" not in html and "gap-plot" not in html
    searched = {f"{s['search']:.6g}" for s in sealed if s["valid"]}
    hidden = {f"{s[k]:.6g}" for s in sealed if s["valid"] for k in ("val", "test")} - searched
    assert hidden and not any(v in html for v in hidden)


@needs_chromium
def test_benchmark_report_links_each_run_and_plots_ranks(grid: ObservedGrid) -> None:
    page = grid.root / "benchmark.html"
    assert page.is_file(), "the grid did not write benchmark.html"
    table = json.loads((grid.root / "benchmark.json").read_text())
    with Browser() as browser:
        assert _check_page(browser, page) == []
        assert browser.evaluate("document.querySelectorAll('#rank-plot circle.point').length") == len(
            table["rows"]
        )
        links = browser.evaluate(HREFS.format(selector="#runs-table a"))
        assert [Path(unquote(urlparse(h).path)) for h in links] == [
            (grid.root / "digits" / "seed0" / "report.html").resolve()
        ]
        text = browser.evaluate("document.getElementById('aggregates').innerText")
        mean = table["mean_percentile_rank"]
        assert f"{mean['mean']:.1f} ± {mean['stderr']:.1f}" in text
        _not_blank(browser.screenshot("#rank-plot"))


def test_report_command_rebuilds_and_refuses_other_directories(grid: ObservedGrid, tmp_path: Path) -> None:
    copy = tmp_path / "grid"
    shutil.copytree(grid.root, copy, ignore=shutil.ignore_patterns("workspaces", "task_public"))
    for page in (copy / "benchmark.html", copy / "digits" / "seed0" / "report.html"):
        page.unlink()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "launcher", "report", str(copy)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert (copy / "benchmark.html").is_file() and (copy / "digits" / "seed0" / "report.html").is_file()
    bad = subprocess.run(
        [sys.executable, "-m", "launcher", "report", str(tmp_path / "nothing")],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert bad.returncode == 2
    assert "neither a run directory" in bad.stderr and "nothing" in bad.stderr
