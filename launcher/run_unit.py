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
from typing import Any, NamedTuple

import ray
from pydantic import BaseModel, ConfigDict
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy, PlacementGroupSchedulingStrategy

from actors.coordinator import SearchCoordinatorActor, SearchOutcome, SearchStatus
from actors.evaluator import HCEEvaluatorActor
from actors.metrics import RunLabels
from actors.scratch import publish_public, release_scratch, run_nodes
from actors.worker import ExperimentWorkerActor
from agents.task_card import TaskCard
from evaluation.bundled import hide_bundled_data
from evaluation.leaderboard import Leaderboard
from evaluation.metrics import get_metric
from evaluation.refit import RefitResult
from evaluation.selection import SplitCheck
from evaluation.self_reported import SELF_REPORTED
from evaluation.task import Task, TaskError
from launcher.benchmark import RESULT_FILE, BenchmarkRow, error_row, result_row, task_config
from launcher.config import RunConfig
from launcher.html_report import write_run_report
from launcher.placement import worker_options
from launcher.result import RunResult
from launcher.resume import record_config
from launcher.starting import StartError, starting
from launcher.task_source import resolve_task
from launcher.tracking import WandbTracker
from sandbox import SandboxConfig, data_dir_seen_by_agent
from search.journal import Journal, JournalUsage
from search.run_dir import RunDir, write_json_atomic
from serving.budget import TokenLedgerActor, cost_usd
from serving.client import client_settings
from serving.outage import OutageBreakerActor, http_probe
from serving.server import PolicyEndpoint

log = logging.getLogger(__name__)

# How long a run's experiment workers may take to be placed and started (s): inside the run's
# placement group their resources are reserved, so only a lost node or a broken start takes this long.
ACTOR_START_TIMEOUT_S = 600.0
# How often a running run tells the driver its progress (s).
STATUS_INTERVAL_S = 2.0


class RunActors(NamedTuple):
    """The actors of one run (handles are typed Any: Ray's stubs type them as `ActorHandle | type`).

    No kill list: they belong to the process that made them (the run unit) and to its placement group.
    """

    evaluator: Any
    workers: list[Any]
    coordinator: Any
    ledger: Any  # the TokenLedger every worker's policy client reports usage to
    breaker: Any  # the OutageBreaker every worker's policy client reports outages to


def home_strategy() -> Any:
    """Pin an actor to the run's home: bundle 0 of its placement group, else this process's node."""
    pg = ray.util.get_current_placement_group()
    if pg is not None:
        return PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=0)
    return NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)


def start_actors(cfg: RunConfig, task: Task, rd: RunDir, endpoint: PolicyEndpoint, run_key: str) -> RunActors:
    """Create the run's evaluator (which writes the agent-visible task), workers and coordinator.

    `run_key` names the run's actors and its node-local scratch on every node (`<scratch>/<run_key>/`).
    Each part is waited for: one that fails raises a StartError naming it, and the parts already
    started are killed first, so a failed start leaks nothing (also when the caller goes on).
    """
    started: list[Any] = []
    try:
        return _start_actors(cfg, task, rd, endpoint, run_key, started)
    except BaseException:
        for actor in started:
            ray.kill(actor)
        raise


