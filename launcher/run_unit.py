"""The run unit: one (task, seed) search that owns its actors, as a Ray Tune function trainable.

Tune runs it in its placement group (launcher/placement.py): the trainable in the home bundle on the
head node, where the run directory lives. Every actor it creates is captured into that group and
dies with the trial: the evaluator, coordinator and token ledger pinned to the home bundle, each
worker in a bundle of its own. A run that fails to start leaks nothing and becomes an error row.
"""

import logging
import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray
from pydantic import BaseModel, ConfigDict

from actors.coordinator import SearchOutcome, SearchStatus
from actors.scratch import release_scratch, run_nodes
from evaluation.task import Task, TaskError
from launcher.benchmark import RESULT_FILE, BenchmarkRow, error_row, result_row, task_config
from launcher.config import RunConfig
from launcher.html_report import write_run_report
from launcher.result import RunResult
from launcher.resume import record_config
from launcher.run_actors import RunActors, record_placement, start_actors, stop_actors
from launcher.run_outcome import build_result, record_hce_noise, refit
from launcher.starting import StartError, starting
from launcher.task_source import resolve_task
from launcher.tracking import WandbTracker
from search.journal import Journal
from search.run_dir import RunDir, write_json_atomic
from serving.server import PolicyEndpoint

log = logging.getLogger(__name__)

# How often a running run tells the driver its progress (s).
STATUS_INTERVAL_S = 2.0


StatusFn = Callable[[SearchStatus, list[str]], None]


def run_search(
    cfg: RunConfig, task: Task, run_dir: Path, endpoint: PolicyEndpoint, on_status: StatusFn | None = None
) -> RunResult:
    """Run one search on a connected Ray and return its result (also written to result.json).

    `on_status` gets the search's status and the Ray nodes of its workers every few seconds. However
    the run ends (done, a failed start, an exception), its actors are stopped and its node-local
    scratch is dropped on every node.
    """
    started = time.time()
    rd = RunDir(run_dir)
    rd.root.mkdir(parents=True, exist_ok=True)
    record_config(rd.root, cfg, task)
    run_key = f"{task.spec.name}-{uuid.uuid4().hex[:12]}"
    actors: RunActors | None = None
    try:
        actors = start_actors(cfg, task, rd, endpoint, run_key)
        return _search(cfg, task, rd, actors, on_status, started)
    finally:
        if actors is not None:
            # They would die with the trial (or with a caller's last handle); stopped first, however
            # the run ended, so that no episode writes scratch after it is dropped and the run's GPUs
            # and worker slots are free at once.
            stop_actors(actors)
        release_scratch(run_key, cfg.sandbox.keep_workspaces, run_nodes())


def _search(
    cfg: RunConfig,
    task: Task,
    rd: RunDir,
    actors: RunActors,
    on_status: StatusFn | None,
    started: float,
) -> RunResult:
    """Drive the started run to its end; write result.json and the report."""
    placed = record_placement(actors, rd)
    nodes = sorted({str(w["node"])[:8] for w in placed["workers"]})
    tracker = WandbTracker(
        cfg.wandb,
        rd.root,
        f"{task.spec.name}-seed{cfg.seed}",
        cfg.experiment,
        cfg.model_dump(mode="json"),
        lambda message: log.warning("%s", message),
    )
    journal, seen = Journal(rd.journal), -1
    outcome_ref = actors.coordinator.run.remote()
    while not ray.wait([outcome_ref], timeout=STATUS_INTERVAL_S)[0]:
        status: SearchStatus = ray.get(actors.coordinator.status.remote())
        if on_status is not None:
            on_status(status, nodes)
        if tracker.active and status.nodes != seen:  # W&B gets each node once it is journaled
            seen = status.nodes
            tracker.log_nodes(journal.load(), task.lower_is_better)
    outcome: SearchOutcome = ray.get(outcome_ref)
    if on_status is not None:
        on_status(ray.get(actors.coordinator.status.remote()), nodes)
    outages = ray.get(actors.breaker.outages.remote())
    result = build_result(cfg, task, rd, outcome, started)
    result.outages = [o.model_dump() | {"duration_s": o.duration_s} for o in outages]
    record_hce_noise(result, ray.get(actors.evaluator.split_check.remote()), refit(cfg, actors, rd, outcome))
    write_json_atomic(rd.result, result.model_dump(mode="json"))
    done = journal.load()
    tracker.log_nodes(done, task.lower_is_better)
    tracker.finish(result.model_dump(mode="json"), done)
    write_run_report(rd.root)
    return result


