"""Benchmarks: task lists (bundled, explicit, mle-bench split files) and a real `benchmark=local` run."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from evaluation.bundled import bundled_names
from launcher.benchmark import BenchmarkError, BenchmarkRow, benchmark_tasks, markdown_table, summarise_rows
from launcher.config import BenchmarkConfig
from launcher.preflight import PreflightError, preflight
from tests.conftest import compose_config

ROOT = Path(__file__).resolve().parents[1]


def test_local_benchmark_lists_every_bundled_task_or_a_subset() -> None:
    names = benchmark_tasks(BenchmarkConfig(kind="local"))
    assert names == bundled_names()
    assert 6 <= len(names) <= 10
    assert benchmark_tasks(BenchmarkConfig(kind="local", tasks=["wine"])) == ["wine"]
    with pytest.raises(BenchmarkError, match="nope"):
        benchmark_tasks(BenchmarkConfig(kind="local", tasks=["nope"]))


def test_mlebench_lists_come_from_the_split_file_of_the_checkout(tmp_path: Path) -> None:
    splits = tmp_path / "experiments" / "splits"
    splits.mkdir(parents=True)
    (splits / "low.txt").write_text("spaceship-titanic\n\nrandom-acts-of-pizza\n")
    b = BenchmarkConfig(split="low", mlebench_repo=tmp_path)
    assert benchmark_tasks(b) == ["spaceship-titanic", "random-acts-of-pizza"]
    with pytest.raises(BenchmarkError, match=r"systemcard\.txt not found.*mlebench_repo"):
        benchmark_tasks(BenchmarkConfig(split="systemcard", mlebench_repo=tmp_path))


def test_config_groups_select_the_lists() -> None:
    cfg = compose_config("benchmark=local")
    assert cfg.benchmark is not None and cfg.benchmark.kind == "local" and cfg.benchmark.tasks == []
    lite = compose_config("benchmark=lite")
    assert lite.benchmark is not None and lite.benchmark.split == "low"
    assert compose_config("task=local/wine").task.bundled == "wine"


def test_preflight_names_missing_mlebench_data(tmp_path: Path) -> None:
    splits = tmp_path / "repo" / "experiments" / "splits"
    splits.mkdir(parents=True)
    (splits / "systemcard.txt").write_text("spaceship-titanic\n")
    cfg = compose_config(
        "task=mlebench",
        "benchmark=mlebench30",
        f"benchmark.mlebench_repo={tmp_path / 'repo'}",
        f"task.data_dir={tmp_path / 'data'}",
    )
    with pytest.raises(PreflightError, match=r"MLE-bench data missing for 1 of 1 .*spaceship-titanic"):
        preflight(cfg)


def test_table_aggregates_every_row() -> None:
    rows = [
        BenchmarkRow(task="a", seed=0, run_dir="x", test_score=0.9, percentile_rank=80.0, medal="gold"),
        BenchmarkRow(task="a", seed=1, run_dir="y", percentile_rank=0.0, error="TaskError: broken | really"),
    ]
    summary = summarise_rows("t", rows)
    assert summary.mean_percentile_rank.mean == 40.0 and summary.gold_pct.mean == 50.0
    text = markdown_table(summary)
    assert "| a | 1 | - | 0.0 | - | 0 / 0 | TaskError: broken / really |" in text
    assert "| mean percentile rank | 40.0 ± 40.0 |" in text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _launch(out: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "launch.py"),
            "benchmark=local",
            "benchmark.tasks=[wine,diabetes]",
            "search.budget.max_nodes=1",
            f"serve.port={_free_port()}",
            f"hydra.run.dir={out}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={**os.environ, "AIRA_CACHE": str(cache)},
    )


@pytest.mark.integration
def test_local_benchmark_runs_each_task_in_its_own_directory_and_resumes(tmp_path: Path) -> None:
    out, cache = tmp_path / "bench", tmp_path / "cache"
    proc = _launch(out, cache)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = json.loads((out / "benchmark.json").read_text())
    assert [(r["task"], r["seed"]) for r in table["rows"]] == [("wine", 0), ("diabetes", 0)]
    for row in table["rows"]:
        result = json.loads((out / row["task"] / "seed0" / "result.json").read_text())
        assert result["task"] == row["task"] and result["nodes"] == 1
        assert row["error"] is None and 0 <= row["percentile_rank"] <= 100
        assert row["percentile_rank"] == pytest.approx(result["percentile_rank"] or 0.0)
        assert row["started_at"] == result["started_at"] < row["ended_at"] == result["ended_at"]
    assert table["runs"] == 2 and table["mean_percentile_rank"]["n"] == 2
    assert "mean percentile rank" in proc.stdout
    assert (out / "benchmark.md").read_text().startswith("# Benchmark local: 2 runs")

    again = _launch(out, cache)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert again.stdout.count("already finished") == 2
    reread = json.loads((out / "benchmark.json").read_text())
    assert all(r["reused"] for r in reread["rows"])
    assert [{**r, "reused": False} for r in reread["rows"]] == table["rows"]
    assert {k: v for k, v in reread.items() if k != "rows"} == {k: v for k, v in table.items() if k != "rows"}
