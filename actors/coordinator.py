"""The search coordinator actor: steady-state evolution over an asynchronous worker pool."""

import asyncio
import json
import random
import time
from pathlib import Path
from typing import Any

import ray
from pydantic import BaseModel

from actors.evaluator import FinalChoice, SearchScore
from actors.metrics import UNLABELLED, RunLabels, SearchMetrics
from agents.candidate import Candidate
from search.budget import Budget
from search.job import Job, Parent
from search.journal import Journal
from search.node import Node
from search.population import Population
from search.run_dir import RunDir, write_json_atomic
from search.steady_state import SteadyStatePolicy

# How long a crashed worker may take to restart before it gets no more jobs.
WORKER_RECOVERY_S = 300.0


class CoordinatorSettings(BaseModel):
    seed: int
    num_drafts: int
    temperature: float
    crossover_prob: float
    wall_clock_s: float
    max_nodes: int
    grace_s: float
    lower_is_better: bool


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


class SearchOutcome(BaseModel):
    final: FinalChoice | None
    best_search_node: int | None
    nodes: int
    valid_nodes: int
    wall_s: float
    budget_stop: str | None = None  # why dispatch stopped early: the policy's token or cost budget


class SearchCoordinator:
    """Keeps every worker busy: as soon as one finishes, its candidate is scored and it gets a new job.

    Finished nodes are journaled the moment they are scored; on restart the population is rebuilt
    from the journal, so no finished node is lost or re-run.
    """

    def __init__(
        self,
        settings: CoordinatorSettings,
        run_dir: str,
        workers: list[Any],
        evaluator: Any,
        ledger: Any = None,
        labels: RunLabels = UNLABELLED,
    ) -> None:
        self.s = settings
        self.metrics = SearchMetrics(labels)
        self.ledger = ledger  # the run's TokenLedger actor (serving/budget.py), None without a budget
        self.budget_stop: str | None = None
        self.run_dir = RunDir(Path(run_dir))
        self.workers = workers
        self.evaluator = evaluator
        self.journal = Journal(self.run_dir.journal)
        self.population = Population(settings.lower_is_better)
        for node in self.journal.load():
            self.population.add(node)
        self.next_id = max(self.population.nodes, default=0) + 1
        self.elapsed_before = 0.0
        if self.run_dir.state.exists():
            self.elapsed_before = float(json.loads(self.run_dir.state.read_text()).get("elapsed_s", 0.0))
        # A resumed run continues the random stream past the nodes it already made.
        self.policy = SteadyStatePolicy(
            settings.temperature,
            settings.crossover_prob,
            settings.num_drafts,
            random.Random(f"{settings.seed}:{len(self.population)}"),
        )
        self.started = time.time()
        self.running: dict[int, Job] = {}
        self.jobs_per_worker: dict[int, int] = {i: 0 for i in range(len(workers))}
        self.done = False
        self.retired: set[int] = set()

    def _elapsed(self) -> float:
        return self.elapsed_before + time.time() - self.started

    def status(self) -> SearchStatus:
        best = self.population.best()
        return SearchStatus(
            nodes=len(self.population),
            valid=len(self.population.valid),
            running=len(self.running),
            best_search=best.search_score if best else None,
            best_node=best.id if best else None,
            elapsed_s=self._elapsed(),
            wall_clock_s=self.s.wall_clock_s,
            max_nodes=self.s.max_nodes,
            done=self.done,
            jobs_per_worker=self.jobs_per_worker,
        )

    def _make_job(self, deadline: float) -> Job:
        plan = self.policy.next_job(self.population)
        node_id = self.next_id
        self.next_id += 1
        parents = [
            Parent(node_id=p.id, code=self.run_dir.solution_code(p.id), search_score=p.search_score or 0.0)
            for p in plan.parents
        ]
        return Job(
            node_id=node_id,
            operator=plan.operator,
            parents=parents,
            seed=random.Random(f"{self.s.seed}:{node_id}").randrange(2**31),
            deadline=deadline,
        )

    async def run(self) -> SearchOutcome:
        """Run the search to its budget and return the final choice (best D_val among valid nodes)."""
        self.started = time.time()
        budget = Budget(
            self.started - self.elapsed_before, self.s.wall_clock_s, self.s.max_nodes, self.s.grace_s
        )
        free = list(range(len(self.workers)))
        tasks: dict[asyncio.Task[bool], int] = {}
        dispatched = len(self.population)
        while True:
            while free and budget.allows_dispatch(dispatched, time.time()):
                if self.ledger is not None and self.budget_stop is None:
                    self.budget_stop = await self.ledger.exhausted.remote()
                if self.budget_stop is not None:
                    break  # no new jobs; running episodes end at their next policy request
                worker_id = free.pop(0)
                job = self._make_job(budget.deadline)
                dispatched += 1
                tasks[asyncio.ensure_future(self._execute(worker_id, job))] = worker_id
            if not tasks:
                break
            hard_stop = budget.deadline + budget.grace_s
            done, _ = await asyncio.wait(
                tasks, timeout=max(0.0, hard_stop - time.time()), return_when=asyncio.FIRST_COMPLETED
            )
            if not done:  # past the grace period: cancel what still runs, record it, stop
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                break
            for task in done:
                worker_id = tasks.pop(task)
                if task.result():  # a worker that never came back after a crash gets no more jobs
                    free.append(worker_id)
        self.done = True
        valid = self.population.valid
        final: FinalChoice | None = await self.evaluator.select_final.remote(
            [n.id for n in valid], self.s.lower_is_better
        )
        best = self.population.best()
        return SearchOutcome(
            final=final,
            best_search_node=best.id if best else None,
            nodes=len(self.population),
            valid_nodes=len(valid),
            wall_s=self._elapsed(),
            budget_stop=self.budget_stop,
        )

    async def _execute(self, worker_id: int, job: Job) -> bool:
        """Run one job on one worker and record its node; False when the worker is gone for good."""
        self.running[job.node_id] = job
        self.metrics.jobs_in_flight(len(self.running))
        self.jobs_per_worker[worker_id] += 1
        ref = self.workers[worker_id].run.remote(job)
        started = time.time()
        try:
            candidate: Candidate = await ref
        except asyncio.CancelledError:
            ray.cancel(ref, force=False)
            self._record(
                job,
                None,
                SearchScore(
                    node_id=job.node_id,
                    valid=False,
                    reason="cancelled: still running past the budget's grace period",
                ),
                worker_id,
                started,
            )
            raise
        except (ray.exceptions.RayError, OSError) as e:
            reason = (
                f"worker {worker_id} failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            )
            with self.metrics.scoring():
                score = await self.evaluator.score.remote(job.node_id, None, reason)
            self._record(job, None, score, worker_id, started)
            return await self._recovered(worker_id)
        with self.metrics.scoring():
            score = await self.evaluator.score.remote(job.node_id, candidate.submission, candidate.reason)
        self._record(job, candidate, score, worker_id, started)
        return True

    async def _recovered(self, worker_id: int) -> bool:
        """Wait for a crashed worker's restart, so that its next job is not lost to the restart too."""
        give_up = time.time() + WORKER_RECOVERY_S
        while time.time() < give_up:
            try:
                await self.workers[worker_id].__ray_ready__.remote()
                return True
            except ray.exceptions.RayError:
                await asyncio.sleep(1.0)
        self.retired.add(worker_id)
        return False

    def _record(
        self, job: Job, cand: Candidate | None, score: SearchScore, worker_id: int, started: float
    ) -> None:
        node = Node(
            id=job.node_id,
            operator=job.operator,
            parent_ids=[p.node_id for p in job.parents],
            valid=score.valid,
            search_score=score.search,
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
        self.run_dir.write_node(
            node,
            cand.code if cand else "",
            cand.submission if cand else None,
            cand.trajectory.model_dump() if cand else {},
        )
        self.population.add(node)
        self.journal.append(node)
        self.running.pop(job.node_id, None)
        self.metrics.node_finished(node, self.population.best(), len(self.running))
        write_json_atomic(self.run_dir.state, {"elapsed_s": self._elapsed(), "next_id": self.next_id})


SearchCoordinatorActor = ray.remote(num_cpus=0)(SearchCoordinator)
