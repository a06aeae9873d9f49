"""A benchmark: one search per task and seed, each in its own sub-run directory, then one table.

The runs are a grid on Ray Tune (launcher/grid.py), side by side. A run that already wrote its
result.json is read back, not redone, so the same command resumes a benchmark. A run that fails
counts as an invalid submission (percentile rank 0, no medal) and the error is kept.
"""

import json
import time
from pathlib import Path

from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from evaluation.aggregate import Estimate, summarise
from evaluation.bundled import bundled_names
from launcher.config import BenchmarkConfig, RunConfig, TaskConfig
from launcher.result import RunResult
from search.run_dir import write_json_atomic

RESULT_FILE = "result.json"
TABLE_JSON = "benchmark.json"
TABLE_MD = "benchmark.md"


class BenchmarkError(Exception):
    """The benchmark's task list cannot be resolved; the message names the key and the fix."""


def split_file(b: BenchmarkConfig) -> Path:
    """mle-bench's own split file for `benchmark.split` in the user's checkout."""
    return Path(b.mlebench_repo or ".").expanduser() / "experiments" / "splits" / f"{b.split}.txt"


def benchmark_tasks(b: BenchmarkConfig) -> list[str]:
    """The task names of the benchmark, in order: bundled tasks, an explicit list, or a split file."""
    if b.kind == "local":
        known = bundled_names()
        unknown = [t for t in b.tasks if t not in known]
        if unknown:
            raise BenchmarkError(
                f"benchmark.tasks: unknown offline task(s) {', '.join(unknown)}; bundled: {', '.join(known)}"
            )
        return list(b.tasks) or known
    if b.tasks:
        return list(b.tasks)
    path = split_file(b)
    if not path.is_file():
        raise BenchmarkError(
            f"benchmark.split={b.split}: {path} not found: clone mle-bench and set "
            "benchmark.mlebench_repo (or MLEBENCH_REPO) to it"
        )
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def task_config(cfg: RunConfig, name: str) -> TaskConfig:
    """The task config of one benchmark task: a bundled task, or a competition under task.data_dir."""
    assert cfg.benchmark is not None
    if cfg.benchmark.kind == "local":
        return TaskConfig(kind="local", bundled=name, cache_dir=cfg.task.cache_dir)
    repo = cfg.task.mlebench_repo or cfg.benchmark.mlebench_repo
    return cfg.task.model_copy(
        update={"kind": "mlebench", "name": name, "dir": None, "bundled": None, "mlebench_repo": repo}
    )


class BenchmarkRow(BaseModel):
    """One run of the benchmark: its task and seed, and its result or the error that ended it."""

    task: str
    seed: int
    run_dir: str
    test_score: float | None = None
    test_score_se: float | None = None  # the bootstrap standard error of the final node's D_test score
    percentile_rank: float
    medal: str | None = None
    above_median: bool = False
    leaderboard_kind: str | None = None
    valid_nodes: int = 0
    nodes: int = 0
    wall_s: float = 0.0
    error: str | None = None
    started_at: float | None = None  # unix time, so that runs side by side show their overlap
    ended_at: float | None = None
    reused: bool = False  # read back from an earlier launch's result.json, not run again


class BenchmarkSummary(BaseModel):
    """The benchmark table: one row per run and the aggregates (means with standard errors)."""

    name: str
    runs: int
    rows: list[BenchmarkRow]
    mean_percentile_rank: Estimate
    bronze_or_better_pct: Estimate
    silver_or_better_pct: Estimate
    gold_pct: Estimate
    above_median_pct: Estimate


def result_row(task: str, seed: int, run_dir: Path, result: RunResult, reused: bool = False) -> BenchmarkRow:
    """The row of a run that produced a result.json."""
    return BenchmarkRow(
        task=task,
        seed=seed,
        run_dir=str(run_dir),
        test_score=result.test_score,
        test_score_se=result.test_score_se,
        # No final node (no valid submission) ranks last, as in the paper.
        percentile_rank=result.percentile_rank or 0.0,
        medal=result.medal,
        above_median=bool(result.above_median),
        leaderboard_kind=result.leaderboard_kind,
        valid_nodes=result.valid_nodes,
        nodes=result.nodes,
        wall_s=result.wall_s,
        started_at=result.started_at,
        ended_at=result.ended_at,
        reused=reused,
    )


