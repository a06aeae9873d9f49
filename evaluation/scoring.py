"""Scoring a submission on the hidden rows of D_search, D_val and D_test, vectorised end to end.

`HCEScorer` holds what scoring needs and nothing else (the three splits' answers, the opaque ids, the
sample's column types), so it pickles small enough to hand to a child process (evaluation/scoring_pool.py).
"""

import numpy as np
import pandas as pd

from evaluation.grading import grade_with_se
from evaluation.metrics import Metric
from evaluation.scores import Scores
from evaluation.submission import ExpectedIds, SubmissionError, locate_submission, row_keys
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
        groups: dict[str, np.ndarray | None] | None = None,
        required: list[str] | None = None,
    ) -> None:
        """`answers[split]` in the split's row order; `opaque[(split, original id)]` the agent's id;
        `groups[split]` the group of each of its rows, for grouped tasks (whole groups are resampled).

        A submission holds exactly the rows of the three splits' answers, each once; or, where
        `required` is given (h-and-m: every customer, scored or not), exactly those keys, of which
        each split's answers score some, the same row possibly in two splits."""
        self.spec = spec
        self.metric = metric  # module-level functions only, so that it pickles
        self._id = spec.id_column
        self._sample = sample.iloc[:0]  # the column types are what is needed, not the rows
        self._answers = {name: answers[name].reset_index(drop=True) for name in SCORED_SPLITS}
        self._groups = {name: (groups or {}).get(name) for name in SCORED_SPLITS}
        keys: dict[str, list[str]] = {}
        for name in SCORED_SPLITS:
            originals = self._answers[name][self._id].tolist()
            # A row is keyed by its opaque id (and, uw-madison, its key columns' cells).
            hidden = self._answers[name].assign(**{self._id: [opaque[(name, i)] for i in originals]})
            keys[name] = row_keys(hidden, self._id, spec.key_columns).tolist()
        # `_index[split][k]`: the position of answer k's key among the expected keys.
        self._index: dict[str, np.ndarray] = {}
        if required is None:
            self._expected = ExpectedIds([key for name in SCORED_SPLITS for key in keys[name]])
            start = 0
            for name in SCORED_SPLITS:
                self._index[name] = np.arange(start, start + len(keys[name]), dtype=np.intp)
                start += len(keys[name])
            # A refit's submission (evaluation/refit.py) predicts the D_test rows alone, under the same ids.
            self._refit_expected = ExpectedIds(keys["test"])
            self._refit_index = np.arange(len(keys["test"]), dtype=np.intp)
        else:
            self._expected = ExpectedIds(required)
            for name in SCORED_SPLITS:
                found = self._expected.positions(pd.Series(keys[name], dtype=object))
                if (found < 0).any():
                    raise ValueError(f"the {name} answers hold a key that the required rows lack")
                self._index[name] = found
            self._refit_expected, self._refit_index = self._expected, self._index["test"]

    def _read(self, submission: bytes, expected: ExpectedIds) -> tuple[pd.DataFrame, np.ndarray] | Scores:
        """The parsed table and each expected id's row in it, or an invalid score saying why."""
        try:
            return locate_submission(
                submission,
                self._sample,
                self._id,
                list(self.spec.target_columns),
                expected,
                accepts_empty=self.metric.accepts_empty,
                key_columns=self.spec.key_columns,
            )
        except SubmissionError as e:
            return Scores(valid=False, reason=str(e))
        except MemoryError:
            raise
        except Exception as e:
            return Scores(valid=False, reason=f"submission could not be read ({type(e).__name__}: {e})")

    def _aligned(self, table: pd.DataFrame, rows: np.ndarray, name: str) -> pd.DataFrame:
        """The submission's rows for split `name`, in the answers' order (`rows[k]`: answer k's row)."""
        aligned = table.iloc[rows].reset_index(drop=True)
        aligned[self._id] = self._answers[name][self._id]  # both indexed 0..n-1: no conversion
        return aligned

    def _grade(
        self, name: str, answers: pd.DataFrame, aligned: pd.DataFrame, groups: np.ndarray | None
    ) -> tuple[float, float | None] | Scores:
        try:
            return grade_with_se(self.spec, answers, aligned, self.metric, groups)
        except MemoryError:
            raise
        except Exception as e:
            return Scores(valid=False, reason=f"scoring failed on the {name} rows ({type(e).__name__}: {e})")

    def score(self, submission: bytes) -> Scores:
        """Scores on D_search, D_val and D_test with their standard errors, and the pooled D_search +
        D_val score; invalid (with a reason) for a bad submission.

        Raises MemoryError (the caller's limit was reached); never raises for the submission's content.
        """
        read = self._read(submission, self._expected)
        if isinstance(read, Scores):
            return read
        table, positions = read
        # The keys are exactly the expected ones, each once (checked): `positions` is a permutation.
        row_of = np.empty(len(positions), dtype=np.intp)
        row_of[positions] = np.arange(len(positions))
        graded: dict[str, tuple[float | None, float | None]] = dict.fromkeys(SCORED_SPLITS, (None, None))
        aligned: dict[str, pd.DataFrame] = {}
        for name in SCORED_SPLITS:
            if self._answers[name].empty:  # hce.enabled=false: no D_search, no D_val, nothing to grade there
                continue
            aligned[name] = self._aligned(table, row_of[self._index[name]], name)
            result = self._grade(name, self._answers[name], aligned[name], self._groups[name])
            if isinstance(result, Scores):
                return result
            graded[name] = result
        pooled = self._pooled(aligned)
        return Scores(
            valid=True,
            search=graded["search"][0],
            val=graded["val"][0],
            test=graded["test"][0],
            search_se=graded["search"][1],
            val_se=graded["val"][1],
            test_se=graded["test"][1],
            pooled=pooled[0],
            pooled_se=pooled[1],
        )

    def _pooled(self, aligned: dict[str, pd.DataFrame]) -> tuple[float | None, float | None]:
        """The metric on the union of the D_search and D_val rows (not the mean of their two scores)."""
        names = ("search", "val")
        if any(n not in aligned for n in names):  # hce.enabled=false: neither split exists
            return (None, None)
        answers = pd.concat([self._answers[n] for n in names], ignore_index=True)
        mine = pd.concat([aligned[n] for n in names], ignore_index=True)
        parts = [self._groups[n] for n in names]
        groups = None if parts[0] is None or parts[1] is None else np.concatenate([parts[0], parts[1]])
        result = self._grade("pooled", answers, mine, groups)
        return (None, None) if isinstance(result, Scores) else result

    def score_refit(self, submission: bytes) -> Scores:
        """The D_test score (and SE) of a refit's submission, which predicts the D_test rows only (or
        the required rows, where the task has them)."""
        read = self._read(submission, self._refit_expected)
        if isinstance(read, Scores):
            return read
        table, positions = read
        row_of = np.empty(len(positions), dtype=np.intp)
        row_of[positions] = np.arange(len(positions))  # positions[table row] = expected key: inverted
        aligned = self._aligned(table, row_of[self._refit_index], "test")
        result = self._grade("test", self._answers["test"], aligned, self._groups["test"])
        if isinstance(result, Scores):
            return result
        return Scores(valid=True, test=result[0], test_se=result[1])