def _start_actors(
    cfg: RunConfig, task: Task, rd: RunDir, endpoint: PolicyEndpoint, run_key: str, started: list[Any]
) -> RunActors:
    home = home_strategy()
    labels = RunLabels.for_run(rd.root, task.spec.name, cfg.seed)  # the tags of the run's metrics
    # The run's actors have names: the restartable coordinator finds them by name, as Ray cannot promise
    # a restarted actor the handles it was created with.
    # The ledger and the breaker start beside the evaluator (they need nothing of it).
    # The ledger counts from the journal's totals, at start (a resume) and after a restart.
    ledger_name = f"aira-token-ledger-{run_key}"
    with starting("token ledger"):
        ledger: Any = TokenLedgerActor.options(name=ledger_name, scheduling_strategy=home).remote(
            cfg.policy.budget, JournalUsage(rd.journal)
        )
        started.append(ledger)
    # The run's outage breaker: workers report to it by name, the coordinator holds dispatch on it.
    breaker_name = f"aira-outage-breaker-{run_key}"
    with starting("outage breaker"):
        breaker: Any = OutageBreakerActor.options(name=breaker_name, scheduling_strategy=home).remote(
            http_probe(endpoint.base_url), record=str(rd.outages)
        )
        started.append(breaker)
    evaluator_name = f"aira-evaluator-{run_key}"
    with starting("HCE evaluator"):
        evaluator: Any = HCEEvaluatorActor.options(name=evaluator_name, scheduling_strategy=home).remote(
            str(task.root),
            cfg.hce.split_seed,
            cfg.hce.fractions,
            str(rd.public_dir),
            str(rd.hidden_dir / "sealed_scores.jsonl"),
            cfg.hce.scoring,
            enabled=cfg.hce.enabled,
            final_selection=cfg.hce.final_selection,
            labels=labels,
        )
        started.append(evaluator)
        ray.get(evaluator.__ray_ready__.remote())  # it has split the task and written task_public
        # The workers' copy of the task travels through the object store in chunks, whatever node they
        # are on; the run unit only waits for them, without fetching the bytes.
        public = publish_public(evaluator)
        if public.chunks:
            ray.wait(public.chunks, num_returns=len(public.chunks), fetch_local=False)
    box = sandbox_settings(cfg)
    card = TaskCard(
        name=task.spec.name,
        metric=task.spec.metric,
        lower_is_better=task.lower_is_better,
        id_column=task.spec.id_column,
        target_columns=task.spec.target_columns,
        key_columns=task.spec.key_columns,
        accepts_empty=get_metric(task.spec.metric).accepts_empty,
        data_dir=data_dir_seen_by_agent(box, rd.public_dir),
        description=(rd.public_dir / "description.md").read_text(),
    )
    client = client_settings(cfg.policy, endpoint)
    worker_names = [f"aira-worker-{run_key}-{i}" for i in range(cfg.search.num_workers)]
    with starting("experiment worker"):
        workers: list[Any] = [
            ExperimentWorkerActor.options(name=worker_names[i], **worker_options(cfg)).remote(
                i,
                card,
                [public],
                run_key,
                client,
                cfg.agent,
                ledger_name,
                box,
                breaker_name,
                labels=labels,
                self_report=not cfg.hce.enabled,
            )
            for i in range(cfg.search.num_workers)
        ]
        started.extend(workers)
    # The coordinator starts beside the workers (it finds them by name, registered at creation).
    with starting("search coordinator"):
        coordinator: Any = SearchCoordinatorActor.options(scheduling_strategy=home).remote(
            cfg.search,
            cfg.seed,
            task.lower_is_better,
            str(rd.root),
            worker_names,
            evaluator_name,
            ledger_name,
            breaker_name,
            labels,
        )
        started.append(coordinator)
    # Created side by side above, each waited for here, so that a failure names its part.
    with starting("token ledger"):
        ray.get(ledger.__ray_ready__.remote())
    with starting("outage breaker"):
        ray.get(breaker.__ray_ready__.remote())
    ready = [w.__ray_ready__.remote() for w in workers]
    # Every worker has finished starting (and writing its scratch) before a failed one is raised:
    # the scratch is dropped after this, and nothing may write it later.
    _, pending = ray.wait(ready, num_returns=len(ready), timeout=ACTOR_START_TIMEOUT_S, fetch_local=False)
    if pending:
        late = [i for i, r in enumerate(ready) if r in pending]
        raise StartError(
            f"experiment worker(s) {late} did not start within {ACTOR_START_TIMEOUT_S:g} s: no node has "
            f"their resources free (resources.gpus_per_worker={cfg.resources.gpus_per_worker}, "
            f"resources.cpus_per_worker={cfg.resources.cpus_per_worker}), or their node is down"
        )
    for i, r in enumerate(ready):
        with starting(f"experiment worker {i}"):
            ray.get(r)
    with starting("search coordinator"):
        ray.get(coordinator.__ray_ready__.remote())
    return RunActors(evaluator, workers, coordinator, ledger, breaker)


def stop_actors(actors: RunActors) -> None:
    """Kill every actor of a run now, with no restart: the coordinator and workers first, so that no
    episode goes on once the evaluator is gone."""
    for actor in (actors.coordinator, *actors.workers, actors.evaluator, actors.ledger, actors.breaker):
        ray.kill(actor, no_restart=True)


def sandbox_settings(cfg: RunConfig) -> SandboxConfig:
    """The sandbox settings of the run's episodes (and of the refit of its final pick)."""
    return hide_bundled_data(cfg.sandbox.with_threads(cfg.resources.cpus_per_worker))


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


