"""The search coordinator actor: a thin Ray shell around search.dispatch.DispatchLoop.

Restartable: after a crash Ray starts a new process for it (`max_restarts`) and runs `run()` again
there (`max_task_retries`), so whoever waits on `run.remote()` just waits longer. The new instance
rebuilds the population from the journal and search_state.json, restarts the workers whose jobs it
lost (their episodes run on with no one to take the result), and runs those jobs once more.
"""

import asyncio
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import ray
from pydantic import BaseModel

from actors.metrics import UNLABELLED, RunLabels, SearchMetrics
from agents.candidate import Candidate
from evaluation.scores import FinalChoice, SearchScore
from search.budget import Budget
from search.config import SearchConfig
from search.dispatch import DispatchLoop, Hold, LoopOps, WorkerLost, is_disk_full
from search.evolution import Evolution
from search.job import Job
from search.node import Node
from search.run_dir import RunDir
from search.search_state import StateWriter

# How long a crashed worker may take to restart before it gets no more jobs.
WORKER_RECOVERY_S = 300.0
# Restarts of the coordinator in one run; each re-runs a lost job at most once, so a crash loop
# cannot run any job a third time.
COORDINATOR_RESTARTS = 20


class SearchStatus(BaseModel):
    """Live progress, polled by the launcher and shown to the user."""

    nodes: int
    valid: int
    running: int
    best_search: float | None
    best_node: int | None
    elapsed_s: float
    wall_clock_s: float
    max_nodes: int
    done: bool
    jobs_per_worker: dict[int, int]
    held: str | None = None  # why dispatch is paused right now (hold())
    restarts: int = 0


class SearchOutcome(BaseModel):
    final: FinalChoice | None
    best_search_node: int | None
    nodes: int
    valid_nodes: int
    wall_s: float
    budget_stop: str | None = None  # why dispatch stopped early: the policy's token or cost budget
    disk_full: str | None = None  # set when a full disk stopped dispatching
    restarts: int = 0  # times the coordinator crashed and came back during the run
    redispatched: list[int] = []  # node ids run once more after a restart or resume


