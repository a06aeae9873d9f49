"""The steady-state dispatch loop: every free worker gets a job at once; scoring runs beside it.

Plain async Python, driven through injected callables (`LoopOps`): the coordinator actor wires them
to Ray, tests to fakes. No barrier, no generation: a worker whose episode ends gets its next job
before its candidate is scored. Dispatch stops at the budget (nodes or wall clock), while `hold()`
says so (a spent token budget, a policy outage), or when the disk is full; running episodes end at
the deadline and are cancelled after the grace period; a crashed worker's job becomes an invalid
node and the worker gets no job until it is back.
"""

import asyncio
import contextlib
import errno
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from search.budget import Budget
from search.fair_slots import FairSlots
from search.job import Job
from search.search_state import MAX_ATTEMPTS, RunningJob

log = logging.getLogger(__name__)

C = TypeVar("C")  # what a worker returns for a job (a Candidate)
S = TypeVar("S")  # what scoring returns (a SearchScore)

CANCELLED = "cancelled: still running past the budget's grace period"
LOST_TWICE = "lost twice: the search coordinator died twice while this job ran; it is not run a third time"
NOT_RERUN = "not run again after the search coordinator came back: {why}"


class WorkerLost(Exception):
    """Raised by `run_job` when the worker died during the job; the message says how."""


@dataclass(frozen=True)
class Hold:
    """A reason not to dispatch now. `final`: never again (a spent budget); else ask again later."""

    reason: str
    final: bool = False


@dataclass(frozen=True)
class LoopOps(Generic[C, S]):
    """What the loop does through the outside world.

    - new_job(deadline): plan the next job (pure, fast).
    - started(job, worker_id): note the dispatch durably before the job runs (may raise OSError);
      other dispatches go on meanwhile.
    - run_job(worker_id, job): the episode; raises WorkerLost when the worker dies.
    - score(job, candidate or None, reason): score it (None, with the reason, when there is none).
    - record(job, worker_id, candidate, score, started_at): journal the node.
    - recover(worker_id): wait for a crashed worker's restart; False if it never comes back.
    - hold(): a reason to hold dispatching, or None.
    """

    new_job: Callable[[float], Job]
    started: Callable[[Job, int], Awaitable[None]]
    run_job: Callable[[int, Job], Awaitable[C]]
    score: Callable[[Job, C | None, str | None], Awaitable[S]]
    record: Callable[[Job, int, C | None, S, float], Awaitable[None]]
    recover: Callable[[int], Awaitable[bool]]
    hold: Callable[[], Awaitable[Hold | None]]


@dataclass
class DispatchReport:
    """How the loop ended."""

    dispatched: int = 0  # jobs started by this loop, re-dispatches included
    redispatched: list[int] = field(default_factory=list)  # node ids run once more after a restart
    budget_stop: str | None = None  # a final hold's reason (token or cost budget)
    disk_full: str | None = None  # set when a full disk stopped dispatching


def is_disk_full(e: BaseException) -> bool:
    """Whether `e` (or what it wraps, e.g. a remote task's error) is a full disk (ENOSPC)."""
    seen: BaseException | None = e
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, OSError) and seen.errno == errno.ENOSPC:
            return True
        cause = getattr(seen, "cause", None)  # a remote error carries the original as `cause`
        seen = cause if isinstance(cause, BaseException) else seen.__cause__
    return False


