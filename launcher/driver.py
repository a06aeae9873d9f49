"""One run, wired end to end: Ray, the policy server, the evaluator, the workers, the coordinator."""

import logging
import os
import uuid
from pathlib import Path
from typing import Any, NamedTuple

import ray
import yaml
from rich.console import Console

from actors.coordinator import CoordinatorSettings, SearchCoordinatorActor, SearchOutcome, SearchStatus
from actors.evaluator import HCEEvaluatorActor
from actors.metrics import RunLabels
from actors.worker import ExperimentWorkerActor
from agents.react import AgentSettings
from agents.task_card import TaskCard
from evaluation.leaderboard import Leaderboard
from evaluation.task import Task
from launcher.config import RunConfig
from launcher.html_report import write_run_report
from launcher.progress import follow
from launcher.result import RunResult
from sandbox import data_dir_seen_by_agent
from search.journal import Journal
from search.run_dir import RunDir, write_json_atomic
from serving.budget import TokenLedgerActor, cost_usd
from serving.client import client_settings
from serving.server import PolicyEndpoint, start_policy_server, stop_policy_server

CPU_SLOT = "experiment_slot"


class ClusterError(Exception):
    """The Ray cluster cannot host the configured run (too few GPUs or slots, unreachable)."""


def connect_ray(cfg: RunConfig) -> None:
    """Start an embedded local Ray on loopback (ray.address=null) or join a cluster."""
    # Serve logs every deployment step at INFO on the driver; the progress line says what matters.
    logging.getLogger("ray.serve").setLevel(logging.WARNING)
    if cfg.ray.address is None:
        needed = cfg.search.num_workers * cfg.resources.cpus_per_worker
        ray.init(
            namespace=cfg.ray.namespace,
            num_cpus=cfg.ray.num_cpus or max(os.cpu_count() or 1, int(needed + 0.999)),
            resources={CPU_SLOT: cfg.search.num_workers} if cfg.resources.gpus_per_worker == 0 else None,
            include_dashboard=cfg.ray.include_dashboard,
            _metrics_export_port=cfg.ray.metrics_export_port,
            _node_ip_address="127.0.0.1",
            log_to_driver=False,
        )
        return
    try:
        ray.init(address=cfg.ray.address, namespace=cfg.ray.namespace, log_to_driver=False)
    except (ConnectionError, RuntimeError) as e:
        raise ClusterError(
            f"ray.address={cfg.ray.address}: no Ray cluster reachable ({str(e).splitlines()[0]}): "
            "start one with `ray up cluster.yaml` "
            "and launch on its head node, or set ray.address=null for a local instance"
        ) from None


def check_cluster(cfg: RunConfig) -> None:
    """Refuse to start when the cluster lacks the GPUs (or CPU slots) the workers need."""
    have = ray.cluster_resources()
    n = cfg.search.num_workers
    if cfg.resources.gpus_per_worker:
        gpus = int(have.get("GPU", 0))
        if gpus < n:
            raise ClusterError(
                f"search.num_workers={n} GPU workers need {n} GPUs but the Ray cluster has {gpus}: "
                "lower search.num_workers, add GPU nodes, or run on CPU with resources.gpus_per_worker=0"
            )
    elif have.get(CPU_SLOT, 0) < n:
        raise ClusterError(
            f"search.num_workers={n} CPU workers need {n} `{CPU_SLOT}` resources on the cluster but it has "
            f"{int(have.get(CPU_SLOT, 0))}: start nodes with --resources='{{\"{CPU_SLOT}\": N}}'"
        )


def worker_options(cfg: RunConfig) -> dict[str, Any]:
    """Ray resources of one experiment worker: exactly one GPU, or one CPU slot (1:1, static)."""
    opts: dict[str, Any] = {"num_cpus": cfg.resources.cpus_per_worker}
    if cfg.resources.gpus_per_worker:
        opts["num_gpus"] = 1
    else:
        opts["resources"] = {CPU_SLOT: 1}
    return opts


class RunActors(NamedTuple):
    """The actors of one run (handles are typed Any: Ray's stubs type them as `ActorHandle | type`)."""

    evaluator: Any
    workers: list[Any]
    coordinator: Any
    ledger: Any  # the TokenLedger every worker's policy client reports usage to

    def kill(self) -> None:
        for actor in [self.coordinator, self.evaluator, *self.workers, self.ledger]:
            ray.kill(actor)