class GridSpec(BaseModel):
    """What every run of a grid shares: the config, where run directories go, the policy server."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    cfg: RunConfig
    root: Path
    endpoint: PolicyEndpoint
    single: bool  # one run, no benchmark: its run directory is `root` itself

    def run_dir(self, task: str, seed: int) -> Path:
        """`<root>/<task>/seed<k>/` for a benchmark run, `root` for a single run."""
        return self.root if self.single else benchmark_run_dir(self.root, task, seed)

    def run_config(self, task: str, seed: int, run_dir: Path) -> RunConfig:
        """The config of one run of the grid (a benchmark run resumes its own journal if it has one)."""
        if self.single:
            return self.cfg
        resume = run_dir if (run_dir / "journal.jsonl").is_file() else None
        return self.cfg.model_copy(
            update={"task": task_config(self.cfg, task), "seed": seed, "benchmark": None, "resume": resume}
        )


def status_metrics(s: SearchStatus, nodes: list[str]) -> dict[str, Any]:
    """A running run's progress as a Tune result (the driver's progress display reads it)."""
    return {
        "nodes": s.nodes,
        "valid": s.valid,
        "running": s.running,
        "max_nodes": s.max_nodes,
        "best_search": s.best_search,
        "elapsed_s": s.elapsed_s,
        "wall_clock_s": s.wall_clock_s,
        "ray_nodes": ",".join(nodes),
    }


def benchmark_run_dir(root: Path, task: str, seed: int) -> Path:
    """`<root>/<task>/seed<k>/`: where a benchmark keeps the run of (task, seed)."""
    return root / task / f"seed{seed}"


def finished_run(run_dir: Path, task: str, seed: int) -> tuple[BenchmarkRow, RunResult] | None:
    """A benchmark run that has finished (its result.json): its row, marked reused, and its result."""
    done = run_dir / RESULT_FILE
    if not done.is_file():
        return None
    result = RunResult.model_validate_json(done.read_text())
    return result_row(task, seed, run_dir, result, reused=True), result


def run_unit(config: dict[str, Any], spec: GridSpec) -> None:
    """The Tune trainable of one (task, seed): reuse a finished run, resume or start it; report its row.

    Its last report carries the row (and the result) by value: `row` and `result` as JSON.
    """
    from ray import tune

    name, seed = str(config["task"]), int(config["seed"])
    run_dir = spec.run_dir(name, seed)
    started = time.time()
    result: RunResult | None = None
    row: BenchmarkRow
    try:
        reused = None if spec.single else finished_run(run_dir, name, seed)
        if reused is not None:
            row, result = reused
        else:
            cfg = spec.run_config(name, seed, run_dir)
            with starting("task build"):
                task = resolve_task(cfg.task)
            result = run_search(
                cfg, task, run_dir, spec.endpoint, lambda s, n: tune.report(status_metrics(s, n))
            )
            row = result_row(name, seed, run_dir, result)
    except (TaskError, StartError) as e:  # their messages name the part and the fix
        row = error_row(name, seed, run_dir, str(e), started)
    except Exception as e:
        # One broken run must not lose the others: its row records why, the run's log where.
        traceback.print_exc()
        row = error_row(name, seed, run_dir, f"{type(e).__name__}: {e}", started)
    tune.report(
        {
            "row": row.model_dump_json(),
            "result": result.model_dump_json() if result is not None else "",
        }
    )
