"""Hidden Consistent Evaluation's config section (`hce.*`)."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ScoringLimits(BaseModel):
    """Bounds of the evaluator's scoring (`hce.scoring.*`): each submission is parsed and graded in a
    child process of its own pool, so that one that breaks it is an invalid node, not a dead evaluator."""

    model_config = ConfigDict(extra="forbid")

    # Submissions scored at once: the coordinator hands a worker its next job while the last one is scored.
    processes: int = Field(2, ge=1, le=64)
    # Wall clock for one submission; past it the process is killed and the node is invalid.
    timeout_s: float = Field(600.0, gt=0)
    # Address space of one scoring process (RLIMIT_AS), hidden answers included; 0 = no cap.
    memory_mb: int = Field(8192, ge=0)
    # Tries of a submission whose scoring process died without an answer (a killed or crashed process
    # is retried on a fresh one; a submission that kills every try is invalid).
    attempts: int = Field(2, ge=1, le=10)


FinalSelection = Literal["val", "search", "pooled"]


class HCEConfig(BaseModel):
    """The evaluator's split and scoring. `enabled: false` is the paper's ablation "no HCE": no hidden
    split, the agent reports its own validation score and the search and the final pick use it."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    split_seed: int = 2603
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    scoring: ScoringLimits = ScoringLimits()
    # Which hidden score picks the final node after search (evaluation/selection.py): D_val (the
    # paper's rule), D_search, or the metric on the rows of both together.
    final_selection: FinalSelection = "val"
    # Run the final node's solution.py once more on every labelled row (evaluation/refit.py).
    refit_final: bool = False

    @model_validator(mode="after")
    def _fractions(self) -> "HCEConfig":
        if any(f <= 0 for f in self.fractions) or abs(sum(self.fractions) - 1) > 1e-9:
            raise ValueError("hce.fractions must be three positive numbers summing to 1")
        return self
