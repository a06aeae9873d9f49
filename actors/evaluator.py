"""The HCE evaluator actor: the only holder of hidden labels in a run (one per run)."""

import json
import os
import threading
import time
from pathlib import Path

import ray
from pydantic import BaseModel

from actors.metrics import UNLABELLED, EvaluatorMetrics, RunLabels
from evaluation.hce import HiddenConsistentEvaluation
from evaluation.scores import Scores
from evaluation.task import load_task


class SearchScore(BaseModel):
    """What the search may know of a submission: validity and the D_search score."""

    node_id: int
    valid: bool
    search: float | None = None
    reason: str | None = None


class FinalChoice(BaseModel):
    node_id: int
    scores: Scores


class HCEEvaluator:
    """Splits once, writes the agent-visible copy, scores submissions on all three hidden splits.

    Sealed scores (val, test) are kept in memory and in `sealed_path`, which only this actor
    reads; a restarted actor rebuilds the same splits from the fixed seed and reloads them.
    """

    def __init__(
        self,
        task_dir: str,
        split_seed: int,
        fractions: tuple[float, float, float],
        public_dir: str,
        sealed_path: str,
        labels: RunLabels = UNLABELLED,
    ) -> None:
        self.metrics = EvaluatorMetrics(labels)
        self.hce = HiddenConsistentEvaluation(load_task(Path(task_dir)), split_seed, fractions)
        public = Path(public_dir)
        if not (public / "test.csv").exists():
            tmp = public.with_name(public.name + f".tmp{os.getpid()}")
            self.hce.write_public(tmp)
            tmp.rename(public)
        self.sealed_path = Path(sealed_path)
        self.sealed_path.parent.mkdir(parents=True, exist_ok=True)
        self.sealed: dict[int, Scores] = {}
        self._lock = threading.Lock()
        if self.sealed_path.exists():
            for line in self.sealed_path.read_text().splitlines():
                if line.strip():
                    rec = json.loads(line)
                    self.sealed[int(rec["node_id"])] = Scores.model_validate(rec["scores"])

    def score(self, node_id: int, submission: bytes | None, reason: str | None = None) -> SearchScore:
        """Score a submission (None = the agent never submitted; `reason` says why)."""
        started = time.monotonic()
        if submission is None:
            scores = Scores(valid=False, reason=reason or "no submission")
        else:
            scores = self.hce.score(submission)
        self.metrics.scored(time.monotonic() - started, scores, submission is not None)
        with self._lock:
            self.sealed[node_id] = scores
            with self.sealed_path.open("a") as f:
                f.write(json.dumps({"node_id": node_id, "scores": scores.model_dump()}) + "\n")
        return SearchScore(node_id=node_id, valid=scores.valid, search=scores.search, reason=scores.reason)

    def select_final(self, node_ids: list[int], lower_is_better: bool) -> FinalChoice | None:
        """The final answer: best D_val score among the given valid nodes (read once, after search)."""
        scored = [(i, self.sealed[i]) for i in node_ids if i in self.sealed and self.sealed[i].valid]
        scored = [(i, s) for i, s in scored if s.val is not None]
        if not scored:
            return None
        sign = -1.0 if lower_is_better else 1.0
        # Ties on D_val (small splits make them common) go to the better D_search score, then the earlier
        # node.
        node_id, scores = max(
            scored, key=lambda p: (sign * (p[1].val or 0.0), sign * (p[1].search or 0.0), -p[0])
        )
        return FinalChoice(node_id=node_id, scores=scores)


# One per run; restarted on failure (it rebuilds the same splits and reloads the sealed scores).
HCEEvaluatorActor = ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)(HCEEvaluator)