class DispatchLoop(Generic[C, S]):
    """Runs jobs on `workers` workers until the budget is spent; see the module's docstring.

    `finished`: nodes already journaled (they count against the node budget). `orphans`: jobs that
    were running when a previous coordinator died; each runs once more (first, before new jobs), or,
    if it already did, becomes an invalid node. At most `max_scoring` candidates are scored at once
    (the coordinator gives the evaluator's hce.scoring.processes), shared round-robin among the
    workers (search/fair_slots.py): a worker whose submissions are slow to score cannot hold another
    worker's behind its backlog. A job without a candidate is recorded without waiting for a slot.
    """

    def __init__(
        self,
        ops: LoopOps[C, S],
        budget: Budget,
        workers: int,
        finished: int = 0,
        orphans: Sequence[RunningJob] = (),
        max_scoring: int = 8,
        hold_poll_s: float = 1.0,
    ) -> None:
        self.ops = ops
        self.budget = budget
        self.workers = workers
        self.orphans = list(orphans)
        self.redo = deque(r for r in orphans if r.attempt < MAX_ATTEMPTS)
        self.lost_twice = [r for r in orphans if r.attempt >= MAX_ATTEMPTS]
        self.dispatched_total = finished + len(orphans)
        self.scoring_slots = FairSlots(max_scoring)
        self.hold_poll_s = hold_poll_s
        self.report = DispatchReport()
        self.episodes: dict[asyncio.Task[bool], int] = {}
        self.scoring: set[asyncio.Task[None]] = set()
        self.held: str | None = None  # the current hold's reason, for status
        self.jobs_per_worker = dict.fromkeys(range(workers), 0)
        self._failure: BaseException | None = None
        self._aborted = False

    @property
    def running(self) -> int:
        """Episodes running now."""
        return len(self.episodes)

    async def run(self) -> DispatchReport:
        """Dispatch until the budget is spent and every started job is recorded."""
        try:
            return await self._run()
        except BaseException:
            self._abort()
            raise

    async def _run(self) -> DispatchReport:
        for r in self.lost_twice:
            self._score_beside(r.job, r.worker_id, None, LOST_TWICE, time.time())
        free: deque[int] = deque(range(self.workers))
        while True:
            await self._dispatch(free)
            self._raise_failure()
            now = time.time()
            hard_stop = self.budget.deadline + self.budget.grace_s
            if not self.episodes:
                if not free or not self._may_dispatch_later(now):
                    break
                await asyncio.sleep(min(self.hold_poll_s, max(0.0, self.budget.deadline - now)))
                continue
            timeout = max(0.0, hard_stop - now)
            if self.held is not None and free:  # paused: ask hold() again soon
                timeout = min(timeout, self.hold_poll_s)
            done, _ = await asyncio.wait(self.episodes, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if not done and time.time() >= hard_stop:
                await self._cancel_all()
                break
            for task in done:
                worker_id = self.episodes.pop(task)
                if task.result():  # a worker that never came back after a crash gets no more jobs
                    free.append(worker_id)
        why = self.report.budget_stop or self.report.disk_full or "the budget's time was up"
        for r in self.redo:
            self._score_beside(r.job, r.worker_id, None, NOT_RERUN.format(why=why), time.time())
        self.redo.clear()
        while self.scoring:
            await asyncio.wait(self.scoring)
            self._raise_failure()
        return self.report

    def _may_dispatch_later(self, now: float) -> bool:
        """With nothing running: whether waiting can still lead to a dispatch (a pause, not a stop)."""
        if self._stopped() or now >= self.budget.deadline:
            return False
        return bool(self.redo) or self.dispatched_total < self.budget.max_nodes

    def _stopped(self) -> bool:
        return self.report.budget_stop is not None or self.report.disk_full is not None

    async def _dispatch(self, free: deque[int]) -> None:
        """Give every free worker a job while the budget, hold() and the disk allow it."""
        self.held = None
        while free and not self._stopped() and time.time() < self.budget.deadline:
            if not self.redo and self.dispatched_total >= self.budget.max_nodes:
                return
            hold = await self.ops.hold()
            if hold is not None:
                if hold.final:
                    self.report.budget_stop = hold.reason
                else:
                    self.held = hold.reason
                return
            redo = bool(self.redo)
            job = (
                self.redo[0].job.model_copy(update={"deadline": self.budget.deadline})
                if redo
                else self.ops.new_job(self.budget.deadline)
            )
            worker_id = free.popleft()
            if redo:
                self.redo.popleft()
                self.report.redispatched.append(job.node_id)
            else:
                self.dispatched_total += 1
            self.report.dispatched += 1
            self.jobs_per_worker[worker_id] += 1
            self.episodes[asyncio.ensure_future(self._episode(worker_id, job, redo))] = worker_id

    async def _episode(self, worker_id: int, job: Job, redo: bool) -> bool:
        """Run one job; hand its result to scoring; False when the worker is gone for good."""
        try:
            await self.ops.started(job, worker_id)
        except OSError as e:
            if not is_disk_full(e):
                raise
            self._disk_full(f"disk full while noting job {job.node_id} in the search state: {e}")
            self._undo_dispatch(worker_id, job, redo)
            return True
        started = time.time()
        try:
            candidate = await self.ops.run_job(worker_id, job)
        except asyncio.CancelledError:
            self._score_beside(job, worker_id, None, CANCELLED, started)
            raise
        except WorkerLost as e:
            self._score_beside(job, worker_id, None, str(e), started)
            return await self.ops.recover(worker_id)
        self._score_beside(job, worker_id, candidate, None, started)
        return True

    def _undo_dispatch(self, worker_id: int, job: Job, redo: bool) -> None:
        """The job never ran: it is not counted, and a re-dispatch goes back to the queue."""
        self.report.dispatched -= 1
        self.jobs_per_worker[worker_id] -= 1
        if redo:
            self.report.redispatched.remove(job.node_id)
            self.redo.appendleft(next(r for r in self.orphans if r.job.node_id == job.node_id))
        else:
            self.dispatched_total -= 1

    def _score_beside(
        self, job: Job, worker_id: int, candidate: C | None, reason: str | None, t: float
    ) -> None:
        if self._aborted:  # the run failed: what was running stays in the state file, not recorded
            return
        task = asyncio.ensure_future(self._score_and_record(job, worker_id, candidate, reason, t))
        self.scoring.add(task)
        task.add_done_callback(self.scoring.discard)

    async def _score_and_record(
        self, job: Job, worker_id: int, candidate: C | None, reason: str | None, started: float
    ) -> None:
        try:
            # Nothing to score (the evaluator answers at once): no slot, no wait behind others.
            slot = self.scoring_slots.slot(worker_id) if candidate is not None else contextlib.nullcontext()
            async with slot:
                try:
                    score = await self.ops.score(job, candidate, reason)
                except Exception as e:
                    if is_disk_full(e):
                        raise
                    # The node is kept, invalid, with the reason; a second failure ends the run.
                    log.warning("scoring node %d failed: %s", job.node_id, e)
                    first = str(e).splitlines()[0] if str(e) else ""
                    why = f"the evaluator failed to score it: {type(e).__name__}: {first}"
                    score = await self.ops.score(job, None, why)
                    candidate = None
            await self.ops.record(job, worker_id, candidate, score, started)
        except Exception as e:
            if is_disk_full(e):
                self._disk_full(f"disk full while recording node {job.node_id}: {e}")
            else:
                self._failure = self._failure or e

    def _disk_full(self, reason: str) -> None:
        if self.report.disk_full is None:
            self.report.disk_full = (
                f"{reason}; nothing more was dispatched and every node written so far is kept: "
                "free space on the run directory's disk, then continue with resume=<run dir>"
            )
            log.error("%s", self.report.disk_full)

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _abort(self) -> None:
        self._aborted = True
        for task in [*self.episodes, *self.scoring]:
            task.cancel()

    async def _cancel_all(self) -> None:
        """Past the grace period: cancel every running episode (each is recorded as cancelled)."""
        for task in self.episodes:
            task.cancel()
        await asyncio.gather(*self.episodes, return_exceptions=True)
        self.episodes.clear()
