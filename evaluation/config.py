"""Hidden Consistent Evaluation's config section (`hce.*`)."""

from pydantic import BaseModel, ConfigDict, model_validator


class HCEConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    split_seed: int = 2603
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)

    @model_validator(mode="after")
    def _fractions(self) -> "HCEConfig":
        if any(f <= 0 for f in self.fractions) or abs(sum(self.fractions) - 1) > 1e-9:
            raise ValueError("hce.fractions must be three positive numbers summing to 1")
        return self
