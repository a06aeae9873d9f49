"""benchmark.html of a grid, built from its benchmark.json: per run, the aggregates, rank per task."""

import os
from html import escape
from pathlib import Path

from pydantic import ValidationError

from launcher.benchmark import TABLE_JSON, BenchmarkSummary
from launcher.html_report._page import cell, page, table
from launcher.html_report._svg import dot_plot
from launcher.html_report.run_page import REPORT_FILE

BENCHMARK_REPORT_FILE = "benchmark.html"


def load_grid(root: Path) -> BenchmarkSummary:
    """Read root/benchmark.json; ValueError naming the file when it is missing or not one."""
    path = root / TABLE_JSON
    if not path.is_file():
        raise ValueError(f"{root} holds no {TABLE_JSON}: it is not the directory of a finished grid")
    try:
        return BenchmarkSummary.model_validate_json(path.read_text())
    except ValidationError as e:
        raise ValueError(f"{path} is not a benchmark table of this project: {e.errors()[0]['msg']}") from None


def _report_link(root: Path, task: str, seed: int, run_dir: str) -> str | None:
    """The run's report.html relative to the grid's page, None when that run wrote none.

    The grid's own layout (<root>/<task>/seed<k>) comes first, so a grid directory that was moved
    or copied links its own runs; the recorded run directory is the fallback.
    """
    for report in (root / task / f"seed{seed}" / REPORT_FILE, Path(run_dir) / REPORT_FILE):
        if report.is_file():
            return Path(os.path.relpath(report.resolve(), root.resolve())).as_posix()
    return None


def render_grid(root: Path, s: BenchmarkSummary) -> str:
    """The whole benchmark page."""
    headers = ["task", "seed", "test score", "percentile rank", "medal", "valid / nodes", "report", "note"]
    rows = []
    for r in s.rows:
        link = _report_link(root, r.task, r.seed, r.run_dir)
        rows.append(
            (
                [
                    cell(r.task),
                    cell(r.seed),
                    cell(r.test_score),
                    cell(r.percentile_rank),
                    cell(r.medal or "-"),
                    cell(f"{r.valid_nodes} / {r.nodes}"),
                    cell("report", link) if link else cell("no report"),
                    cell(r.error or ("reference ladder" if r.leaderboard_kind == "reference-ladder" else "")),
                ],
                "invalid" if r.error else "",
            )
        )
    overall = [
        ("mean percentile rank", s.mean_percentile_rank),
        ("bronze or better (%)", s.bronze_or_better_pct),
        ("silver or better (%)", s.silver_or_better_pct),
        ("gold (%)", s.gold_pct),
        ("above median (%)", s.above_median_pct),
    ]
    aggregates = "".join(
        f"<tr><th>{escape(what)}</th><td>{e.mean:.1f} ± {e.stderr:.1f} (n = {e.n})</td></tr>"
        for what, e in overall
    )
    tasks: dict[str, list[float]] = {}
    for r in s.rows:
        tasks.setdefault(r.task, []).append(r.percentile_rank)
    body = [
        f"<h1>AIRA-2 benchmark {escape(s.name)}: {s.runs} runs</h1>",
        "<h2>Overall (mean ± standard error over runs)</h2>",
        f'<table id="aggregates">{aggregates}</table>',
        "<h2>Percentile rank per task</h2>",
        "<p>One dot per seed, the bar at the mean; a failed run counts as rank 0.</p>",
        f'<div class="scroll">{dot_plot(list(tasks.items()), "percentile rank", "rank-plot")}</div>',
        "<h2>Runs</h2>",
        table(headers, rows, "runs-table"),
    ]
    return page(f"AIRA-2 benchmark {s.name}", body)


def write_grid_report(root: Path) -> Path:
    """Write root/benchmark.html from root/benchmark.json; returns its path."""
    html = render_grid(root, load_grid(root))
    out = root / BENCHMARK_REPORT_FILE
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)
    return out
