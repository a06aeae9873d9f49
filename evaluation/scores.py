"""Scores of one submission under Hidden Consistent Evaluation."""

from pydantic import BaseModel


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
