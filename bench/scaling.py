"""Does the coordinator keep the workers busy? Its efficiency next to a plain-Ray steady-state loop.

Usage: python bench/scaling.py [--budget-s 20] [--workers 8 32 64]

Jobs are sleeps (lognormal, mean 1 s). At each worker count, side by side in one Ray instance:
- plain: a bare async Ray loop that hands each free worker its next sleep at once (no scoring, no files);
- project: SearchCoordinatorActor with the real HCE evaluator (bundled digits task, the sample
  submission scored on all three splits), the journal and the node folders, i.e. the whole path of a
  run except the agent.
Efficiency = time the workers spent on jobs inside the budget / (workers x budget). Also printed: the
median and 95th percentile gap between the end of a worker's job and the start of its next one.
The sleep workers are async actors with num_cpus=0, several workers per actor process (a sleep needs
no process of its own, and 64 Ray processes do not fit a 2-core machine); both loops use the same ones.
"""

import argparse
import asyncio
import itertools
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_worker_niceness", "0")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ray

from actors.coordinator import SearchCoordinatorActor, SearchOutcome
from actors.evaluator import HCEEvaluatorActor
from agents.candidate import Candidate
from evaluation.bundled import ensure_bundled
from evaluation.config import HCEConfig
from launcher.config import TaskConfig
from search.config import BudgetConfig, SearchConfig
from search.job import Job
from search.journal import Journal
from search.run_dir import RunDir
from search.search_state import load_state

SIGMA = 0.5
MU = -(SIGMA**2) / 2  # lognormal with mean exp(MU + SIGMA^2 / 2) = 1 s
WORKERS_PER_HOST = 8
TARGET = 0.97


def job_seconds(seed: int) -> float:
    return random.Random(seed).lognormvariate(MU, SIGMA)


class SleepHost:
    """Sleep jobs for several workers at once: what an episode costs the loop, without the agent."""

    def __init__(self, submission: bytes) -> None:
        self.submission = submission

    async def sleep(self, seed: int) -> tuple[float, float]:
        started = time.time()
        await asyncio.sleep(job_seconds(seed))
        return started, time.time()

    async def run(self, job: Job) -> Candidate:
        started = time.time()
        await asyncio.sleep(job_seconds(job.seed))
        return Candidate(
            node_id=job.node_id,
            code="print('sleep')\n",
            submission=self.submission,
            worker_id=0,
            started_at=started,
            ended_at=time.time(),
        )


