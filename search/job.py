"""The unit of work the coordinator hands to an experiment worker."""

from typing import Literal

from pydantic import BaseModel, Field

Operator = Literal["draft", "mutate", "crossover"]


class Parent(BaseModel):
    """A parent solution as the agent sees it: its code and its D_search score only, exact here with its
    standard error (None: none), rounded to it before any agent sees it (evaluation.scores.shown_score)."""

    node_id: int
    code: str
    search_score: float
    search_se: float | None = None


class Job(BaseModel):
    """One ReAct episode to run: draft (no parent), mutate (one parent) or crossover (two)."""

    node_id: int
    operator: Operator
    parents: list[Parent] = Field(default_factory=list)
    seed: int
    deadline: float = Field(description="unix time by which the episode must have ended")
