"""The agent's config section (`agent.*`): the limits of one ReAct episode."""

from pydantic import BaseModel, ConfigDict, Field


class AgentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_steps: int = Field(ge=1)
    max_consecutive_errors: int = Field(3, ge=1)
    observation_chars: int = Field(4000, ge=200)
