"""The experiment worker actor: runs one ReAct episode per job in its own sandbox."""

import shutil
import time
from pathlib import Path

import ray

from actors.metrics import UNLABELLED, RunLabels, WorkerMetrics
from agents.candidate import Candidate
from agents.react import AgentSettings, ParentCode, run_episode
from agents.task_card import TaskCard
from sandbox import SandboxConfig, open_sandbox
from search.job import Job
from serving.client import ClientSettings, PolicyClient
from serving.metrics import PolicyMetrics


class ExperimentWorker:
    """One worker = one GPU (or one CPU slot): a policy client and a sandbox per episode.

    The GPU ids come from Ray's assignment (static for the actor's life) and go into each sandbox
    as CUDA_VISIBLE_DEVICES and as its only GPU device nodes; every candidate reports them.
    """

    def __init__(
        self,
        worker_id: int,
        card: TaskCard,
        public_dir: str,
        workspace_root: str,
        client: ClientSettings,
        settings: AgentSettings,
        ledger_name: str | None = None,
        sandbox: SandboxConfig | None = None,
        labels: RunLabels = UNLABELLED,
    ) -> None:
        self.worker_id = worker_id
        self.card = card
        self.public_dir = Path(public_dir)
        self.workspace_root = Path(workspace_root)
        self.settings = settings
        self.sandbox = sandbox or SandboxConfig()
        self.gpu_ids = [str(g) for g in ray.get_gpu_ids()]
        # The run's TokenLedger actor, found by name: the client reports usage and honours the budget.
        # A name, not a handle: Ray cannot promise a restarted actor the handles it was created with.
        ledger = ray.get_actor(ledger_name) if ledger_name is not None else None
        self.client = PolicyClient(client, ledger, PolicyMetrics(labels.tags()))
        self.metrics = WorkerMetrics(labels, worker_id)

    def info(self) -> dict[str, object]:
        """Who this worker is and which GPUs Ray gave it."""
        return {
            "worker_id": self.worker_id,
            "gpu_ids": self.gpu_ids,
            "node": ray.get_runtime_context().get_node_id(),
        }

    async def run(self, job: Job) -> Candidate:
        """Run the job's episode to its end (submit, limits or deadline) and return the candidate."""
        started = time.time()
        self.metrics.episode_started()
        workspace = self.workspace_root / f"node-{job.node_id:04d}"
        if workspace.exists():  # a job re-run after a crash starts clean
            shutil.rmtree(workspace)
        workspace.mkdir(parents=True)
        for i, parent in enumerate(job.parents, start=1):
            (workspace / f"parent_{i}.py").write_text(parent.code)
        sandbox = open_sandbox(self.sandbox, workspace, self.public_dir, self.gpu_ids)
        parents = [
            ParentCode(node_id=p.node_id, code=p.code, search_score=p.search_score) for p in job.parents
        ]
        try:
            outcome = await run_episode(
                self.client,
                self.client.model_for(job.operator),
                sandbox,
                self.card,
                job.operator,
                parents,
                job.seed,
                job.deadline,
                self.settings,
            )
        finally:
            await sandbox.close()
        candidate = Candidate(
            node_id=job.node_id,
            code=outcome.code,
            submission=outcome.submission,
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
