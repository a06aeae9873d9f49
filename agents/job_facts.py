"""The job's facts in machine-readable form, sent beside the prompt with every policy request.

Real servers ignore the field (vLLM's OpenAI server accepts unknown request fields and logs them as
ignored); the scripted baseline reads it instead of parsing the prompt's prose, so the prompt
templates can change freely.
"""

from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from agents.task_card import TaskCard

# The request body field that carries the facts.
FACTS_FIELD = "aira_job"

# How the agent works: a ReAct episode, or the single-turn operator (agent.operator).
Form = Literal["react", "single_turn"]


class ParentFacts(BaseModel):
    """One parent: its node, its search score and the score's standard error as the agent may see them
    (rounded to that error: evaluation/scores.py shown_score), its file in the workspace and its code."""

    node_id: int
    search_score: float
    file: str
    code: str
    search_se: float | None = None


class JobFacts(BaseModel):
    """What the worker knows about the job: the operator, its parents and the task card, and the
    request's place in the episode: `turn` assistant turns came before it (compaction may have
    removed some of them from the request's messages). `form`: a ReAct episode, or a call of the
    single-turn operator (its `turn` is the debug round, 0 for the first script); `self_report`: the
    agent reports its own validation score (hce.enabled=false)."""

    operator: str
    parents: list[ParentFacts]
    card: TaskCard
    turn: int = 0
    form: Form = "react"
    self_report: bool = False


def read_job_facts(body: dict[str, Any] | None) -> JobFacts | None:
    """The facts in a request body's extra fields, None when absent or malformed."""
    raw = (body or {}).get(FACTS_FIELD)
    if raw is None:
        return None
    try:
        return JobFacts.model_validate(raw)
    except ValidationError:
        return None
