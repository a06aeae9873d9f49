"""The final pick after search (`hce.final_selection`) and the check that the hidden splits can tell the
best nodes apart (their standard errors against the spread of the top D_search scores)."""

import statistics

from pydantic import BaseModel

from evaluation.config import FinalSelection
from evaluation.scores import Scores

# The split-size check waits for this many valid nodes and compares the best this many of them.
CHECK_NODES = 5


def _rule_score(scores: Scores, rule: FinalSelection) -> float | None:
    return {"val": scores.val, "search": scores.search, "pooled": scores.pooled}[rule]


def pick_final(scored: dict[int, Scores], rule: FinalSelection, lower_is_better: bool) -> int | None:
    """The node whose `rule` score is best among the valid ones; None when none has that score.

    Ties (common on small splits) go to the better D_search score (D_val for the `search` rule), then to
    the earlier node.
    """
    sign = -1.0 if lower_is_better else 1.0
    tie: FinalSelection = "val" if rule == "search" else "search"
    candidates = [
        (sign * value, sign * (_rule_score(s, tie) or 0.0), -node_id)
        for node_id, s in scored.items()
        if s.valid and (value := _rule_score(s, rule)) is not None
    ]
    return -max(candidates)[2] if candidates else None


class SplitCheck(BaseModel):
    """Whether D_search and D_val are large enough to rank the best nodes (result.json `split_check`).

    `search_se` / `val_se`: the median standard error of those splits' scores over the nodes checked;
    `top_spread`: the range of the best `nodes` distinct D_search scores. `warning` is set when that
    range is within one standard error: the hidden splits cannot tell the top candidates apart (never
    when the nodes all have one score: their predictions are the same, whatever the split's size).
    """

    nodes: int
    search_se: float | None
    val_se: float | None
    top_spread: float
    warning: str | None = None


def check_split_sizes(
    scored: dict[int, Scores], lower_is_better: bool, n: int = CHECK_NODES
) -> SplitCheck | None:
    """The check on the first `n` valid nodes (by id, so a restart repeats it); None until there are `n`."""
    first = [scored[i] for i in sorted(scored) if scored[i].valid and scored[i].search is not None][:n]
    if len(first) < n:
        return None
    search = sorted({s.search for s in first if s.search is not None}, reverse=not lower_is_better)
    top_spread = abs(search[0] - search[-1])
    search_se = _median([s.search_se for s in first])
    val_se = _median([s.val_se for s in first])
    typical = max((se for se in (search_se, val_se) if se is not None), default=None)
    warning = None
    # One distinct score: the nodes submitted the same predictions, there is nothing to tell apart.
    if typical is not None and len(search) > 1 and top_spread <= typical:
        warning = (
            f"the hidden splits are too small to rank the best nodes: the best {n} D_search scores span "
            f"{top_spread:.4g}, within one standard error (D_search {_fmt(search_se)}, D_val "
            f"{_fmt(val_se)}); the final pick may be noise. Give D_search and D_val more rows "
            "(hce.fractions, e.g. [0.6, 0.2, 0.2]), add labelled data, or group rows that belong together "
            "(task.group_column); see README, Hidden Consistent Evaluation"
        )
    return SplitCheck(nodes=n, search_se=search_se, val_se=val_se, top_spread=top_spread, warning=warning)


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"
