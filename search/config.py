"""The search's config section (`search.*`): steady-state evolution and its budget."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class BudgetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    wall_clock_s: float = Field(gt=0)
    max_nodes: int = Field(ge=1)
    grace_s: float = Field(30.0, ge=0)


class SearchConfig(BaseModel):
    """Steady-state evolution: rank selection with temperature T, crossover with probability c."""

    model_config = ConfigDict(extra="forbid")

    num_workers: int = Field(ge=1)
    temperature: float = Field(gt=0, description="T must be > 0 (T -> 0 is greedy)")
    crossover_prob: float = Field(ge=0, le=1)
    num_drafts: int = Field(3, ge=1)
    # evolution: steady-state evolution (AIRA_2); best_of_k: the ablation "no evolution", every job an
    # independent draft (no parent, no crossover), the final pick by D_val as usual.
    strategy: Literal["evolution", "best_of_k"] = "evolution"
    budget: BudgetConfig
