"""Bootstrap standard errors of a hidden score: rows (or whole groups) resampled, the metric recomputed.

Any metric works the same way, per-row mean or not (AUC, kappa, log-MAE by type): each resample grades
the resampled rows with the task's own metric. The cost is bounded twice: `RESAMPLES` resamples, each
of at most `MAX_UNITS` rows or groups. A split with more units than that is bootstrapped m-out-of-n
(m = MAX_UNITS draws per resample) and the spread rescaled by sqrt(m / n), which is exact for a mean
and the usual first-order correction for any smooth, root-n metric, with HUGE_RESAMPLES resamples.
AUC, the most common grader and the slowest to recompute, grades all its resamples at once
(`auc_of_resamples`). The seed is fixed, so the same submission always gets the same standard error.
"""

from collections.abc import Callable

import numpy as np

RESAMPLES = 100
MAX_UNITS = 5_000
# Resamples of a split above MAX_UNITS: a metric recomputed 100 times on each of a 1M-row submission's
# four scores (multi-class log loss: ~10 ms a resample, pandas' row selection included) would triple
# its scoring time; 50 keep the SE within ~10% of itself.
HUGE_RESAMPLES = 50
# Resamples a metric may refuse (e.g. AUC of a resample holding one class); past this share, no SE.
MAX_FAILED_SHARE = 0.5
_SEED = 20260326


def group_rows(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows ordered by group, first position of each group in that order, rows per group)."""
    _, codes = np.unique(groups, return_inverse=True)
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    return order, starts, counts


def resample_rows(
    rng: np.random.Generator,
    n_rows: int,
    groups: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    draws: int,
) -> np.ndarray:
    """Row positions of one resample: `draws` rows with replacement, or `draws` whole groups."""
    if groups is None:
        return rng.integers(0, n_rows, draws)
    order, starts, counts = groups
    chosen = rng.integers(0, len(counts), draws)
    sizes = counts[chosen]
    # Each chosen group's rows, back to back: its start repeated, plus 0..size-1 within the group.
    offsets = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    return order[np.repeat(starts[chosen], sizes) + offsets]


def bootstrap_se(
    grade: Callable[[np.ndarray], float],
    n_rows: int,
    groups: np.ndarray | None = None,
    resamples: int = RESAMPLES,
    max_units: int = MAX_UNITS,
    grade_all: Callable[[np.ndarray], np.ndarray] | None = None,
) -> float | None:
    """The bootstrap standard error of `grade(all rows)`; `grade(rows)` grades the rows at those positions.

    `groups` (one label per row) resamples whole groups, so rows that belong together (a patient, a
    breath) stay together. `grade_all`, where the metric has one (AUC), grades every ungrouped resample
    at once: a (resamples, draws) array of row positions in, one value per resample out (NaN for one it
    cannot grade). None when there are fewer than two units or most resamples fail to grade.
    """
    grouped = group_rows(groups) if groups is not None else None
    units = n_rows if grouped is None else len(grouped[2])
    if units < 2:
        return None
    draws, resamples = _plan(units, resamples, max_units)
    rng = np.random.default_rng(_SEED)
    if grade_all is not None and grouped is None:
        values = [float(v) for v in grade_all(rng.integers(0, n_rows, (resamples, draws)))]
    else:
        values = []
        for _ in range(resamples):
            try:
                values.append(grade(resample_rows(rng, n_rows, grouped, draws)))
            except MemoryError:
                raise
            except Exception:  # a metric's refusal of this resample (e.g. ValueError): the others count
                continue
    return _spread(values, resamples, draws, units)


def bootstrap_se_of_sums(
    stats: np.ndarray,
    from_sums: Callable[[np.ndarray], np.ndarray],
    groups: np.ndarray | None = None,
    resamples: int = RESAMPLES,
    max_units: int = MAX_UNITS,
) -> float | None:
    """`bootstrap_se` of a metric of summed per-row statistics (evaluation/metric_sums.py): `stats`
    (one row per answer row) summed once per unit (a row, or a group), a resample scored from the sums
    of the units it drew. It draws the same units as `bootstrap_se`, so it gives the same error."""
    stats = np.asarray(stats, dtype=float).reshape(len(stats), -1)
    if groups is None:
        unit_sums = stats
    else:
        order, starts, _ = group_rows(groups)
        unit_sums = np.add.reduceat(stats[order], starts, axis=0) if len(stats) else stats
    units = len(unit_sums)
    if units < 2:
        return None
    draws, resamples = _plan(units, resamples, max_units)
    rng = np.random.default_rng(_SEED)
    chosen = np.stack([rng.integers(0, units, draws) for _ in range(resamples)])
    values = [float(v) for v in from_sums(unit_sums[chosen].sum(axis=1))]
    return _spread(values, resamples, draws, units)


def _plan(units: int, resamples: int, max_units: int) -> tuple[int, int]:
    """(units drawn per resample, resamples): m-out-of-n past `max_units`, with fewer resamples."""
    if units > max_units:
        return max_units, min(resamples, HUGE_RESAMPLES)
    return units, resamples


def _spread(values: list[float], resamples: int, draws: int, units: int) -> float | None:
    """The standard error from the resamples' values (rescaled for m-out-of-n); None when too many
    resamples could not be graded."""
    values = [v for v in values if np.isfinite(v)]
    if len(values) < max(2, (1 - MAX_FAILED_SHARE) * resamples):
        return None
    return float(np.std(values, ddof=1) * np.sqrt(draws / units))


def auc_of_resamples(truth: np.ndarray, guess: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """`grade_all` for auc-roc (evaluation/metrics.py: the mean of the column-wise AUCs): per resample,
    the Mann-Whitney statistic from mid-ranks, sorted along each row of the (resamples, draws) array."""

    from scipy.stats import rankdata  # SciPy only where AUC standard errors are computed

    def grade_all(rows: np.ndarray) -> np.ndarray:
        aucs = []
        for column in range(truth.shape[1]):
            y, score = truth[rows, column] == 1, guess[rows, column]
            ranks = rankdata(score, axis=1)
            positives = y.sum(axis=1)
            negatives = y.shape[1] - positives
            with np.errstate(divide="ignore", invalid="ignore"):
                u = (ranks * y).sum(axis=1) - positives * (positives + 1) / 2
                aucs.append(np.where((positives > 0) & (negatives > 0), u / (positives * negatives), np.nan))
        return np.mean(aucs, axis=0)

    return grade_all
