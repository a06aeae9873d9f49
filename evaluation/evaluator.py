"""The HCE evaluator of one run: the only holder of hidden labels (its Ray actor is actors/evaluator.py).

It splits once, writes the agent-visible copy of the task, scores submissions on all three hidden
splits in a bounded pool of child processes (evaluation/scoring_pool.py), several at once, and keeps the
sealed scores (val, test) in memory and in `sealed_path`, which only it reads. A restarted evaluator
rebuilds the same splits from the fixed seed and reloads the sealed scores.
"""

import bisect
import itertools
import logging
import os
import shutil
import threading
from pathlib import Path

from evaluation.config import FinalSelection, ScoringLimits
from evaluation.hce import HiddenConsistentEvaluation
from evaluation.layouts import hidden_consistent_evaluation
from evaluation.refit import RefitResult, run_refit
from evaluation.scores import FinalChoice, Scores, SearchScore
from evaluation.scoring_pool import ScoringPool, ScoringProcessError
from evaluation.sealed import SealedScores
from evaluation.selection import SplitCheck, check_split_sizes, pick_final
from evaluation.self_reported import SELF_REPORTED, best_self_reported, with_self_report
from evaluation.task import TaskError, load_task
from sandbox import SandboxConfig
from search.jsonl import JsonlCorruptError

log = logging.getLogger(__name__)

# The agent-visible task travels in chunks of this many bytes of its files (`public_chunk`).
PUBLIC_CHUNK_BYTES = 64 * 2**20


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
        enabled: bool = True,
        final_selection: FinalSelection = "val",
    ) -> None:
        # enabled=False (hce.enabled=false): no hidden split; the agents' self-reported validation
        # scores are the search's scores and pick the final node (evaluation/self_reported.py).
        self.enabled = enabled
        try:
            hce = hidden_consistent_evaluation(load_task(Path(task_dir)), split_seed, fractions, enabled)
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
        # The copy's files, their sizes and where each starts in their concatenation (public_chunk).
        files = [f for f in sorted(public.rglob("*")) if f.is_file()]
        self._manifest = [(str(f.relative_to(public)), f.stat().st_size) for f in files]
        self._offsets = list(itertools.accumulate((size for _, size in self._manifest), initial=0))[:-1]
        self._hce = hce
        self.final_selection: FinalSelection = final_selection
        self._hidden_dir = Path(sealed_path).parent
        self._store = SealedScores(Path(sealed_path))
        try:
            self.sealed: dict[int, Scores] = self._store.load()
        except (JsonlCorruptError, OSError) as e:
            raise EvaluatorStartError(f"HCE evaluator: its sealed scores cannot be read: {e}") from None
        self._lock = threading.Lock()
        self._lower_is_better = hce.task.lower_is_better
        # Made (and logged) once per run: a restarted evaluator has it from the reloaded scores already.
        self._split_check = check_split_sizes(self.sealed, self._lower_is_better)
        try:
            self._pool = ScoringPool(hce.scorer(), scoring or ScoringLimits())
        except ScoringProcessError as e:
            raise EvaluatorStartError(str(e)) from None

    def public_manifest(self) -> tuple[int, list[tuple[str, int]]]:
        """(chunk size, every file of the agent-visible task with its size, in the order of the chunks):
        the task travels to workers on any node as consecutive chunks of its files' bytes
        (`public_chunk`), so no process holds a copy of tens of GB at once."""
        return PUBLIC_CHUNK_BYTES, list(self._manifest)

    def public_chunk(self, index: int) -> bytes:
        """Chunk `index` of the files of `public_manifest`, back to back: bytes [index * chunk size,
        (index + 1) * chunk size) of their concatenation."""
        start, end = index * PUBLIC_CHUNK_BYTES, (index + 1) * PUBLIC_CHUNK_BYTES
        parts = []
        first = max(0, bisect.bisect_right(self._offsets, start) - 1)
        for (rel, size), offset in zip(self._manifest[first:], self._offsets[first:], strict=True):
            if offset >= end:
                break
            if offset + size > start:
                with (self.public_dir / rel).open("rb") as f:
                    f.seek(max(0, start - offset))
                    parts.append(f.read(min(end, offset + size) - max(start, offset)))
        return b"".join(parts)

    def score(
        self,
        node_id: int,
        submission: bytes | None,
        reason: str | None = None,
        validation_score: float | None = None,
    ) -> SearchScore:
        """Score a submission (None = the agent never submitted; `reason` says why). With HCE off,
        `validation_score` (the agent's own) is its search score, and a submission without one is
        invalid.

        Safe to call from several threads: submissions are scored side by side, up to the pool's size.
        A bad submission is an invalid score with its reason; only a failure of the evaluator itself
        (no scoring process can start, the sealed scores cannot be written) raises.
        """
        if submission is None:
            scores = Scores(valid=False, reason=reason or "no submission")
        else:
            scores = self._pool.score(submission)
            if not self.enabled:
                scores = with_self_report(scores, validation_score)
        with self._lock:
            self._store.append(node_id, scores)
            self.sealed[node_id] = scores
            if self._split_check is None and scores.valid:
                self._split_check = check_split_sizes(self.sealed, self._lower_is_better)
                if self._split_check is not None and self._split_check.warning:
                    log.warning("HCE: %s", self._split_check.warning)
        return SearchScore(
            node_id=node_id,
            valid=scores.valid,
            search=scores.search,
            reason=scores.reason,
            search_se=scores.search_se,
        )

    def split_check(self) -> SplitCheck | None:
        """The split-size check, made once the first valid nodes were scored (None before)."""
        with self._lock:
            return self._split_check

    def select_final(self, node_ids: list[int], lower_is_better: bool) -> FinalChoice | None:
        """The final answer among the given valid nodes, by the `final_selection` rule's hidden score
        (read once, after search; evaluation/selection.py); with HCE off, the best self-reported score."""
        with self._lock:
            scored = {i: self.sealed[i] for i in node_ids if i in self.sealed}
        if not self.enabled:
            valid = [(i, s) for i, s in scored.items() if s.valid]
            best = best_self_reported(valid, lower_is_better)
            return FinalChoice(node_id=best[0], scores=best[1], rule=SELF_REPORTED) if best else None
        node_id = pick_final(scored, self.final_selection, lower_is_better)
        if node_id is None:
            return None
        return FinalChoice(node_id=node_id, scores=scored[node_id], rule=self.final_selection)

    def refit(
        self, node_id: int, code: str, agent_data_dir: str, settings: SandboxConfig, timeout_s: float
    ) -> RefitResult:
        """Run the final node's code once more on every labelled row and score it on D_test
        (evaluation/refit.py); an invalid result says why, and the unrefit answer stands."""
        root = self._hidden_dir / "refit"
        try:
            submission, reason, seconds = run_refit(
                code, agent_data_dir, settings, root, self._hce.write_refit, timeout_s
            )
        except OSError as e:
            return RefitResult(node_id=node_id, valid=False, reason=f"the refit could not run: {e}")
        if submission is None:
            return RefitResult(node_id=node_id, valid=False, reason=reason, duration_s=seconds)
        scores = self._hce.scorer().score_refit(submission)
        return RefitResult(
            node_id=node_id,
            valid=scores.valid,
            test=scores.test,
            test_se=scores.test_se,
            reason=None if scores.valid else f"the refit's submission is invalid: {scores.reason}",
            duration_s=seconds,
        )

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
