"""result.json: the outcome of one run, as DESIGN.md specifies it."""

from typing import Any

from pydantic import BaseModel, Field


class RunResult(BaseModel):
    task: str
    seed: int
    best_node: int | None
    search_score: float | None
    val_score: float | None
    test_score: float | None
    percentile_rank: float | None
    medal: str | None
    above_median: bool | None
    leaderboard_kind: str | None
    nodes: int
    valid_nodes: int
    best_search_node: int | None
    workers: int
    jobs_per_worker: dict[int, int]
    wall_s: float
    experiments_per_hour: float
    policy: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None = None  # at policy.budget's prices, when they are configured
    budget_stop: str | None = None  # set when the token or cost budget stopped new jobs
    disk_full: str | None = None  # set when a full disk stopped dispatching (continue with resume=)
    restarts: int = 0  # times the search coordinator crashed and came back by itself
    # The rule that picked best_node: hce.final_selection ("val", "search", "pooled"), or "self_reported"
    # (hce.enabled=false: the agents' own validation scores; search_score is then the final node's).
    final_selection: str = "val"
    # Each outage of the policy server (started_at, ended_at, error, duration_s): dispatch was held.
    outages: list[dict[str, Any]] = Field(default_factory=list)
    run_dir: str
    started_at: float | None = None  # unix time this run (or its latest resume) started and ended
    ended_at: float | None = None
    # HCE's noise (evaluation/bootstrap.py): bootstrap standard errors of the final node's scores.
    search_score_se: float | None = None
    val_score_se: float | None = None
    test_score_se: float | None = None
    # The split-size check (evaluation/selection.py: SplitCheck) and its warning, when it fired.
    split_check: dict[str, Any] | None = None
    split_warning: str | None = None
    # hce.refit_final: the final node's code rerun on every labelled row, scored on D_test; when it
    # failed, refit_error says why and test_score (the unrefit answer) stands.
    refit_test_score: float | None = None
    refit_test_score_se: float | None = None
    refit_error: str | None = None


# How result.json's final_selection picked the final node, in words.
SELECTION_RULES = {
    "val": "best D_val",
    "search": "best D_search",
    "pooled": "best D_search + D_val",
    "self_reported": "best self-reported score",
}


def selection_words(rule: str | None) -> str:
    """The rule that picked the final node, in words (`val` when a result predates the field)."""
    return SELECTION_RULES.get(rule or "val", rule or "val")


def search_score_name(rule: str | None) -> str:
    """What a node's search score is: its D_search score, or with hce.enabled=false (final_selection
    `self_reported`) the validation score the agent reported itself."""
    return "self-reported score" if rule == "self_reported" else "D_search score"