class PlainLoop:
    """The reference: a bare steady-state loop, each free worker gets its next job at once."""

    async def run(self, hosts: list[Any], budget_s: float) -> tuple[float, list[tuple[int, float, float]]]:
        t0 = time.time()
        seeds = iter(range(10**9))
        jobs: dict[Any, int] = {}
        for w, host in enumerate(hosts):
            jobs[asyncio.ensure_future(_await(host.sleep.remote(next(seeds))))] = w
        done_jobs: list[tuple[int, float, float]] = []
        while jobs:
            done, _ = await asyncio.wait(jobs, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                w = jobs.pop(task)
                started, ended = task.result()
                done_jobs.append((w, started, ended))
                if time.time() < t0 + budget_s:
                    jobs[asyncio.ensure_future(_await(hosts[w].sleep.remote(next(seeds))))] = w
        return t0, done_jobs


async def _await(ref: Any) -> Any:
    return await ref


SleepHostActor = ray.remote(num_cpus=0)(SleepHost)
PlainLoopActor = ray.remote(num_cpus=0)(PlainLoop)


def measure(t0: float, budget_s: float, n: int, jobs: list[tuple[int, float, float]]) -> dict[str, float]:
    """Efficiency inside [t0, t0 + budget] and the gaps between a worker's consecutive jobs."""
    end = t0 + budget_s
    busy = sum(max(0.0, min(e, end) - max(s, t0)) for _, s, e in jobs)
    gaps: list[float] = []
    for w in range(n):
        mine = sorted((s, e) for ww, s, e in jobs if ww == w)
        gaps += [b[0] - a[1] for a, b in itertools.pairwise(mine)]
    gaps.sort()
    return {
        "efficiency": busy / (n * budget_s),
        "jobs": float(len(jobs)),
        "gap_median_ms": 1000 * statistics.median(gaps) if gaps else 0.0,
        "gap_p95_ms": 1000 * gaps[int(0.95 * (len(gaps) - 1))] if gaps else 0.0,
    }


def start_evaluator(task_dir: Path, public: Path, sealed: Path) -> Any:
    """The run's HCE evaluator; the agent-visible task (with opaque ids) is written once, in `public`."""
    hce = HCEConfig()
    evaluator: Any = HCEEvaluatorActor.remote(
        str(task_dir), hce.split_seed, hce.fractions, str(public), str(sealed)
    )
    ray.get(evaluator.__ray_ready__.remote())
    return evaluator


def run_project(hosts: list[Any], n: int, budget_s: float, task_dir: Path, tmp: Path) -> dict[str, float]:
    rd = RunDir(tmp / f"run-{n}")
    rd.root.mkdir(parents=True)
    evaluator = start_evaluator(task_dir, tmp / "task_public", rd.hidden_dir / "sealed.jsonl")
    search = SearchConfig(
        num_workers=n,
        temperature=0.2,
        crossover_prob=0.15,
        num_drafts=3,
        budget=BudgetConfig(wall_clock_s=budget_s, max_nodes=10**6, grace_s=10),
    )
    coordinator: Any = SearchCoordinatorActor.remote(search, 0, False, str(rd.root), hosts, evaluator)
    outcome: SearchOutcome = ray.get(coordinator.run.remote())
    nodes = Journal(rd.journal).load()
    assert len(nodes) == outcome.nodes and outcome.valid_nodes > 0, "the evaluator scored the sleeps"
    deadline = load_state(rd.state).deadline
    assert deadline is not None
    ray.kill(coordinator)
    ray.kill(evaluator)
    return measure(deadline - budget_s, budget_s, n, [(x.worker_id, x.started_at, x.ended_at) for x in nodes])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--budget-s", type=float, default=20.0)
    parser.add_argument("--workers", type=int, nargs="+", default=[8, 32, 64])
    args = parser.parse_args()
    task_dir = ensure_bundled("digits", TaskConfig().cache_dir)
    # address="local": an instance of its own, never a `ray start` cluster running on this machine.
    ray.init(address="local", include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ray.kill(start_evaluator(task_dir, Path(tmp) / "task_public", Path(tmp) / "sealed.jsonl"))
        # Every sleep hands in the agent-visible sample submission: valid, scored on all three splits.
        submission = (Path(tmp) / "task_public" / "sample_submission.csv").read_bytes()
        top = max(args.workers)
        host_actors: list[Any] = [
            SleepHostActor.remote(submission) for _ in range((top + WORKERS_PER_HOST - 1) // WORKERS_PER_HOST)
        ]
        ray.get([h.__ray_ready__.remote() for h in host_actors])
        plain: Any = PlainLoopActor.remote()
        for n in args.workers:
            hosts = [host_actors[w // WORKERS_PER_HOST] for w in range(n)]
            t0, jobs = ray.get(plain.run.remote(hosts, args.budget_s))
            base = measure(t0, args.budget_s, n, jobs)
            ours = run_project(hosts, n, args.budget_s, task_dir, Path(tmp))
            rows.append((n, base, ours))
            print(f"{n} workers done", file=sys.stderr, flush=True)
    ray.shutdown()
    load = os.getloadavg()[0]
    print(f"budget {args.budget_s:.0f} s, sleep jobs lognormal mean 1 s (sigma {SIGMA}), load {load:.1f}")
    print(
        "| workers | plain Ray efficiency | project efficiency | ratio | project gap median / p95 (ms) "
        "| plain gap median / p95 (ms) | jobs plain / project |"
    )
    print("|---|---|---|---|---|---|---|")
    ok = True
    for n, base, ours in rows:
        ratio = ours["efficiency"] / base["efficiency"]
        ok &= ratio >= TARGET
        print(
            f"| {n} | {base['efficiency']:.3f} | {ours['efficiency']:.3f} | {ratio:.3f} | "
            f"{ours['gap_median_ms']:.0f} / {ours['gap_p95_ms']:.0f} | "
            f"{base['gap_median_ms']:.0f} / {base['gap_p95_ms']:.0f} | "
            f"{base['jobs']:.0f} / {ours['jobs']:.0f} |"
        )
    print(f"target: project >= {TARGET} of plain Ray at every size -> {'OK' if ok else 'NOT MET'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
