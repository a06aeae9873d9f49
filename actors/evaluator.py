"""The HCE evaluator actor: a thin Ray shell over evaluation.evaluator.HCEEvaluator (one per run)."""

import time
from typing import Any

import ray

from actors.metrics import UNLABELLED, EvaluatorMetrics, RunLabels
from evaluation.evaluator import EvaluatorStartError, FinalChoice, HCEEvaluator, SearchScore

__all__ = ["EvaluatorStartError", "FinalChoice", "HCEEvaluator", "HCEEvaluatorActor", "SearchScore"]

# Threads for concurrent calls: scores wait for one of the pool's processes (hce.scoring.processes);
# the spare threads keep select_final and Ray's health checks answering meanwhile.
MAX_CONCURRENCY = 16
# The most score() calls the coordinator makes at once (its fair scoring slots): two threads stay spare.
MAX_SCORING_CALLS = MAX_CONCURRENCY - 2


class MeasuredEvaluator(HCEEvaluator):
    """The evaluator with its metrics (scoring latency, invalid submissions by reason) on Ray's port."""

    def __init__(self, *args: Any, labels: RunLabels = UNLABELLED, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.metrics = EvaluatorMetrics(labels)

    def score(
        self,
        node_id: int,
        submission: bytes | None,
        reason: str | None = None,
        validation_score: float | None = None,
    ) -> SearchScore:
        started = time.monotonic()
        result = super().score(node_id, submission, reason, validation_score)
        self.metrics.scored(time.monotonic() - started, result, submission is not None)
        return result


# One per run. A dead evaluator process is restarted (it rebuilds the same splits and reloads the sealed
# scores) and the calls it was running are retried, both a bounded number of times; a bad submission is
# an invalid score, not an error, so nothing is ever retried because of one.
HCEEvaluatorActor = ray.remote(  # type: ignore[call-overload]  # Ray's stubs lack max_concurrency
    num_cpus=0, max_restarts=3, max_task_retries=2, max_concurrency=MAX_CONCURRENCY
)(MeasuredEvaluator)
