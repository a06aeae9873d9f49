"""Metrics that are a function of column sums of per-row statistics, for fast bootstrap standard errors.

MCC is a function of the confusion counts, MAE of (sum of |error|, cells), RMSE of (sum of error²,
cells), a micro F1 (kuzushiji's, label sets') of summed (tp, fp, fn), a mean of per-row values
(hubmap's Dice, Levenshtein, Jaccard, MAP@k) of (their sum, rows), gesture's edit distance of (sum of
distances, true gestures), uw's Dice-Hausdorff combo of the sums of its Dice and of its case-days'
distances. For such a metric a resample's score needs only the sums of its units' statistics: each
row's (or group's) statistics are computed once, and a resample adds up the ones it drew
(evaluation/bootstrap.py `bootstrap_se_of_sums`), instead of regrading the resampled rows. The
metric's own function still grades the whole split; `from_sums` of all the rows' sums equals it.
"""

import functools
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pandas as pd

from evaluation.location_metrics import f1_of_counts, kuzushiji_counts
from evaluation.mask_metrics import dice_per_image, uw_combo_of_sums, uw_row_stats
from evaluation.text_metrics import (
    ap_at_k,
    gesture_row_stats,
    jaccard_cells,
    label_set_counts,
    levenshtein_cells,
)

RowStats = Callable[[pd.DataFrame, pd.DataFrame, list[str]], np.ndarray]
RowValues = RowStats  # one value per row, or per cell (rows x target columns)


class Sums(NamedTuple):
    """`row_stats(answers, submission, targets)`: one row of statistics per answer row (n, k);
    `from_sums(sums)`: the metric of each row of an (r, k) array of summed statistics (r values).
    `grouped_only`: a statistic of several rows sits on one of them (uw's distance of a case-day), so
    the sums serve resamples of whole groups only; rows resampled one by one are regraded."""

    row_stats: RowStats
    from_sums: Callable[[np.ndarray], np.ndarray]
    grouped_only: bool = False


def _errors(answers: pd.DataFrame, submission: pd.DataFrame, targets: list[str]) -> np.ndarray:
    return answers[targets].to_numpy(dtype=float) - submission[targets].to_numpy(dtype=float)


def _absolute_errors(answers: pd.DataFrame, submission: pd.DataFrame, targets: list[str]) -> np.ndarray:
    return np.abs(_errors(answers, submission, targets))


def _squared_errors(answers: pd.DataFrame, submission: pd.DataFrame, targets: list[str]) -> np.ndarray:
    return _errors(answers, submission, targets) ** 2


def _mean(sums: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(sums[:, 0] / sums[:, 1], dtype=float)


def _root_mean(sums: np.ndarray) -> np.ndarray:
    return np.sqrt(_mean(sums))


def confusion_counts(answers: pd.DataFrame, submission: pd.DataFrame, targets: list[str]) -> np.ndarray:
    """Each row's (tp, tn, fp, fn) over its 0/1 target cells (a cell is positive when it is 1)."""
    truth = answers[targets].to_numpy(dtype=float) == 1
    guess = submission[targets].to_numpy(dtype=float) == 1
    return np.column_stack(
        [(truth & guess).sum(1), (~truth & ~guess).sum(1), (~truth & guess).sum(1), (truth & ~guess).sum(1)]
    ).astype(float)


def matthews_of_counts(sums: np.ndarray) -> np.ndarray:
    """The Matthews correlation of each row of summed (tp, tn, fp, fn); 0 where it is undefined."""
    tp, tn, fp, fn = sums.T
    denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator == 0, 0.0, (tp * tn - fp * fn) / denominator)


def _with_counts(values: np.ndarray) -> np.ndarray:
    """(sum of a row's values, how many) from its values (one column per cell, or a vector)."""
    cells = values.reshape(len(values), -1)
    return np.column_stack([cells.sum(axis=1), np.full(len(cells), cells.shape[1], dtype=float)])


def _mean_of(values: RowValues) -> RowStats:
    """The row statistics of a metric that is the mean of per-row (or per-cell) values; a partial of
    module-level functions, so that the metric pickles (it goes to the evaluator's scoring process)."""
    return functools.partial(_values_with_counts, values)


def _values_with_counts(
    values: RowValues, answers: pd.DataFrame, submission: pd.DataFrame, targets: list[str]
) -> np.ndarray:
    return _with_counts(values(answers, submission, targets))


MEAN_ABSOLUTE = Sums(_mean_of(_absolute_errors), _mean)
ROOT_MEAN_SQUARED = Sums(_mean_of(_squared_errors), _root_mean)
MATTHEWS = Sums(confusion_counts, matthews_of_counts)
MEAN_DICE = Sums(_mean_of(dice_per_image), _mean)
LEVENSHTEIN = Sums(_mean_of(levenshtein_cells), _mean)
JACCARD = Sums(_mean_of(jaccard_cells), _mean)
MAP_AT_5, MAP_AT_12 = Sums(_mean_of(ap_at_k(5)), _mean), Sums(_mean_of(ap_at_k(12)), _mean)
GESTURE_EDIT = Sums(gesture_row_stats, _mean)  # (distance, true gestures) per row: a ratio of sums
MICRO_F1 = Sums(label_set_counts, f1_of_counts)
KUZUSHIJI_F1 = Sums(kuzushiji_counts, f1_of_counts)
# A Dice per slice and class, a distance per case-day: uw's resamples draw whole cases (gi_tract.py).
DICE_HAUSDORFF = Sums(uw_row_stats, uw_combo_of_sums, grouped_only=True)
