"""What an experiment worker returns for one job: the agent's solution and how it got there."""

from typing import Any

from pydantic import BaseModel, Field


class Step(BaseModel):
    """One ReAct step: the assistant's turn and the observation of each tool it called."""

    index: int
    reasoning: str = ""
    tool: str | None = None
    arguments: dict[str, Any] | str | None = None
    observation: str = ""
    duration_s: float = 0.0
    error: str | None = None


class Trajectory(BaseModel):
    """The whole episode: the chat messages exchanged and the structured steps."""

    messages: list[dict[str, Any]] = Field(default_factory=list)
    steps: list[Step] = Field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    compactions: int = 0  # how often the request was compacted to fit the context window


class Candidate(BaseModel):
    """A candidate solution produced by one episode.

    `submission` is the CSV the agent submitted (bytes), None when it never submitted;
    `reason` then says why (no submit, budget, policy errors, ...). `validation_score` is the score
    the agent reported for its own solution (hce.enabled=false only; None otherwise).
    """

    node_id: int
    code: str = ""
    submission: bytes | None = None
    validation_score: float | None = None
    trajectory: Trajectory = Field(default_factory=Trajectory)
    reason: str | None = None
    worker_id: int
    gpu_ids: list[str] = Field(default_factory=list)
    started_at: float
    ended_at: float
