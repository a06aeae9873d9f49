"""The ablation "no HCE" (`hce.enabled=false`): the agent's own validation score is the search's.

Without a hidden split nothing but the competition's test set is scored, and that score goes only to
result.json. What the search ranks nodes by, and what picks the final node, is the validation score
the agent reported when it submitted, in the task's metric (so the metric's direction still holds).
"""

import math

from evaluation.scores import Scores

# result.json's `final_selection` when the final node is picked by the agents' own scores.
SELF_REPORTED = "self_reported"

NO_SELF_REPORT = (
    "no self-reported validation score: with hce.enabled=false the agent must report its own "
    "validation score when it submits (submit's validation_score; a single-turn solution prints "
    "`validation_score: <number>`), and a submission without one cannot be ranked"
)


def with_self_report(scores: Scores, validation_score: float | None) -> Scores:
    """The scores of a submission whose agent reported `validation_score`: that score is its `search`
    score, there is no D_val score, the test score stays sealed. A valid submission without a finite
    self-reported score is invalid, with the reason."""
    if not scores.valid:
        return scores
    if validation_score is None:
        return Scores(valid=False, reason=NO_SELF_REPORT)
    if not math.isfinite(validation_score):
        return Scores(
            valid=False,
            reason=f"the self-reported validation score {validation_score} is not a finite number: "
            "report the model's score on a validation split of train.csv",
        )
    return scores.model_copy(update={"search": float(validation_score), "val": None})


def best_self_reported(scored: list[tuple[int, Scores]], lower_is_better: bool) -> tuple[int, Scores] | None:
    """The valid node with the best self-reported score (its `search`), the earlier node on ties;
    None when there is none."""
    ranked = [(i, s) for i, s in scored if s.valid and s.search is not None]
    if not ranked:
        return None
    sign = -1.0 if lower_is_better else 1.0
    return max(ranked, key=lambda p: (sign * (p[1].search or 0.0), -p[0]))
