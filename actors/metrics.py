"""The search's, the workers' and the evaluator's custom metrics on the Ray dashboard (ray.util.metrics).

Every metric of a run is tagged with the run (its directory, shortened), the task and the seed, so a
dashboard filters by run; Ray exports them with the prefix `ray_` on each node's metrics port, where
Prometheus scrapes them (dashboards/aira.json shows them in Grafana). The pure packages never record
anything: what they know comes back in their results (a trajectory's steps and durations, a
candidate's reason) and is recorded here, in the actors.
"""

import contextlib
import functools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from ray.util.metrics import Counter, Gauge, Histogram

from agents.candidate import Candidate
from agents.react import DEADLINE_REASON, STEP_LIMIT_REASON
from agents.tools import TOOLS
from evaluation.scores import Scores, SearchScore
from search.node import Node
from serving.metrics import RUN_TAG_KEYS


class RunLabels(NamedTuple):
    """What every metric of one run is tagged with."""

    run: str
    task: str
    seed: int

    @classmethod
    def for_run(cls, run_dir: Path, task: str, seed: int) -> "RunLabels":
        """A run is named by the last three parts of its directory: unique within a grid and readable."""
        return cls("/".join(run_dir.resolve().parts[-3:]), task, seed)

    def tags(self) -> dict[str, str]:
        """The tags as Ray wants them (strings)."""
        return {"run": self.run, "task": self.task, "seed": str(self.seed)}


# Actors made without labels (tests, tools) still record, under empty tags.
UNLABELLED = RunLabels("", "", -1)
_RUN = RUN_TAG_KEYS

