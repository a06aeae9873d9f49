"""Scoring a submission on the hidden rows of D_search, D_val and D_test, vectorised end to end.

`HCEScorer` holds what scoring needs and nothing else (the three splits' answers, the opaque ids, the
sample's column types), so it pickles small enough to hand to a child process (evaluation/scoring_pool.py).
"""

import numpy as np
import pandas as pd

from evaluation.grading import grade_aligned
from evaluation.metrics import Metric
from evaluation.scores import Scores
from evaluation.submission import ExpectedIds, SubmissionError, locate_submission
from evaluation.task import TaskSpec

SCORED_SPLITS = ("search", "val", "test")


class HCEScorer:
    """Maps a submission's opaque ids back to (split, row) and grades each split with the task's metric."""

    def __init__(
        self,
        spec: TaskSpec,
        metric: Metric,
        sample: pd.DataFrame,
        answers: dict[str, pd.DataFrame],
        opaque: dict[tuple[str, str], str],
    ) -> None:
        """`answers[split]` in the split's row order; `opaque[(split, original id)]` the agent's id."""
        self.spec = spec
        self.metric = metric  # module-level functions only, so that it pickles
        self._id = spec.id_column
        self._sample = sample.iloc[:0]  # the column types are what is needed, not the rows
        self._answers = {name: answers[name].reset_index(drop=True) for name in SCORED_SPLITS}
        ids: list[str] = []
        split_of: list[np.ndarray] = []
        row_of: list[np.ndarray] = []
        for code, name in enumerate(SCORED_SPLITS):
            originals = self._answers[name][self._id].tolist()
            ids.extend(opaque[(name, row_id)] for row_id in originals)
            split_of.append(np.full(len(originals), code, dtype=np.int8))
            row_of.append(np.arange(len(originals), dtype=np.intp))
        self._expected = ExpectedIds(ids)
        self._split_of = np.concatenate(split_of)
        self._row_of = np.concatenate(row_of)

    def score(self, submission: bytes) -> Scores:
        """Scores on D_search, D_val and D_test (None for a split without rows); invalid (with a
        reason) for a bad submission.

        Raises MemoryError (the caller's limit was reached); never raises for the submission's content.
        """
        targets = list(self.spec.target_columns)
        try:
            table, positions = locate_submission(
                submission,
                self._sample,
                self._id,
                targets,
                self._expected,
                accepts_empty=self.metric.accepts_empty,
            )
        except SubmissionError as e:
            return Scores(valid=False, reason=str(e))
        except MemoryError:
            raise
        except Exception as e:
            return Scores(valid=False, reason=f"submission could not be read ({type(e).__name__}: {e})")
        # The ids are exactly the expected ones, each once (checked): `positions` is a permutation.
        split_of, row_of = self._split_of[positions], self._row_of[positions]
        values: dict[str, float | None] = dict.fromkeys(SCORED_SPLITS)
        for code, name in enumerate(SCORED_SPLITS):
            answers = self._answers[name]
            if answers.empty:  # hce.enabled=false: no D_search, no D_val, nothing to grade there
                continue
            mine = np.flatnonzero(split_of == code)
            order = np.empty(len(answers), dtype=np.intp)
            order[row_of[mine]] = mine
            aligned = table.iloc[order].reset_index(drop=True)
            aligned[self._id] = answers[self._id]  # both indexed 0..n-1: no conversion
            try:
                values[name] = grade_aligned(self.spec, answers, aligned, self.metric)
            except MemoryError:
                raise
            except Exception as e:
                return Scores(
                    valid=False, reason=f"scoring failed on the {name} rows ({type(e).__name__}: {e})"
                )
        return Scores(valid=True, search=values["search"], val=values["val"], test=values["test"])