def error_row(task: str, seed: int, run_dir: Path, error: str, started_at: float) -> BenchmarkRow:
    """The row of a run that could not run or failed: it counts as an invalid submission (rank 0)."""
    return BenchmarkRow(
        task=task,
        seed=seed,
        run_dir=str(run_dir),
        percentile_rank=0.0,
        error=error,
        started_at=started_at,
        ended_at=time.time(),
    )


def write_benchmark(name: str, rows: list[BenchmarkRow], root: Path) -> BenchmarkSummary:
    """Aggregate the rows and write benchmark.json and benchmark.md under `root`."""
    summary = summarise_rows(name, rows)
    write_json_atomic(root / TABLE_JSON, json.loads(summary.model_dump_json()))
    (root / TABLE_MD).write_text(markdown_table(summary))
    from launcher.html_report import write_grid_report  # the page reads this module's table model

    write_grid_report(root)
    return summary


def summarise_rows(name: str, rows: list[BenchmarkRow]) -> BenchmarkSummary:
    """The aggregates of the rows (every row counts; failures as rank 0 and no medal)."""
    s = summarise([r.percentile_rank for r in rows], [r.medal for r in rows], [r.above_median for r in rows])
    return BenchmarkSummary(
        name=name,
        runs=len(rows),
        rows=rows,
        mean_percentile_rank=s.percentile_rank,
        bronze_or_better_pct=s.bronze_or_better,
        silver_or_better_pct=s.silver_or_better,
        gold_pct=s.gold,
        above_median_pct=s.above_median,
    )


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.6g}"


def _score(r: BenchmarkRow) -> str:
    """A run's test score with its bootstrap standard error, `score ± se`."""
    if r.test_score is None or r.test_score_se is None:
        return _fmt(r.test_score)
    return f"{r.test_score:.6g} ± {r.test_score_se:.2g}"


def _pm(e: Estimate) -> str:
    return f"{e.mean:.1f} ± {e.stderr:.1f}"


def _overall(s: BenchmarkSummary) -> list[tuple[str, str]]:
    return [
        ("mean percentile rank", _pm(s.mean_percentile_rank)),
        ("bronze or better (%)", _pm(s.bronze_or_better_pct)),
        ("silver or better (%)", _pm(s.silver_or_better_pct)),
        ("gold (%)", _pm(s.gold_pct)),
        ("above median (%)", _pm(s.above_median_pct)),
    ]


def markdown_table(s: BenchmarkSummary) -> str:
    """The benchmark table as Markdown: per run, then the overall means ± standard errors."""
    lines = [
        f"# Benchmark {s.name}: {s.runs} runs",
        "",
        "| task | seed | test score ± se | percentile rank | medal | valid / nodes | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in s.rows:
        note = r.error or ("ladder" if r.leaderboard_kind == "reference-ladder" else "")
        lines.append(
            f"| {r.task} | {r.seed} | {_score(r)} | {r.percentile_rank:.1f} | {r.medal or '-'} | "
            f"{r.valid_nodes} / {r.nodes} | {note.replace('|', '/')} |"
        )
    lines += ["", "| overall (mean ± standard error over runs) | value |", "|---|---|"]
    lines += [f"| {what} | {value} |" for what, value in _overall(s)]
    return "\n".join(lines) + "\n"


def print_benchmark(s: BenchmarkSummary, root: Path, console: Console) -> None:
    """Print the benchmark table and where it was written."""
    table = Table(title=f"AIRA-2 benchmark {s.name}: {s.runs} runs")
    for column in ("task", "seed", "test score ± se", "percentile rank", "medal", "valid / nodes", "note"):
        table.add_column(column)
    for r in s.rows:
        note = r.error or ("ladder" if r.leaderboard_kind == "reference-ladder" else "")
        table.add_row(
            r.task,
            str(r.seed),
            _score(r),
            f"{r.percentile_rank:.1f}",
            r.medal or "-",
            f"{r.valid_nodes} / {r.nodes}",
            escape(note[:120]),
        )
    console.print(table)
    overall = Table(title="overall (mean ± standard error over runs)", show_header=False)
    overall.add_column("what", style="bold")
    overall.add_column("value")
    for what, value in _overall(s):
        overall.add_row(what, value)
    console.print(overall)
    console.print(f"benchmark table: {root / TABLE_MD} and {root / TABLE_JSON}")
