"""Scores of one submission under Hidden Consistent Evaluation, and how an agent is shown one."""

import math
from typing import NamedTuple

from pydantic import BaseModel

# Significant digits of a score shown without a standard error (none, zero or not finite).
SHOWN_DIGITS = 3


class Scores(BaseModel):
    """A submission's scores on the three hidden splits.

    Only the evaluator ever holds a full `Scores`; the search sees `search` alone,
    `val` is read once after search for the final choice, `test` goes to the report.
    An invalid submission has `valid=False`, no scores and a `reason` naming the problem.
    With hce.enabled=false there is no D_search or D_val: `search` is the validation score the agent
    reported itself (evaluation/self_reported.py) and `val` is None.
    Each score has its bootstrap standard error (`*_se`; None where the split is too small to resample).
    `pooled` is the metric on the rows of D_search and D_val together (the `pooled` selection rule);
    like `val`, it is read only after search.
    """

    valid: bool
    search: float | None = None
    val: float | None = None
    test: float | None = None
    reason: str | None = None
    search_se: float | None = None
    val_se: float | None = None
    test_se: float | None = None
    pooled: float | None = None
    pooled_se: float | None = None


class SearchScore(BaseModel):
    """What the search may know of a submission: validity, the D_search score and its standard error."""

    node_id: int
    valid: bool
    search: float | None = None
    reason: str | None = None
    search_se: float | None = None


class FinalChoice(BaseModel):
    node_id: int
    scores: Scores
    rule: str = "val"  # the hidden score that picked it (hce.final_selection)


class ShownScore(NamedTuple):
    """A D_search score as an agent sees it: `value` rounded, `se` its standard error rounded to one
    significant digit (None without one), and `text`, both in words: "0.83 ± 0.01", or "0.834"."""

    value: float
    se: float | None
    text: str


def shown_score(score: float, se: float | None) -> ShownScore:
    """What an agent may learn of a D_search score (a parent's, in its prompt and its job facts).

    Exact scores would let an agent spend its submissions as label queries (change a few predictions,
    read the score's change), so the score is shown no finer than its noise: the standard error is
    rounded to its leading significant digit and the score to the same decimal place (0.83412 with SE
    0.0137 -> 0.83 ± 0.01; 1234.5 with SE 56 -> 1230 ± 60). Without a usable standard error (None,
    0, not finite: a split too small to resample, a perfect score, a self-reported one) the score is
    rounded to SHOWN_DIGITS significant digits (0.83412 -> 0.834). A score that is not finite is
    shown as it is. The search itself ranks by exact scores; this is for the agent only.
    """
    if not math.isfinite(score):
        return ShownScore(score, None, str(score))
    if se is not None and math.isfinite(se) and se > 0:
        places = _places(se, 1)
        shown_se = float(round(se, places))
        value = float(round(score, places))
        return ShownScore(value, shown_se, f"{_fixed(value, places)} ± {_fixed(shown_se, places)}")
    if score == 0:
        return ShownScore(0.0, None, "0")
    places = _places(score, SHOWN_DIGITS)
    value = float(round(score, places))
    return ShownScore(value, None, _fixed(value, places))


def _places(x: float, digits: int) -> int:
    """The decimal places that keep `digits` significant digits of `x` (negative: tens, hundreds),
    once rounded: 0.0096 to one digit is 0.01, two places, not three."""
    places = digits - 1 - math.floor(math.log10(abs(x)))
    rounded = round(x, places)
    if rounded and math.floor(math.log10(abs(rounded))) > math.floor(math.log10(abs(x))):
        places -= 1
    return places


def _fixed(x: float, places: int) -> str:
    return f"{x:.{max(0, places)}f}"