def start_actors(cfg: RunConfig, task: Task, rd: RunDir, endpoint: PolicyEndpoint) -> RunActors:
    """Create the run's evaluator (which writes the agent-visible task), workers and coordinator."""
    labels = RunLabels.for_run(rd.root, task.spec.name, cfg.seed)
    evaluator: Any = HCEEvaluatorActor.remote(
        str(task.root),
        cfg.hce.split_seed,
        cfg.hce.fractions,
        str(rd.public_dir),
        str(rd.hidden_dir / "sealed_scores.jsonl"),
        labels=labels,
    )
    ray.get(evaluator.__ray_ready__.remote())
    box = cfg.sandbox
    card = TaskCard(
        name=task.spec.name,
        metric=task.spec.metric,
        lower_is_better=task.lower_is_better,
        id_column=task.spec.id_column,
        target_columns=task.spec.target_columns,
        data_dir=data_dir_seen_by_agent(box, rd.public_dir),
        description=(rd.public_dir / "description.md").read_text(),
    )
    settings = AgentSettings(
        max_steps=cfg.agent.max_steps,
        max_consecutive_errors=cfg.agent.max_consecutive_errors,
        observation_chars=cfg.agent.observation_chars,
        exec_timeout_s=cfg.sandbox.exec_timeout_s,
    )
    # A resumed run starts its token count from the nodes it already has.
    done = Journal(rd.journal).load()
    ledger_name = f"aira-token-ledger-{uuid.uuid4().hex[:12]}"
    ledger: Any = TokenLedgerActor.options(name=ledger_name).remote(
        cfg.policy.budget,
        sum(n.prompt_tokens for n in done),
        sum(n.completion_tokens for n in done),
    )
    client = client_settings(cfg.policy, endpoint)
    workers: list[Any] = [
        ExperimentWorkerActor.options(**worker_options(cfg)).remote(
            i, card, str(rd.public_dir), str(rd.workspaces), client, settings, ledger_name, box, labels=labels
        )
        for i in range(cfg.search.num_workers)
    ]
    ray.get([w.__ray_ready__.remote() for w in workers])
    s = cfg.search
    coordinator: Any = SearchCoordinatorActor.remote(
        CoordinatorSettings(
            seed=cfg.seed,
            num_drafts=s.num_drafts,
            temperature=s.temperature,
            crossover_prob=s.crossover_prob,
            wall_clock_s=s.budget.wall_clock_s,
            max_nodes=s.budget.max_nodes,
            grace_s=s.budget.grace_s,
            lower_is_better=task.lower_is_better,
        ),
        str(rd.root),
        workers,
        evaluator,
        ledger,
        labels=labels,
    )
    return RunActors(evaluator, workers, coordinator, ledger)


def run_search(cfg: RunConfig, task: Task, run_dir: Path, console: Console) -> RunResult:
    """Run one search on a connected Ray and return its result (also written to result.json)."""
    rd = RunDir(run_dir)
    rd.root.mkdir(parents=True, exist_ok=True)
    rd.config.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    check_cluster(cfg)
    endpoint = start_policy_server(cfg.policy, cfg.serve.host, cfg.serve.port)
    console.print(f"policy server: {cfg.policy.name} at {endpoint.base_url} (model {endpoint.model})")
    actors = start_actors(cfg, task, rd, endpoint)
    try:
        outcome_ref = actors.coordinator.run.remote()

        def poll() -> SearchStatus:
            status: SearchStatus = ray.get(actors.coordinator.status.remote())
            return status

        follow(poll, lambda: bool(ray.wait([outcome_ref], timeout=0)[0]), console)
        outcome: SearchOutcome = ray.get(outcome_ref)
        result = build_result(cfg, task, rd, outcome)
        write_json_atomic(rd.result, result.model_dump(mode="json"))
        write_run_report(rd.root)
    finally:
        # Also after a failure: a benchmark starts its next run on the same Ray, and leftover workers
        # would hold the worker slots it needs.
        stop_policy_server(cfg.policy)
        actors.kill()
    return result


def build_result(cfg: RunConfig, task: Task, rd: RunDir, outcome: SearchOutcome) -> RunResult:
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
        run_dir=str(rd.root),
    )
