"""An input of a time-ordered task that is its target shifted in time (`lagged_target_inputs`): the
agent's test.csv holds the inputs of every hidden row, so the label of day d would be readable off
the inputs of day d + k; so would a near-perfect predictor of it. The builder runs this on every
time-ordered task before writing it; tests/test_redteam_bundled_leaks.py on every bundled one.
"""

from collections.abc import Sequence

import numpy as np
import pandas as pd

from evaluation.bundled.leaks import MIN_OVERLAP, NAN_TOKEN, tokens

# A lagged input is a near copy of the target when it predicts it this well (|Pearson r|), better
# than it does unshifted; an exact copy when it equals the shifted target on this share of the rows.
NEAR_COPY_R = 0.9
EXACT_SHARE = 0.5
# Digits the lag check compares: a copy of the target is exact, and at three digits most values of a
# target would repeat.
LAG_DIGITS = 10


def lagged_target_inputs(
    table: pd.DataFrame, time_column: str, targets: Sequence[str], horizon: int
) -> dict[str, str]:
    """The inputs of a time-ordered table (one row per time step, in any order) that give a target
    away across rows: column -> why.

    The agent's test.csv holds the inputs of every hidden row, so an input of row d + k that is the
    target of row d (an exact copy on EXACT_SHARE of the rows, k = -horizon..horizon, 0 included)
    hands over the hidden labels; so does one that predicts it nearly as well (|Pearson r| of at least
    NEAR_COPY_R at some shift 1 <= |k| <= horizon, and more than the input's unshifted |r|): another
    station's ridership 14 days earlier, read 14 rows later, is that station's ridership on the hidden
    day, which predicts this station's almost perfectly. Exact copies count at every shift with at
    least MIN_OVERLAP rows overlapping, correlations at shifts of at most half the rows: with fewer
    rows in common, two seasonal series correlate at some shift by chance. `horizon`: how far apart a
    hidden row and a row that shows its inputs can be (every later row, to be safe: len(table) - 1)."""
    times = table[time_column]
    if times.duplicated().any():
        raise ValueError(f"{time_column!r} repeats: the lag check needs one row per time step")
    rows = table.iloc[np.argsort(_sortable(times), kind="stable")].reset_index(drop=True)
    horizon = min(horizon, len(rows) - MIN_OVERLAP)
    inputs = [c for c in rows.columns if c != time_column and c not in targets]
    found: dict[str, str] = {}
    for target in targets:
        y_tokens = tokens(rows[target], LAG_DIGITS)
        y = _filled(pd.to_numeric(rows[target], errors="coerce").to_numpy(dtype=float))
        for column in inputs:
            shift = _exact_shift(tokens(rows[column], LAG_DIGITS), y_tokens, horizon)
            if shift is not None:
                found.setdefault(column, f"equals {target} {_shifted(shift)}")
                continue
            if (
                horizon < 1
                or len(rows) < 2 * MIN_OVERLAP
                or not pd.api.types.is_numeric_dtype(rows[column].dtype)
            ):
                continue
            x = _filled(rows[column].to_numpy(dtype=float, na_value=np.nan))
            reach = min(horizon, len(rows) // 2)
            later, earlier = _lagged_r(x, y, reach), _lagged_r(y, x, reach)
            for sign, r in ((1, later), (-1, earlier)):
                k = int(np.argmax(r[1:])) + 1
                if r[k] >= NEAR_COPY_R and r[k] > r[0]:
                    why = (
                        f"{_shifted(sign * k)} predicts {target} with |r| = {r[k]:.3f} (unshifted {r[0]:.3f})"
                    )
                    found.setdefault(column, why)
    return found


def _shifted(shift: int) -> str:
    """How input row d + shift relates to target row d, in words."""
    if shift == 0:
        return "on the same row"
    return f"{abs(shift)} row(s) {'later' if shift > 0 else 'earlier'}"


def _sortable(times: pd.Series) -> np.ndarray:
    numbers = pd.to_numeric(times, errors="coerce")
    if numbers.notna().all():
        return numbers.to_numpy()
    return pd.to_datetime(times, format="mixed").to_numpy()


def _filled(values: np.ndarray) -> np.ndarray:
    """Missing values as the column's mean (they then add nothing to a correlation)."""
    known = np.isfinite(values)
    return np.where(known, values, values[known].mean() if known.any() else 0.0)


def _exact_shift(x: np.ndarray, y: np.ndarray, horizon: int) -> int | None:
    """A shift k (|k| <= horizon) with x[i + k] == y[i] on EXACT_SHARE of the overlapping rows, else
    None. Only target values that occur once are looked up, so each input cell pairs with one target
    cell at most (a target of few values is left to the correlation)."""
    n = len(x)
    where = pd.Series(np.arange(n), index=y)
    where = where[~where.index.duplicated(keep=False) & (where.index != NAN_TOKEN)]
    found = where.reindex(x).to_numpy()
    hit = ~np.isnan(found)
    shifts = np.arange(n)[hit] - found[hit].astype(int)
    counts = np.bincount(shifts + n, minlength=2 * n + 1)
    for shift in sorted(range(-horizon, horizon + 1), key=abs):
        if counts[shift + n] >= max(MIN_OVERLAP, EXACT_SHARE * (n - abs(shift))):
            return shift
    return None


def _lagged_r(x: np.ndarray, y: np.ndarray, horizon: int) -> np.ndarray:
    """|Pearson r| of x[i + k] against y[i] for k = 0..horizon, all at once: the sums of products
    from one FFT cross-correlation, the windows' sums and sums of squares from cumulative sums."""
    n = len(x)
    x, y = x - x.mean(), y - y.mean()
    size = 1 << (2 * n - 1).bit_length()
    products = np.fft.irfft(np.fft.rfft(x, size) * np.conj(np.fft.rfft(y, size)), size)[: horizon + 1]
    k = np.arange(horizon + 1)
    m = n - k
    cx, cxx = np.concatenate([[0.0], np.cumsum(x)]), np.concatenate([[0.0], np.cumsum(x * x)])
    cy, cyy = np.concatenate([[0.0], np.cumsum(y)]), np.concatenate([[0.0], np.cumsum(y * y)])
    sx, sxx = cx[n] - cx[k], cxx[n] - cxx[k]  # x[k:]
    sy, syy = cy[m], cyy[m]  # y[:n - k]
    covariance = products - sx * sy / m
    variance = np.clip(sxx - sx * sx / m, 0, None) * np.clip(syy - sy * sy / m, 0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.abs(covariance) / np.sqrt(variance)
    return np.where(variance > 1e-12 * max(float(cxx[n] * cyy[n]), 1e-300), r, 0.0)
