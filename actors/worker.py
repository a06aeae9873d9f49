"""The experiment worker actor: runs one ReAct episode per job in its own workspace."""

import shutil
import time
from pathlib import Path

import ray
from openai import AsyncOpenAI

from agents.candidate import Candidate
from agents.react import AgentSettings, ParentCode, run_episode
from agents.task_card import TaskCard
from sandbox.process import ProcessSandbox
from search.job import Job


class ExperimentWorker:
    """One worker = one GPU (or one CPU slot): a policy client and a workspace per episode.

    The GPU ids come from Ray's assignment and are passed into the sandbox as
    CUDA_VISIBLE_DEVICES; they are reported in every candidate.
    """

    def __init__(
        self,
        worker_id: int,
        card: TaskCard,
        public_dir: str,
        workspace_root: str,
        base_url: str,
        model: str,
        request_timeout_s: float,
        max_retries: int,
        settings: AgentSettings,
    ) -> None:
        self.worker_id = worker_id
        self.card = card
        self.public_dir = Path(public_dir)
        self.workspace_root = Path(workspace_root)
        self.model = model
        self.settings = settings
        self.gpu_ids = [str(g) for g in ray.get_gpu_ids()]
        self.client = AsyncOpenAI(
            base_url=base_url, api_key="aira-local", timeout=request_timeout_s, max_retries=max_retries
        )

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
        workspace = self.workspace_root / f"node-{job.node_id:04d}"
        if workspace.exists():  # a job re-run after a crash starts clean
            shutil.rmtree(workspace)
        workspace.mkdir(parents=True)
        for i, parent in enumerate(job.parents, start=1):
            (workspace / f"parent_{i}.py").write_text(parent.code)
        env = {"CUDA_VISIBLE_DEVICES": ",".join(self.gpu_ids)} if self.gpu_ids else {}
        sandbox = ProcessSandbox(workspace=workspace, data_dir=self.public_dir, env=env)
        parents = [
            ParentCode(node_id=p.node_id, code=p.code, search_score=p.search_score) for p in job.parents
        ]
        try:
            outcome = await run_episode(
                self.client,
                self.model,
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
        return Candidate(
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


# Resources (one GPU or one CPU slot) are given per run by the launcher with .options().
ExperimentWorkerActor = ray.remote(max_restarts=-1)(ExperimentWorker)
