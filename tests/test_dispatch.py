"""The steady-state dispatch loop without Ray: fake workers (asyncio sleeps), fake scoring and records."""

import asyncio
import errno
import time
from dataclasses import dataclass, field

import pytest

from search.budget import Budget
from search.dispatch import CANCELLED, LOST_TWICE, DispatchLoop, DispatchReport, Hold, LoopOps, WorkerLost
from search.job import Job
from search.search_state import RunningJob


@dataclass
class Done:
    """What a fake worker hands back."""

    node_id: int
    worker_id: int
    started: float
    ended: float


@dataclass
class World:
    """Fake workers, evaluator and journal; every call is logged with its time."""

    job_s: dict[int, float] = field(default_factory=dict)  # node id -> episode length (default 0.02 s)
    worker_job_s: dict[int, float] = field(default_factory=dict)  # worker id -> its episodes' length
    score_s: float = 0.0
    worker_score_s: dict[int, float] = field(default_factory=dict)  # worker id -> its scorings' length
    lose: set[int] = field(default_factory=set)  # node ids whose worker dies during the job
    recovers: bool = True
    disk_full_at: int | None = None  # recording this node id fails with ENOSPC
    score_fails: set[int] = field(default_factory=set)  # the evaluator raises once for these
    held_until: float = 0.0
    final_hold_after: int | None = None  # a spent budget after this many dispatches
    next_id: int = 1
    started_jobs: list[tuple[int, int, float]] = field(default_factory=list)  # (node, worker, at)
    runs: list[Done] = field(default_factory=list)
    scored: dict[int, float] = field(default_factory=dict)  # node id -> when scoring ended
    records: dict[int, tuple[int, bool, str | None]] = field(
        default_factory=dict
    )  # node -> (worker, ok, why)
    recovered: list[int] = field(default_factory=list)
    hold_calls: list[tuple[float, bool]] = field(default_factory=list)
    deadlines: dict[int, float] = field(default_factory=dict)

    def new_job(self, deadline: float) -> Job:
        job = Job(node_id=self.next_id, operator="draft", seed=self.next_id, deadline=deadline)
        self.next_id += 1
        return job

    async def started(self, job: Job, worker_id: int) -> None:
        self.deadlines[job.node_id] = job.deadline
        self.started_jobs.append((job.node_id, worker_id, time.time()))

    async def run_job(self, worker_id: int, job: Job) -> Done:
        t0 = time.time()
        await asyncio.sleep(self.job_s.get(job.node_id, self.worker_job_s.get(worker_id, 0.02)))
        if job.node_id in self.lose:
            raise WorkerLost(f"worker {worker_id} failed: ActorDiedError")
        done = Done(job.node_id, worker_id, t0, time.time())
        self.runs.append(done)
        return done

    async def score(self, job: Job, done: Done | None, reason: str | None) -> tuple[bool, str | None]:
        if job.node_id in self.score_fails:
            self.score_fails.discard(job.node_id)
            raise RuntimeError("evaluator exploded")
        await asyncio.sleep(
            self.score_s if done is None else self.worker_score_s.get(done.worker_id, self.score_s)
        )
        self.scored[job.node_id] = time.time()
        return (done is not None, reason)

    async def record(
        self, job: Job, worker_id: int, done: Done | None, score: tuple[bool, str | None], t: float
    ) -> None:
        if job.node_id == self.disk_full_at:
            raise OSError(errno.ENOSPC, "No space left on device")
        assert job.node_id not in self.records, "a node is recorded once"
        self.records[job.node_id] = (worker_id, score[0], score[1])

    async def recover(self, worker_id: int) -> bool:
        await asyncio.sleep(0.05)
        self.recovered.append(worker_id)
        return self.recovers

    async def hold(self) -> Hold | None:
        held = time.time() < self.held_until
        self.hold_calls.append((time.time(), held))
        if self.final_hold_after is not None and len(self.started_jobs) >= self.final_hold_after:
            return Hold("token budget reached", final=True)
        return Hold("policy outage") if held else None

    def ops(self) -> LoopOps[Done, tuple[bool, str | None]]:
        return LoopOps(
            self.new_job, self.started, self.run_job, self.score, self.record, self.recover, self.hold
        )


def run_loop(
    world: World,
    workers: int = 2,
    max_nodes: int = 10,
    wall_s: float = 30.0,
    grace_s: float = 5.0,
    orphans: list[RunningJob] | None = None,
    **kw: float,
) -> DispatchReport:
    budget = Budget(time.time(), wall_s, max_nodes, grace_s)
    loop = DispatchLoop(world.ops(), budget, workers, orphans=orphans or [], **kw)  # type: ignore[arg-type]
    return asyncio.run(loop.run())


def test_every_free_worker_gets_a_job_at_once_without_a_barrier() -> None:
    world = World(job_s={1: 0.6})  # worker 0's first job is long; worker 1 goes on alone
    report = run_loop(world, workers=2, max_nodes=8)
    assert report.dispatched == 8 and sorted(world.records) == list(range(1, 9))
    first_end = next(r.ended for r in world.runs if r.node_id == 1)
    during = [n for n, w, at in world.started_jobs if w == 1 and at < first_end]
    assert len(during) >= 5, "worker 1 keeps receiving jobs while worker 0 is busy"
    assert all(ok for _, ok, _ in world.records.values())