def _node_of(actor: Any) -> str:
    node: str = ray.get(actor.__ray_call__.remote(lambda _: ray.get_runtime_context().get_node_id()))
    return node


def record_placement(actors: RunActors, rd: RunDir) -> dict[str, Any]:
    """Write `placement.json`: the Ray node of the run unit, evaluator and coordinator (the home),
    and each worker's node, GPU ids and node-local task copy."""
    placed = {
        "run_unit": ray.get_runtime_context().get_node_id(),
        "evaluator": _node_of(actors.evaluator),
        "coordinator": _node_of(actors.coordinator),
        "workers": ray.get([w.info.remote() for w in actors.workers]),
    }
    write_json_atomic(rd.root / "placement.json", placed)
    return placed


def refit(cfg: RunConfig, actors: RunActors, rd: RunDir, outcome: SearchOutcome) -> RefitResult | None:
    """`hce.refit_final`: the final node's code once more on every labelled row (evaluation/refit.py),
    run by the evaluator after the search; None when it is off or there is no final node."""
    if not cfg.hce.refit_final or outcome.final is None:
        return None
    box = sandbox_settings(cfg)
    node_id = outcome.final.node_id
    agent_data_dir = data_dir_seen_by_agent(box, rd.public_dir)
    call = actors.evaluator.refit.remote(
        node_id, rd.solution_code(node_id), agent_data_dir, box, box.exec_timeout_s
    )
    try:
        result: RefitResult = ray.get(call)
    except ray.exceptions.RayError as e:  # the search's answer is not lost to a failed refit
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        result = RefitResult(node_id=node_id, valid=False, reason=f"the refit could not run: {first}")
    if not result.valid:
        log.warning("the refit of node %d failed, the unrefit answer stands: %s", node_id, result.reason)
    return result


def record_hce_noise(result: RunResult, check: SplitCheck | None, refitted: RefitResult | None) -> None:
    """Put the split-size check and the refit's outcome into the result."""
    if check is not None:
        result.split_check = check.model_dump()
        result.split_warning = check.warning
    if refitted is not None:
        result.refit_test_score = refitted.test
        result.refit_test_score_se = refitted.test_se
        result.refit_error = refitted.reason


def build_result(
    cfg: RunConfig, task: Task, rd: RunDir, outcome: SearchOutcome, started_at: float
) -> RunResult:
    final = outcome.final
    nodes = {n.id: n for n in Journal(rd.journal).load()}
    board = Leaderboard.from_csv(task.leaderboard_csv, task.lower_is_better) if task.leaderboard_csv else None
    test = final.scores.test if final else None
    hours = max(outcome.wall_s, 1e-9) / 3600
    return RunResult(
        task=task.spec.name,
        seed=cfg.seed,
        best_node=final.node_id if final else None,
        search_score=final.scores.search if final else None,
        val_score=final.scores.val if final else None,
        test_score=test,
        search_score_se=final.scores.search_se if final else None,
        val_score_se=final.scores.val_se if final else None,
        test_score_se=final.scores.test_se if final else None,
        final_selection=(
            final.rule if final else cfg.hce.final_selection if cfg.hce.enabled else SELF_REPORTED
        ),
        percentile_rank=board.percentile_rank(test) if board else None,
        medal=board.medal(test) if board and test is not None else None,
        above_median=board.above_median(test) if board and test is not None else None,
        leaderboard_kind=task.spec.leaderboard_kind if board else None,
        nodes=outcome.nodes,
        valid_nodes=outcome.valid_nodes,
        best_search_node=outcome.best_search_node,
        workers=cfg.search.num_workers,
        jobs_per_worker={
            w: sum(n.worker_id == w for n in nodes.values()) for w in range(cfg.search.num_workers)
        },
        wall_s=outcome.wall_s,
        experiments_per_hour=outcome.nodes / hours,
        policy=cfg.policy.name,
        prompt_tokens=sum(n.prompt_tokens for n in nodes.values()),
        completion_tokens=sum(n.completion_tokens for n in nodes.values()),
        cost_usd=cost_usd(
            cfg.policy.budget,
            sum(n.prompt_tokens for n in nodes.values()),
            sum(n.completion_tokens for n in nodes.values()),
        ),
        budget_stop=outcome.budget_stop,
        disk_full=outcome.disk_full,
        restarts=outcome.restarts,
        run_dir=str(rd.root),
        started_at=started_at,
        ended_at=time.time(),
    )


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