# Each metric is made on first use, in the process that records it: one made in the driver before
# ray.init is never exported.
NODES_FINISHED = functools.cache(
    lambda: Counter(
        "aira_search_nodes_finished_total",
        "Nodes the search finished (scored and journaled), by operator and validity",
        tag_keys=(*_RUN, "operator", "valid"),
    )
)
BEST_SCORE = functools.cache(
    lambda: Gauge("aira_search_best_score", "The best D_search score of the run so far", tag_keys=_RUN)
)
JOBS_IN_FLIGHT = functools.cache(
    lambda: Gauge(
        "aira_search_jobs_in_flight", "Jobs dispatched to workers and not yet finished", tag_keys=_RUN
    )
)
GRID_RUNS = functools.cache(
    lambda: Gauge(
        "aira_grid_runs", "Runs of a grid by state: queued, running, done", tag_keys=("grid", "state")
    )
)
WORKER_BUSY = functools.cache(
    lambda: Counter(
        "aira_worker_busy_seconds_total",
        "Seconds a worker spent running episodes",
        tag_keys=(*_RUN, "worker"),
    )
)
WORKER_IDLE = functools.cache(
    lambda: Counter(
        "aira_worker_idle_seconds_total",
        "Seconds a worker waited for its next job (counted when that job starts)",
        tag_keys=(*_RUN, "worker"),
    )
)
EPISODE_SECONDS = functools.cache(
    lambda: Histogram(
        "aira_episode_duration_seconds",
        "Wall time of one ReAct episode, by operator",
        boundaries=[1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 32400, 86400],
        tag_keys=(*_RUN, "operator"),
    )
)
EPISODE_STEPS = functools.cache(
    lambda: Histogram(
        "aira_episode_steps",
        "Steps (tool calls and failed turns) of one ReAct episode, by operator",
        boundaries=[1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 128, 256],
        tag_keys=(*_RUN, "operator"),
    )
)
TOOL_SECONDS = functools.cache(
    lambda: Histogram(
        "aira_tool_call_duration_seconds",
        "Time of one tool call in the sandbox, by tool",
        boundaries=[0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600, 32400],
        tag_keys=(*_RUN, "tool"),
    )
)
EPISODES_ENDED = functools.cache(
    lambda: Counter(
        "aira_episodes_ended_total",
        "Episodes by how they ended: submit, step_limit, deadline, policy_failures, budget, other",
        tag_keys=(*_RUN, "reason"),
    )
)
SCORING_SECONDS = functools.cache(
    lambda: Histogram(
        "aira_evaluator_scoring_duration_seconds",
        "Time the HCE evaluator took to score one submission on all three hidden splits",
        boundaries=[0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
        tag_keys=_RUN,
    )
)
EVALUATOR_QUEUE = functools.cache(
    lambda: Gauge(
        "aira_evaluator_queue_submissions",
        "Submissions sent to the evaluator and not yet scored (waiting or being scored)",
        tag_keys=_RUN,
    )
)
INVALID_SUBMISSIONS = functools.cache(
    lambda: Counter(
        "aira_evaluator_invalid_submissions_total",
        "Submissions scored invalid, by reason: no_submission, unreadable, columns, ids, values, scoring",
        tag_keys=(*_RUN, "reason"),
    )
)
# Every metric of this module, for the dashboard's test.
METRICS = (
    NODES_FINISHED,
    BEST_SCORE,
    JOBS_IN_FLIGHT,
    GRID_RUNS,
    WORKER_BUSY,
    WORKER_IDLE,
    EPISODE_SECONDS,
    EPISODE_STEPS,
    TOOL_SECONDS,
    EPISODES_ENDED,
    SCORING_SECONDS,
    EVALUATOR_QUEUE,
    INVALID_SUBMISSIONS,
)


def episode_end_reason(candidate: Candidate) -> str:
    """How an episode ended, as one of a few fixed words (a metric's tag must not be free text)."""
    reason = candidate.reason
    if reason is None:
        return "submit" if candidate.submission is not None else "other"
    if reason == STEP_LIMIT_REASON:
        return "step_limit"
    if reason == DEADLINE_REASON:
        return "deadline"
    if reason.startswith("policy failed"):
        return "policy_failures"
    if "budget reached" in reason:
        return "budget"
    return "other"


# The evaluator's reasons (evaluation/submission.py, evaluation/hce.py) by the words they start with.
_INVALID_KINDS = (
    ("submission is too large", "unreadable"),
    ("submission is empty", "unreadable"),
    ("submission is not", "unreadable"),
    ("submission could not be read", "unreadable"),
    ("submission has a header but no rows", "unreadable"),
    ("submission lacks the column", "columns"),
    ("submission has unexpected column", "columns"),
    ("scoring failed", "scoring"),
)


def invalid_reason_kind(scores: Scores | SearchScore, submitted: bool) -> str:
    """Why a submission is invalid, as one of a few fixed words."""
    if not submitted:
        return "no_submission"
    reason = scores.reason or ""
    for start, kind in _INVALID_KINDS:
        if reason.startswith(start):
            return kind
    if " id" in reason and reason.startswith("submission"):
        return "ids"
    if reason.startswith("submission"):
        return "values"
    return "other"


class SearchMetrics:
    """The coordinator's metrics of one run."""

    def __init__(self, labels: RunLabels = UNLABELLED) -> None:
        self.tags = labels.tags()
        self.scoring_now = 0

    def jobs_in_flight(self, running: int) -> None:
        """Jobs now running on workers."""
        JOBS_IN_FLIGHT().set(running, self.tags)

    def node_finished(self, node: Node, best: Node | None, running: int) -> None:
        """A node was scored and journaled; the run's best node and its jobs in flight now."""
        NODES_FINISHED().inc(1, {**self.tags, "operator": node.operator, "valid": str(node.valid).lower()})
        if best is not None and best.search_score is not None:
            BEST_SCORE().set(best.search_score, self.tags)
        JOBS_IN_FLIGHT().set(running, self.tags)

    @contextlib.contextmanager
    def scoring(self) -> Iterator[None]:
        """Wrap the wait for one evaluator.score call: the evaluator's queue is what waits at once."""
        self.scoring_now += 1
        EVALUATOR_QUEUE().set(self.scoring_now, self.tags)
        try:
            yield
        finally:
            self.scoring_now -= 1
            EVALUATOR_QUEUE().set(self.scoring_now, self.tags)


class GridMetrics:
    """The queue of a grid's runs."""

    def __init__(self, grid: str) -> None:
        self.grid = grid

    def runs(self, queued: int, running: int, done: int) -> None:
        """How many runs of the grid wait, run and are done."""
        for state, n in (("queued", queued), ("running", running), ("done", done)):
            GRID_RUNS().set(n, {"grid": self.grid, "state": state})


class WorkerMetrics:
    """One experiment worker's metrics: busy and idle time, and each episode it ran."""

    def __init__(self, labels: RunLabels, worker_id: int) -> None:
        self.run_tags = labels.tags()
        self.tags = {**self.run_tags, "worker": str(worker_id)}
        self.idle_since: float | None = time.time()

    def episode_started(self) -> None:
        """A job arrived: the time since the last one ended (or since the worker started) was idle."""
        if self.idle_since is not None:
            idle = time.time() - self.idle_since
            if idle > 0:
                WORKER_IDLE().inc(idle, self.tags)
        self.idle_since = None

    def episode_ended(self, operator: str, candidate: Candidate) -> None:
        """An episode's time, steps, tool calls and how it ended."""
        seconds = max(candidate.ended_at - candidate.started_at, 0.0)
        if seconds > 0:
            WORKER_BUSY().inc(seconds, self.tags)
        EPISODE_SECONDS().observe(seconds, {**self.run_tags, "operator": operator})
        EPISODE_STEPS().observe(len(candidate.trajectory.steps), {**self.run_tags, "operator": operator})
        for step in candidate.trajectory.steps:
            if step.tool:
                # A policy may name any tool: a name it made up counts as "unknown", not as a new series.
                tool = step.tool if step.tool in TOOLS else "unknown"
                TOOL_SECONDS().observe(step.duration_s, {**self.run_tags, "tool": tool})
        EPISODES_ENDED().inc(1, {**self.run_tags, "reason": episode_end_reason(candidate)})
        self.idle_since = time.time()


class EvaluatorMetrics:
    """The HCE evaluator's metrics of one run."""

    def __init__(self, labels: RunLabels = UNLABELLED) -> None:
        self.tags = labels.tags()

    def scored(self, seconds: float, scores: Scores | SearchScore, submitted: bool) -> None:
        """One submission scored (or recorded as invalid without one)."""
        if submitted:
            SCORING_SECONDS().observe(max(seconds, 0.0), self.tags)
        if not scores.valid:
            INVALID_SUBMISSIONS().inc(1, {**self.tags, "reason": invalid_reason_kind(scores, submitted)})
