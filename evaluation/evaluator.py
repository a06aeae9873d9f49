"""The HCE evaluator of one run: the only holder of hidden labels (its Ray actor is actors/evaluator.py).

It splits once, writes the agent-visible copy of the task, scores submissions on all three hidden
splits in a bounded pool of child processes (evaluation/scoring_pool.py), several at once, and keeps the
sealed scores (val, test) in memory and in `sealed_path`, which only it reads. A restarted evaluator
rebuilds the same splits from the fixed seed and reloads the sealed scores.
"""

import os
import shutil
import threading
from pathlib import Path

from pydantic import BaseModel

from evaluation.config import ScoringLimits
from evaluation.hce import HiddenConsistentEvaluation
from evaluation.layouts import hidden_consistent_evaluation
from evaluation.scores import Scores
from evaluation.scoring_pool import ScoringPool, ScoringProcessError
from evaluation.sealed import SealedScores
from evaluation.task import TaskError, load_task
from search.jsonl import JsonlCorruptError


class SearchScore(BaseModel):
    """What the search may know of a submission: validity and the D_search score."""

    node_id: int
    valid: bool
    search: float | None = None
    reason: str | None = None


class FinalChoice(BaseModel):
    node_id: int
    scores: Scores


class EvaluatorStartError(RuntimeError):
    """The evaluator cannot start; the message names the part that failed and how to fix it."""


class HCEEvaluator:
    """Splits once, writes the agent-visible copy, scores submissions on all three hidden splits."""

    def __init__(
        self,
        task_dir: str,
        split_seed: int,
        fractions: tuple[float, float, float],
        public_dir: str,
        sealed_path: str,
        scoring: ScoringLimits | None = None,
    ) -> None:
        try:
            hce = hidden_consistent_evaluation(load_task(Path(task_dir)), split_seed, fractions)
        except (TaskError, ValueError, OSError) as e:
            raise EvaluatorStartError(
                f"HCE evaluator: the task at {task_dir} cannot be evaluated: {e}"
            ) from None
        public = Path(public_dir)
        try:
            _write_public_once(hce, public)
        except OSError as e:
            raise EvaluatorStartError(
                f"HCE evaluator: cannot write the agent-visible task to {public} ({e}); free disk space or "
                "fix the run directory's permissions"
            ) from None
        self.public_dir = public
        self._store = SealedScores(Path(sealed_path))
        try:
            self.sealed: dict[int, Scores] = self._store.load()
        except (JsonlCorruptError, OSError) as e:
            raise EvaluatorStartError(f"HCE evaluator: its sealed scores cannot be read: {e}") from None
        self._lock = threading.Lock()
        try:
            self._pool = ScoringPool(hce.scorer(), scoring or ScoringLimits())
        except ScoringProcessError as e:
            raise EvaluatorStartError(str(e)) from None

    def public_files(self) -> dict[str, bytes]:
        """The agent-visible task by value (relative path -> bytes), for workers on any node."""
        return {
            str(f.relative_to(self.public_dir)): f.read_bytes()
            for f in sorted(self.public_dir.rglob("*"))
            if f.is_file()
        }

    def score(self, node_id: int, submission: bytes | None, reason: str | None = None) -> SearchScore:
        """Score a submission (None = the agent never submitted; `reason` says why).

        Safe to call from several threads: submissions are scored side by side, up to the pool's size.
        A bad submission is an invalid score with its reason; only a failure of the evaluator itself
        (no scoring process can start, the sealed scores cannot be written) raises.
        """
        if submission is None:
            scores = Scores(valid=False, reason=reason or "no submission")
        else:
            scores = self._pool.score(submission)
        with self._lock:
            self._store.append(node_id, scores)
            self.sealed[node_id] = scores
        return SearchScore(node_id=node_id, valid=scores.valid, search=scores.search, reason=scores.reason)

    def select_final(self, node_ids: list[int], lower_is_better: bool) -> FinalChoice | None:
        """The final answer: best D_val score among the given valid nodes (read once, after search)."""
        with self._lock:
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

    def close(self) -> None:
        """Stop the scoring processes."""
        self._pool.close()


def _write_public_once(hce: HiddenConsistentEvaluation, public: Path) -> None:
    """The agent's copy, written beside and renamed into place, so a crash never leaves half of one."""
    if (public / "description.md").exists():  # every layout's copy has one
        return
    tmp = public.with_name(public.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    hce.write_public(tmp)
    tmp.rename(public)
