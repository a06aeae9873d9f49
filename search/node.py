"""A scored node of the search: one candidate solution and what the search knows of it."""

from pydantic import BaseModel, Field

from search.job import Operator


class Node(BaseModel):
    """What the journal records for each finished job.

    Holds the D_search score (and its bootstrap standard error, which rounds it for the agents that
    see it) only: D_val and D_test scores stay sealed in the evaluator.
    """

    id: int
    operator: Operator
    parent_ids: list[int] = Field(default_factory=list)
    valid: bool
    search_score: float | None = None
    search_se: float | None = None
    reason: str | None = None
    worker_id: int
    gpu_ids: list[str] = Field(default_factory=list)
    started_at: float
    ended_at: float
    scored_at: float
    steps: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
