"""The actors of one run: started in its placement group, waited for part by part, stopped together.

The evaluator, coordinator, token ledger and outage breaker are pinned to the run's home (bundle 0 of
its placement group, on the head node); each experiment worker gets a bundle of its own. A start that
fails names its part and kills the parts already started (launcher/starting.py).
"""

from typing import Any, NamedTuple

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy, PlacementGroupSchedulingStrategy

from actors.coordinator import SearchCoordinatorActor
from actors.evaluator import MAX_SCORING_CALLS, HCEEvaluatorActor
from actors.metrics import RunLabels
from actors.scratch import publish_public
from actors.worker import ExperimentWorkerActor, refusing_cluster_nodes
from agents.task_card import TaskCard
from evaluation.bundled import hide_bundled_data
from evaluation.metrics import get_metric
from evaluation.task import Task
from launcher.config import RunConfig
from launcher.placement import worker_options
from launcher.starting import StartError, starting
from sandbox import SandboxConfig, data_dir_seen_by_agent
from search.journal import JournalUsage
from search.run_dir import RunDir, write_json_atomic
from serving.budget import TokenLedgerActor
from serving.client import client_settings
from serving.outage import OutageBreakerActor, http_probe
from serving.server import PolicyEndpoint

# How long a run's experiment workers may take to be placed and started (s): inside the run's
# placement group their resources are reserved, so only a lost node or a broken start takes this long.
ACTOR_START_TIMEOUT_S = 600.0


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
            # As many submissions as the evaluator scores side by side: the rest wait in the
            # coordinator's fair queue (round-robin by worker), not behind one worker's backlog.
            scoring_slots=min(cfg.hce.scoring.processes, MAX_SCORING_CALLS),
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
    """The sandbox settings of the run's episodes (and of the refit of its final pick): the cluster's
    nodes refused (each episode adds those that joined since), the bundled tasks' data hidden."""
    return refusing_cluster_nodes(hide_bundled_data(cfg.sandbox.with_threads(cfg.resources.cpus_per_worker)))


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