def test_scoring_runs_beside_the_worker() -> None:
    world = World(score_s=0.3)
    run_loop(world, workers=1, max_nodes=4)
    starts = {n: at for n, _, at in world.started_jobs}
    for n in (1, 2, 3):
        assert starts[n + 1] < world.scored[n], f"job {n + 1} started before job {n} was scored"
        assert starts[n + 1] - next(r.ended for r in world.runs if r.node_id == n) < 0.1
    assert sorted(world.records) == [1, 2, 3, 4], "every candidate is still scored and recorded"


def test_scoring_is_bounded() -> None:
    world = World(score_s=0.2, job_s=dict.fromkeys(range(1, 9), 0.0))
    started = time.time()
    run_loop(world, workers=4, max_nodes=8, max_scoring=2)
    # 8 scorings of 0.2 s, 2 at a time, cannot end before 0.8 s.
    assert time.time() - started >= 0.75
    assert len(world.records) == 8


def test_a_slow_submitter_cannot_hold_a_fast_one_behind_its_backlog() -> None:
    """Worker 0 hands in a submission every 10 ms that takes 0.25 s to score; worker 1 one every 0.1 s
    that scores at once; the evaluator scores one at a time. In one queue, worker 1's first submission
    would wait for worker 0's whole backlog (~8 x 0.25 s); with the slots shared round-robin it waits
    for at most the one scoring that runs (its share: one turn in two)."""
    world = World(worker_job_s={0: 0.01, 1: 0.1}, worker_score_s={0: 0.25, 1: 0.0})
    run_loop(world, workers=2, max_nodes=12, max_scoring=1)
    ended = {r.node_id: (r.worker_id, r.ended) for r in world.runs}
    fast = {n: world.scored[n] - at for n, (w, at) in ended.items() if w == 1}
    slow = [n for n, (w, _) in ended.items() if w == 0]
    assert fast and len(slow) >= 6, "worker 0 piled up a backlog while worker 1 ran its first episode"
    backlog_at_first = sum(
        1 for n in slow if ended[n][1] < ended[min(fast)][1] and world.scored[n] > ended[min(fast)][1]
    )
    assert backlog_at_first >= 3, "the fast submission arrived behind several slow ones"
    assert max(fast.values()) < 0.25 + 0.2, f"the fast worker waited {max(fast.values()):.2f} s to be scored"
    assert len(world.records) == 12


def test_a_job_without_a_candidate_is_recorded_without_waiting_for_a_scoring_slot() -> None:
    world = World(worker_job_s={0: 0.01, 1: 0.05}, worker_score_s={0: 0.5}, lose={2})
    run_loop(world, workers=2, max_nodes=6, max_scoring=1)
    lost = world.records[2]
    assert not lost[1] and lost[2] is not None and "ActorDiedError" in lost[2]
    # Worker 0's first submission holds the only slot for 0.5 s; the lost job does not wait for it.
    assert world.scored[2] - next(at for n, _, at in world.started_jobs if n == 2) < 0.3


def test_wall_clock_stops_dispatch_and_grace_then_cancels() -> None:
    world = World(job_s={1: 0.25, 2: 30.0})
    started = time.time()
    report = run_loop(world, workers=2, max_nodes=100, wall_s=0.5, grace_s=0.3)
    assert time.time() - started < 2.0, "the long episode is cancelled after the grace period"
    assert world.records[2][2] == CANCELLED and not world.records[2][1]
    assert all(at < started + 0.5 for _, _, at in world.started_jobs), "no dispatch after the deadline"
    assert sorted(world.records) == list(range(1, report.dispatched + 1)), "every started job is recorded"


def test_episode_that_ends_within_grace_is_kept() -> None:
    world = World(job_s={1: 0.5, 2: 0.5})
    run_loop(world, workers=2, max_nodes=100, wall_s=0.2, grace_s=2.0)
    assert world.records[1][1] and world.records[2][1]
    assert sorted(world.records) == [1, 2]


def test_crashed_worker_job_is_an_invalid_node_and_the_worker_comes_back() -> None:
    world = World(lose={2})
    report = run_loop(world, workers=2, max_nodes=8)
    worker, ok, why = world.records[2]
    assert not ok and why is not None and "failed: ActorDiedError" in why
    assert world.recovered == [worker]
    lost_at = next(at for n, _, at in world.started_jobs if n == 2)
    assert any(w == worker and at > lost_at for _, w, at in world.started_jobs), "it serves jobs again"
    assert report.dispatched == 8 and len(world.records) == 8


def test_worker_that_never_comes_back_gets_no_more_jobs() -> None:
    world = World(lose={1}, recovers=False, job_s={1: 0.05})
    run_loop(world, workers=2, max_nodes=6)
    dead = world.records[1][0]
    assert [n for n, w, _ in world.started_jobs if w == dead] == [1]
    assert len(world.records) == 6


