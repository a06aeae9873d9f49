"""The whole system through real Ray, Ray Serve and HTTP: `python launch.py` on the bundled task,
while another Ray instance of the machine is announced in RAY_ADDRESS (the embedded default starts
its own all the same)."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from evaluation.hce import HiddenConsistentEvaluation
from evaluation.task import load_task
from tests.conftest import free_port, run_launch

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def other_ray() -> Iterator[str]:
    """A Ray instance of someone else on this machine (`ray start --head`), its address."""
    port = free_port()
    # Its own temp dir (short: Ray's socket paths are limited), so no one else's ray.init finds it.
    temp = tempfile.mkdtemp(prefix="rt", dir="/tmp")
    ray = Path(sys.executable).with_name("ray")
    proc = subprocess.Popen(
        [
            str(ray),
            "start",
            "--head",
            f"--port={port}",
            "--node-ip-address=127.0.0.1",
            "--num-cpus=1",
            "--include-dashboard=false",
            f"--temp-dir={temp}",
            "--disable-usage-stats",
            "--block",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, ended by its pid below
    )
    address = f"127.0.0.1:{port}"
    deadline = time.time() + 120
    while not list(Path(temp).glob("session_*/logs/raylet.out")):
        assert proc.poll() is None and time.time() < deadline, "ray start --head did not come up"
        time.sleep(0.5)
    yield address
    assert proc.poll() is None, "the other Ray instance must be left alone"
    os.killpg(proc.pid, signal.SIGTERM)  # `ray start --block` stops its processes
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, other_ray: str) -> Path:
    out = tmp_path_factory.mktemp("run")
    proc = run_launch(
        "search.num_workers=2",
        "search.budget.max_nodes=5",
        "search.budget.wall_clock_s=400",
        "search.num_drafts=2",
        "hce.refit_final=true",
        f"hydra.run.dir={out}",
        env={"RAY_ADDRESS": other_ray},
    )
    (out / "stdout.txt").write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "percentile rank" in proc.stdout
    assert "Started a local Ray instance" in proc.stdout + proc.stderr, "joined the other Ray instead"
    return out


def test_a_single_run_goes_through_the_run_unit_on_the_home_node(run_dir: Path) -> None:
    placement = json.loads((run_dir / "placement.json").read_text())
    assert placement["run_unit"] == placement["evaluator"] == placement["coordinator"]
    assert [w["worker_id"] for w in placement["workers"]] == [0, 1]
    assert not (run_dir / "workspaces").exists(), "workspaces are node-local scratch"
    # Each episode's workspace went when it returned, the run's scratch when it ended.
    assert not any(Path(w["public_dir"]).parent.exists() for w in placement["workers"])
    result = json.loads((run_dir / "result.json").read_text())
    assert result["started_at"] < result["ended_at"] <= time.time()
    assert "nodes 5/5 finished" in (run_dir / "stdout.txt").read_text()


def test_result_json_has_the_contract_fields(run_dir: Path):
    result = json.loads((run_dir / "result.json").read_text())
    for key in (
        "task",
        "seed",
        "best_node",
        "search_score",
        "val_score",
        "test_score",
        "percentile_rank",
        "medal",
        "nodes",
        "valid_nodes",
        "workers",
        "wall_s",
        "experiments_per_hour",
    ):
        assert key in result
    assert result["task"] == "digits"
    assert result["nodes"] == 5
    assert result["valid_nodes"] >= 3
    assert result["workers"] == 2
    assert 0.5 < result["test_score"] <= 1.0
    assert 0 <= result["percentile_rank"] <= 100
    journal = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    assert len(journal) == 5
    for node in journal:
        d = run_dir / "nodes" / f"{node['id']:04d}"
        assert (
            (d / "trajectory.json").exists() and (d / "scores.json").exists() and (d / "solution.py").exists()
        )
        if node["valid"]:
            assert (d / "submission.csv").exists()
    assert {n["operator"] for n in journal} >= {"draft", "mutate"} or {n["operator"] for n in journal} >= {
        "draft",
        "crossover",
    }


def test_final_node_was_chosen_by_val(run_dir: Path):
    result = json.loads((run_dir / "result.json").read_text())
    valid_ids = {
        n["id"] for n in map(json.loads, (run_dir / "journal.jsonl").read_text().splitlines()) if n["valid"]
    }
    sealed = {}
    for line in (run_dir / "hce_private" / "sealed_scores.jsonl").read_text().splitlines():
        rec = json.loads(line)
        sealed[rec["node_id"]] = rec["scores"]
    best_val = max(sealed[i]["val"] for i in valid_ids)
    assert sealed[result["best_node"]]["val"] == best_val
    assert result["val_score"] == best_val
    assert result["test_score"] == sealed[result["best_node"]]["test"]


def test_the_final_node_is_refit_on_every_labelled_row_and_scores_carry_standard_errors(
    run_dir: Path, digits_task_dir: Path
) -> None:
    result = json.loads((run_dir / "result.json").read_text())
    sealed = {
        rec["node_id"]: rec["scores"]
        for rec in map(json.loads, (run_dir / "hce_private" / "sealed_scores.jsonl").read_text().splitlines())
    }
    final = sealed[result["best_node"]]
    assert result["final_selection"] == "val"
    assert result["test_score_se"] == final["test_se"] and 0 < result["test_score_se"] < 0.1
    assert result["val_score_se"] == final["val_se"] and result["val_score_se"] > 0
    if result["valid_nodes"] >= 5:
        assert result["split_check"]["nodes"] == 5 and result["split_check"]["search_se"] > 0
    # The baseline's solution.py ran again on D_train + D_search + D_val and predicted the D_test rows.
    assert result["refit_error"] is None, result["refit_error"]
    assert 0.5 < result["refit_test_score"] <= 1.0 and result["refit_test_score_se"] > 0
    refit = run_dir / "hce_private" / "refit"
    log = (refit / "refit.log").read_text()
    labelled = len((digits_task_dir / "prepared" / "public" / "train.csv").read_text().splitlines()) - 1
    assert f"train ({labelled}," in log, log[-2000:]  # every labelled row of digits' train.csv
    assert not (refit / "data").exists() and not (refit / "workspace" / "refit.log").exists()


def test_both_workers_ran_jobs_at_overlapping_times(run_dir: Path):
    nodes = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    by_worker: dict[int, list[tuple[float, float]]] = {}
    for n in nodes:
        by_worker.setdefault(n["worker_id"], []).append((n["started_at"], n["ended_at"]))
    assert set(by_worker) == {0, 1}
    overlaps = [(a, b) for a in by_worker[0] for b in by_worker[1] if a[0] < b[1] and b[0] < a[1]]
    assert overlaps, by_worker


def test_agent_visible_copy_holds_no_hidden_label(run_dir: Path):
    config = (run_dir / "config.yaml").read_text()
    assert "digits" in config
    import yaml

    from evaluation.bundled import ensure_bundled
    from launcher.config import RunConfig

    cfg = RunConfig.model_validate(yaml.safe_load(config))
    task = load_task(ensure_bundled("digits", cfg.task.cache_dir))
    hce = HiddenConsistentEvaluation(task, cfg.hce.split_seed, cfg.hce.fractions)
    ids = hce.split_ids()
    public = run_dir / "task_public"
    train = pd.read_csv(public / "train.csv", dtype={"id": str})
    test = pd.read_csv(public / "test.csv", dtype={"id": str})
    assert set(train["id"]) == set(ids["train"])
    hidden = set(ids["search"]) | set(ids["val"]) | set(ids["test"])
    assert not hidden & set(train["id"])
    assert "label" not in test.columns
    assert len(test) == len(hidden)
    assert not hidden & set(test["id"]), "opaque ids must not reveal the original ids"
    for f in public.rglob("*"):
        assert f.name in {"train.csv", "test.csv", "sample_submission.csv", "description.md"}, f


def test_resume_continues_a_run_and_a_killed_driver_loses_no_node(run_dir: Path, tmp_path: Path) -> None:
    """A finished run goes on with `resume=<run dir>` (here: a bigger node budget); that launch is
    killed with SIGKILL once a new node is journaled (the driver drill), and the same command again
    finishes the run: the earlier nodes stay as they were, no finished node is lost or run again,
    and result.json counts them all."""
    import shutil

    copy = tmp_path / "resumed"
    shutil.copytree(run_dir, copy)
    before = (copy / "journal.jsonl").read_text().splitlines()
    other_runs = set((ROOT / "runs").glob("*/*"))
    command = [
        sys.executable,
        str(ROOT / "launch.py"),
        f"resume={copy}",
        "search.num_workers=2",
        "search.budget.max_nodes=8",
        "search.budget.wall_clock_s=400",
        "search.num_drafts=2",
    ]
    log = (tmp_path / "killed.log").open("w")
    driver = subprocess.Popen([*command, f"serve.port={free_port()}"], cwd=ROOT, stdout=log, stderr=log)
    deadline = time.time() + 300
    while len((copy / "journal.jsonl").read_text().splitlines()) <= len(before) and driver.poll() is None:
        assert time.time() < deadline, "no new node within 300 s"
        time.sleep(0.2)
    assert driver.poll() is None, "the resumed run ended before the kill"
    driver.send_signal(signal.SIGKILL)
    killed_at = time.time()
    driver.wait()
    at_kill = (copy / "journal.jsonl").read_text().splitlines()
    assert at_kill[: len(before)] == before, "the earlier nodes were rewritten"

    proc = run_launch(*command[2:])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    after = (copy / "journal.jsonl").read_text().splitlines()
    assert after[: len(at_kill)] == at_kill, "nodes journaled before the kill were rewritten"
    nodes = [json.loads(line) for line in after]
    assert sorted(n["id"] for n in nodes) == list(range(1, 9)), "every node once, none lost"
    for line in at_kill:  # run twice: 0 (the folders of finished nodes were not written again)
        node_dir = copy / "nodes" / f"{json.loads(line)['id']:04d}"
        assert (node_dir / "scores.json").stat().st_mtime < killed_at
    result = json.loads((copy / "result.json").read_text())
    assert result["nodes"] == 8
    assert set((ROOT / "runs").glob("*/*")) == other_runs, "a resumed run writes into its own directory only"


def test_the_run_is_tracked_in_an_offline_wandb_run_with_a_row_per_node(run_dir: Path) -> None:
    from tests.wandb_records import history, run_file, summary

    journal = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    rows = [r for r in history(run_file(run_dir)) if "operator" in r]
    assert sorted(r["node"] for r in rows) == sorted(n["id"] for n in journal)
    by_id = {n["id"]: n for n in journal}
    for r in rows:
        assert r["search_score"] == by_id[r["node"]]["search_score"]
        assert r["valid"] == int(by_id[r["node"]]["valid"])
    result = json.loads((run_dir / "result.json").read_text())
    final = summary(run_file(run_dir))
    assert final["best_node"] == result["best_node"] and final["test_score"] == result["test_score"]
    assert final["journal/nrows"] == len(journal)