class SearchCoordinator:
    """Keeps every worker busy (search.dispatch) over the run's Evolution (search.evolution).

    `workers` and `evaluator` are actor handles or names (a name is looked up, so a restart never
    depends on handles kept among its creation arguments); `ledger` is the run's TokenLedger actor,
    None without accounting. `scoring_slots`: submissions handed to the evaluator at once (what it
    scores side by side, hce.scoring.processes), shared round-robin among the workers; the others
    wait here, in the fair queue, not in the evaluator's. None: one per worker.
    """

    def __init__(
        self,
        search: SearchConfig,
        seed: int,
        lower_is_better: bool,
        run_dir: str,
        workers: Sequence[Any],
        evaluator: Any,
        ledger: Any = None,
        breaker: Any = None,
        labels: RunLabels = UNLABELLED,
        scoring_slots: int | None = None,
    ) -> None:
        self.search = search
        self.scoring_slots = scoring_slots
        self.metrics = SearchMetrics(labels)
        self.lower_is_better = lower_is_better
        self.workers = [ray.get_actor(w) if isinstance(w, str) else w for w in workers]
        self.evaluator = ray.get_actor(evaluator) if isinstance(evaluator, str) else evaluator
        self.ledger = ray.get_actor(ledger) if isinstance(ledger, str) else ledger
        # The run's outage breaker (serving/outage.py): no new job while the policy server is down.
        self.breaker = ray.get_actor(breaker) if isinstance(breaker, str) else breaker
        # The actor's id survives its restarts: Evolution tells a restart from a resume by it.
        session = ray.get_runtime_context().get_actor_id() or f"pid-{os.getpid()}"
        self.evolution = Evolution(RunDir(Path(run_dir)), search, seed, lower_is_better, session)
        # Node folders and the journal are written off the event loop, one node at a time, in order;
        # so is the state file, in its own thread, so that a dispatch never waits behind a node.
        self.recorder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="record")
        self.state_file = StateWriter(
            self.evolution.run_dir.state, ThreadPoolExecutor(max_workers=1, thread_name_prefix="state")
        )
        self.loop: DispatchLoop[Candidate, SearchScore] | None = None
        self.done = False

    def status(self) -> SearchStatus:
        population = self.evolution.population
        best = population.best()
        return SearchStatus(
            nodes=len(population),
            valid=len(population.valid),
            running=self.loop.running if self.loop else 0,
            best_search=best.search_score if best else None,
            best_node=best.id if best else None,
            elapsed_s=self.evolution.elapsed(time.time()),
            wall_clock_s=self.search.budget.wall_clock_s,
            max_nodes=self.search.budget.max_nodes,
            done=self.done,
            jobs_per_worker=self.loop.jobs_per_worker if self.loop else {},
            held=self.loop.held if self.loop else None,
            restarts=self.evolution.state.restarts,
        )

    async def run(self) -> SearchOutcome:
        """Run the search to its budget and return the final choice (best D_val among valid nodes)."""
        b = self.search.budget
        deadline = self.evolution.begin(time.time())
        if self.evolution.restarted:
            await asyncio.gather(*(self._reclaim(r.worker_id) for r in self.evolution.orphans))
        ops: LoopOps[Candidate, SearchScore] = LoopOps(
            new_job=self.evolution.new_job,
            started=self._started,
            run_job=self._run_job,
            score=self._score,
            record=self._record,
            recover=self._recover,
            hold=self._hold,
        )
        self.loop = DispatchLoop(
            ops,
            Budget(deadline - b.wall_clock_s, b.wall_clock_s, b.max_nodes, b.grace_s),
            len(self.workers),
            finished=len(self.evolution.population),
            orphans=self.evolution.orphans,
            max_scoring=self.scoring_slots or len(self.workers),
        )
        report = await self.loop.run()
        try:
            self.evolution.save(time.time())
        except OSError as e:
            if not is_disk_full(e):  # a full disk is in the report already; the journal has every node
                raise
        self.done = True
        population = self.evolution.population
        valid = population.valid
        final: FinalChoice | None = await self.evaluator.select_final.remote(
            [n.id for n in valid], self.lower_is_better
        )
        best = population.best()
        return SearchOutcome(
            final=final,
            best_search_node=best.id if best else None,
            nodes=len(population),
            valid_nodes=len(valid),
            wall_s=self.evolution.elapsed(time.time()),
            budget_stop=report.budget_stop,
            disk_full=report.disk_full,
            restarts=self.evolution.state.restarts,
            redispatched=report.redispatched,
        )

    async def _started(self, job: Job, worker_id: int) -> None:
        self.metrics.jobs_in_flight(self.loop.running if self.loop else 1)
        await self.state_file.write(self.evolution.note_started(job, worker_id, time.time()))

    async def _run_job(self, worker_id: int, job: Job) -> Candidate:
        ref = self.workers[worker_id].run.remote(job)
        try:
            candidate: Candidate = await ref
        except asyncio.CancelledError:
            ray.cancel(ref, force=False)
            raise
        except (ray.exceptions.RayError, OSError) as e:
            first = str(e).splitlines()[0] if str(e) else ""
            raise WorkerLost(f"worker {worker_id} failed: {type(e).__name__}: {first}") from None
        return candidate

    async def _score(self, job: Job, candidate: Candidate | None, reason: str | None) -> SearchScore:
        with self.metrics.scoring():
            if candidate is None:
                score: SearchScore = await self.evaluator.score.remote(job.node_id, None, reason)
            else:
                score = await self.evaluator.score.remote(
                    job.node_id, candidate.submission, candidate.reason, candidate.validation_score
                )
        return score

    async def _record(
        self, job: Job, worker_id: int, cand: Candidate | None, score: SearchScore, started: float
    ) -> None:
        node = Node(
            id=job.node_id,
            operator=job.operator,
            parent_ids=[p.node_id for p in job.parents],
            valid=score.valid,
            search_score=score.search,
            search_se=score.search_se,
            reason=score.reason,
            worker_id=worker_id,
            gpu_ids=cand.gpu_ids if cand else [],
            started_at=cand.started_at if cand else started,
            ended_at=cand.ended_at if cand else time.time(),
            scored_at=time.time(),
            steps=len(cand.trajectory.steps) if cand else 0,
            prompt_tokens=cand.trajectory.prompt_tokens if cand else 0,
            completion_tokens=cand.trajectory.completion_tokens if cand else 0,
        )
        await asyncio.get_running_loop().run_in_executor(
            self.recorder,
            self.evolution.write,
            node,
            cand.code if cand else "",
            cand.submission if cand else None,
            cand.trajectory.model_dump() if cand else {},
        )
        self.evolution.add(node)
        self.metrics.node_finished(
            node, self.evolution.population.best(), self.loop.running if self.loop else 0
        )

    async def _recover(self, worker_id: int) -> bool:
        """Wait for a crashed worker's restart, so that its next job is not lost to the restart too."""
        give_up = time.time() + WORKER_RECOVERY_S
        while time.time() < give_up:
            try:
                await self.workers[worker_id].__ray_ready__.remote()
                return True
            except ray.exceptions.RayError:
                await asyncio.sleep(1.0)
        return False

    async def _reclaim(self, worker_id: int) -> None:
        """Restart a worker whose job the last coordinator lost, and wait until the new process runs.

        Its episode runs on after the coordinator died, and the job's re-run must not share its GPU
        or its workspace.
        """
        if worker_id >= len(self.workers):
            return
        worker = self.workers[worker_id]
        try:
            before = await worker.__ray_call__.remote(_pid)
        except ray.exceptions.RayError:
            return  # already dead: the loop's recovery waits for its restart
        ray.kill(worker, no_restart=False)
        give_up = time.time() + WORKER_RECOVERY_S
        while time.time() < give_up:
            try:
                if await worker.__ray_call__.remote(_pid) != before:
                    return
            except ray.exceptions.RayError:
                pass
            await asyncio.sleep(0.5)

    async def _hold(self) -> Hold | None:
        if self.ledger is not None:
            spent: str | None = await self.ledger.exhausted.remote()
            # Running episodes end at their next policy request; no new job starts.
            if spent:
                return Hold(spent, final=True)
        if self.breaker is not None:
            down: str | None = await self.breaker.hold.remote()
            if down:
                return Hold(down)  # asked again later: the breaker closes when the server answers
        return None


def _pid(_actor: object) -> int:
    return os.getpid()


SearchCoordinatorActor = ray.remote(
    num_cpus=0, max_restarts=COORDINATOR_RESTARTS, max_task_retries=COORDINATOR_RESTARTS
)(SearchCoordinator)