def test_all_workers_gone_ends_the_loop() -> None:
    world = World(lose={1, 2}, recovers=False)
    report = run_loop(world, workers=2, max_nodes=10, wall_s=30)
    assert report.dispatched == 2 and sorted(world.records) == [1, 2]


def test_hold_pauses_dispatch_and_it_resumes() -> None:
    world = World()
    world.held_until = time.time() + 0.4
    started = time.time()
    run_loop(world, workers=2, max_nodes=4, hold_poll_s=0.05)
    assert all(at >= world.held_until for _, _, at in world.started_jobs), "nothing starts while held"
    assert world.started_jobs[0][2] - world.held_until < 0.2, "dispatch resumes soon after the hold"
    assert len(world.records) == 4 and time.time() - started < 2


def test_hold_mid_run_lets_running_jobs_finish() -> None:
    world = World(job_s={1: 0.3})

    async def hold() -> Hold | None:
        if 0.05 < time.time() - t0 < 0.5:
            return Hold("policy outage")
        return None

    t0 = time.time()
    world.hold = hold  # type: ignore[method-assign]
    run_loop(world, workers=2, max_nodes=5, hold_poll_s=0.05)
    in_hold = [n for n, _, at in world.started_jobs if 0.05 < at - t0 < 0.5]
    assert in_hold == [] and world.records[1][1], "the running job finished while dispatch was held"
    assert len(world.records) == 5


def test_final_hold_stops_dispatch_for_good() -> None:
    world = World(final_hold_after=3)
    started = time.time()
    report = run_loop(world, workers=1, max_nodes=100, wall_s=30)
    assert report.budget_stop == "token budget reached"
    assert len(world.started_jobs) == 3 and sorted(world.records) == [1, 2, 3]
    assert time.time() - started < 2, "a spent budget does not wait for the deadline"


def orphan(node_id: int, attempt: int, worker_id: int = 0) -> RunningJob:
    job = Job(node_id=node_id, operator="draft", seed=1, deadline=0.0)
    return RunningJob(job=job, worker_id=worker_id, attempt=attempt)


def test_lost_jobs_run_once_more_first_and_a_job_lost_twice_is_invalid() -> None:
    world = World(next_id=8)
    report = run_loop(
        world, workers=1, max_nodes=9, finished=4, orphans=[orphan(5, 1), orphan(6, 2), orphan(7, 1)]
    )
    assert report.redispatched == [5, 7]
    assert [n for n, _, _ in world.started_jobs] == [5, 7, 8, 9], "re-dispatches first, then new jobs"
    assert world.records[6] == (0, False, LOST_TWICE)
    assert 6 not in [r.node_id for r in world.runs], "not run a third time"
    assert sorted(world.records) == [5, 6, 7, 8, 9]
    assert world.deadlines[5] == world.deadlines[8] > 0, "a re-run gets this session's deadline"


def test_lost_jobs_left_when_time_is_up_are_recorded_not_run() -> None:
    world = World()
    report = run_loop(world, workers=1, max_nodes=10, wall_s=0.0, orphans=[orphan(3, 1)])
    assert report.redispatched == [] and world.runs == []
    assert world.records[3][1] is False and "not run again" in (world.records[3][2] or "")


def test_disk_full_stops_dispatching_and_keeps_what_is_written() -> None:
    world = World(disk_full_at=3, job_s={1: 0.02, 2: 0.02, 3: 0.02})
    report = run_loop(world, workers=1, max_nodes=50)
    assert report.disk_full is not None and "disk full while recording node 3" in report.disk_full
    assert "resume=" in report.disk_full
    assert sorted(world.records) == [1, 2], "what was written is kept"
    assert len(world.started_jobs) <= 4, "dispatching stopped"


def test_disk_full_while_noting_a_dispatch() -> None:
    world = World()

    async def started(job: Job, worker_id: int) -> None:
        if job.node_id == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        world.started_jobs.append((job.node_id, worker_id, time.time()))

    world.started = started  # type: ignore[method-assign]
    report = run_loop(world, workers=1, max_nodes=10)
    assert report.disk_full and "job 2" in report.disk_full
    assert sorted(world.records) == [1] and report.dispatched == 1


def test_a_scoring_failure_is_an_invalid_node_with_the_reason() -> None:
    world = World(score_fails={2})
    run_loop(world, workers=1, max_nodes=3)
    assert world.records[2][1] is False
    assert "the evaluator failed to score it: RuntimeError: evaluator exploded" in (world.records[2][2] or "")
    assert world.records[1][1] and world.records[3][1]


def test_another_error_ends_the_run_loudly() -> None:
    world = World()

    async def record(*_: object) -> None:
        raise PermissionError("read-only run directory")

    world.record = record  # type: ignore[method-assign,assignment]
    with pytest.raises(PermissionError, match="read-only"):
        run_loop(world, workers=1, max_nodes=3)
