"""The experiment worker actor: runs one ReAct episode per job in its own sandbox, in node-local scratch."""

import time
import uuid
from typing import Any

import ray

from actors.metrics import UNLABELLED, RunLabels, WorkerMetrics
from actors.scratch import PUBLIC, WORKSPACES, materialise_public, scratch_root
from agents.candidate import Candidate
from agents.config import AgentConfig
from agents.react import ParentCode, run_episode
from agents.single_turn import run_single_turn
from agents.task_card import TaskCard
from sandbox import SandboxConfig, data_dir_seen_by_agent, open_sandbox
from sandbox.safe_files import remove_tree
from search.job import Job
from serving.client import EPISODE, ClientSettings, PolicyClient
from serving.metrics import PolicyMetrics
from serving.outage import OutageBreakerHandle


def refusing_cluster_nodes(settings: SandboxConfig) -> SandboxConfig:
    """`settings` with every node of the Ray cluster (alive or not) added to `sandbox.refuse`, where
    the sandbox has a network: agent code must reach no Ray service of any node, whatever its address
    (sandbox/network.py refuses the private ranges anyway). Unchanged without Ray or network."""
    if not settings.network or not ray.is_initialized():
        return settings
    nodes = [n["NodeManagerAddress"] for n in ray.nodes() if n.get("NodeManagerAddress")]
    return SandboxConfig.model_validate({**settings.model_dump(), "refuse": (*settings.refuse, *nodes)})


class ExperimentWorker:
    """One worker = one GPU (or one CPU slot): a policy client and a sandbox per episode.

    The GPU ids come from Ray's assignment (static for the actor's life) and go into each sandbox
    as CUDA_VISIBLE_DEVICES and as its only GPU device nodes; every candidate reports them.
    Nothing here needs a shared filesystem: the task arrives through Ray (`public` holds its
    `PublicCopy`, the object refs of its files' chunks, fetched one at a time) and is written
    once per node under `<scratch>/<run_key>/`; each episode works in a node-local workspace there,
    deleted when the episode returns unless `sandbox.keep_workspaces`; the candidate goes back by value.
    The run drops the rest of its scratch on every node when it ends (actors/scratch.py).
    """

    def __init__(
        self,
        worker_id: int,
        card: TaskCard,
        public: list[Any],
        run_key: str,
        client: ClientSettings,
        agent: AgentConfig,
        ledger_name: str | None = None,
        sandbox: SandboxConfig | None = None,
        breaker_name: str | None = None,
        labels: RunLabels = UNLABELLED,
        self_report: bool = False,
    ) -> None:
        self.worker_id = worker_id
        self.agent = agent
        # hce.enabled=false: the agent reports its own validation score, which the search ranks by.
        self.self_report = self_report
        self.sandbox = sandbox or SandboxConfig()
        scratch = scratch_root() / run_key
        self.public_dir = materialise_public(public[0], scratch / PUBLIC)
        self.workspace_root = scratch / WORKSPACES
        self.card = card.model_copy(
            update={"data_dir": data_dir_seen_by_agent(self.sandbox, self.public_dir)}
        )
        self.gpu_ids = [str(g) for g in ray.get_gpu_ids()]
        # The run's TokenLedger actor, found by name: the client reports usage and honours the budget.
        # A name, not a handle: Ray cannot promise a restarted actor the handles it was created with.
        ledger = ray.get_actor(ledger_name) if ledger_name is not None else None
        # The run's outage breaker, found by name too: the client reports outages and recoveries.
        breaker = OutageBreakerHandle(ray.get_actor(breaker_name)) if breaker_name is not None else None
        self.client = PolicyClient(client, ledger, breaker, PolicyMetrics(labels.tags()))
        self.metrics = WorkerMetrics(labels, worker_id)

    def info(self) -> dict[str, object]:
        """Who this worker is, which GPUs Ray gave it, its node, and where its task copy lives."""
        return {
            "worker_id": self.worker_id,
            "gpu_ids": self.gpu_ids,
            "node": ray.get_runtime_context().get_node_id(),
            "public_dir": str(self.public_dir),
        }

    async def run(self, job: Job) -> Candidate:
        """Run the job's episode to its end (submit, limits or deadline) and return the candidate."""
        started = time.time()
        self.metrics.episode_started()
        # The ledger counts this attempt's usage under its own key (a re-run of the node gets another).
        episode = f"w{self.worker_id}-n{job.node_id}-{uuid.uuid4().hex[:8]}"
        marked = EPISODE.set((episode, job.node_id))
        try:
            return await self._run(job, started)
        finally:
            EPISODE.reset(marked)
            self.client.end_episode(episode)

    async def _run(self, job: Job, started: float) -> Candidate:
        workspace = self.workspace_root / f"node-{job.node_id:04d}"
        if workspace.exists():  # a job re-run after a crash starts clean
            remove_tree(str(workspace))
        workspace.mkdir(parents=True)
        try:
            for i, parent in enumerate(job.parents, start=1):
                (workspace / f"parent_{i}.py").write_text(parent.code)
            # The cluster's nodes as they are now: the autoscaler may have added some since the start.
            settings = refusing_cluster_nodes(self.sandbox)
            sandbox = open_sandbox(settings, workspace, self.public_dir, self.gpu_ids)
            parents = [ParentCode(p.node_id, p.code, p.search_score, p.search_se) for p in job.parents]
            model = self.client.model_for(job.operator)
            agent = self.agent
            if agent.context_window is None:  # the policy's window, where it knows it
                agent = agent.model_copy(update={"context_window": self.client.context_window(model)})
            # agent.operator: AIRA_2's ReAct agent, or the ablation's static single-turn operator.
            operate = run_single_turn if agent.operator == "single_turn" else run_episode
            try:
                outcome = await operate(
                    self.client,
                    model,
                    sandbox,
                    self.card,
                    job.operator,
                    parents,
                    job.seed,
                    job.deadline,
                    agent,
                    self.sandbox.exec_timeout_s,
                    self.self_report,
                )
            finally:
                await sandbox.close()
        finally:
            # What the run keeps travels back in the candidate; the scratch would fill the node's disk.
            if not self.sandbox.keep_workspaces:
                remove_tree(str(workspace))
        candidate = Candidate(
            node_id=job.node_id,
            code=outcome.code,
            submission=outcome.submission,
            validation_score=outcome.validation_score,
            trajectory=outcome.trajectory,
            reason=outcome.reason,
            worker_id=self.worker_id,
            gpu_ids=self.gpu_ids,
            started_at=started,
            ended_at=time.time(),
        )
        self.metrics.episode_ended(job.operator, candidate)
        return candidate


# Resources (one GPU or one CPU slot) are given per run by the launcher with .options().
ExperimentWorkerActor = ray.remote(max_restarts=-1)(ExperimentWorker)
