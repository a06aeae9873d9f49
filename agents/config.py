"""The agent's config section (`agent.*`): the limits of one ReAct episode, its context management
and its prompt templates."""

import string
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

# The default section, as Hydra's `agent: react` composes it (no interpolations in it).
DEFAULT_FILE = Path(__file__).resolve().parents[1] / "conf" / "agent" / "react.yaml"

# The named fields each template may use; a template naming another one is a config error.
TEMPLATE_FIELDS: dict[str, frozenset[str]] = {
    "system": frozenset(
        {"data_dir", "metric", "direction", "tools", "exec_timeout_s", "max_steps", "scoring"}
    ),
    "scoring_hidden": frozenset({"metric", "direction"}),
    "scoring_self_reported": frozenset({"metric", "direction"}),
    "single_turn": frozenset(
        {"data_dir", "metric", "direction", "exec_timeout_s", "max_debug_rounds", "scoring"}
    ),
    "draft": frozenset({"description", "card", "direction", "parents"}),
    "mutate": frozenset({"description", "card", "direction", "parents"}),
    "crossover": frozenset({"description", "card", "direction", "parents"}),
    "debug": frozenset({"description", "card", "direction", "code", "output"}),
    "parent": frozenset({"index", "node_id", "search_score", "file", "code", "fence", "cut"}),
    "nudge": frozenset(),
    "summarize": frozenset({"summary", "turns"}),
    "compacted": frozenset({"turns", "summary"}),
}


class PromptTemplates(BaseModel):
    """The prompts of an episode, as `str.format` templates with named fields (TEMPLATE_FIELDS)."""

    model_config = ConfigDict(extra="forbid")

    system: str
    scoring_hidden: str = Field(description="system's {scoring} with HCE: a hidden evaluator scores")
    scoring_self_reported: str = Field(
        description="system's {scoring} with hce.enabled=false: the agent reports its validation score"
    )
    single_turn: str = Field(description="the system prompt of agent.operator=single_turn")
    draft: str
    mutate: str
    crossover: str
    debug: str = Field(description="the single-turn ablation's prompt to fix a failed solution")
    parent: str = Field(
        description="one parent's block inside mutate/crossover's {parents}; its {search_score} is "
        "text, the score rounded to its standard error (e.g. 0.83 ± 0.01)"
    )
    nudge: str = Field(description="the user message after a reply that called no tool")
    summarize: str = Field(description="asks the policy to summarise turns that no longer fit")
    compacted: str = Field(description="appended to the task message once turns were compacted away")

    @field_validator("*")
    @classmethod
    def _known_fields(cls, template: str, info: Any) -> str:
        allowed = TEMPLATE_FIELDS[info.field_name]
        try:
            used = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
        except ValueError as e:
            raise ValueError(
                f"agent.prompts.{info.field_name} is not a valid template ({e}); "
                "write literal braces as {{ and }}"
            ) from None
        unknown = used - allowed
        if info.field_name == "parent" and any(
            name == "search_score" and (spec or conversion)
            for _, name, spec, conversion in string.Formatter().parse(template)
        ):
            raise ValueError(
                "agent.prompts.parent formats {search_score} with a spec or conversion, but it is text "
                "already (the score rounded to its standard error, e.g. 0.83 ± 0.01): write {search_score}"
            )
        if unknown:
            known = ", ".join(f"{{{f}}}" for f in sorted(allowed)) or "none"
            raise ValueError(
                f"agent.prompts.{info.field_name} uses unknown field(s) "
                f"{', '.join(f'{{{f}}}' for f in sorted(unknown))}; its fields are: {known}"
            )
        return template


class AgentConfig(BaseModel):
    """One ReAct episode: its limits, how its conversation is kept within the context window, and
    its prompts. `context_window: null` takes the policy's (vLLM's max_model_len, llama.cpp's n_ctx,
    policy.context_window otherwise). `operator: single_turn` is the ablation "no subagents"
    (agents/single_turn.py): one call, one run, up to `max_debug_rounds` debug calls.

    What the worker takes out of the workspace is capped: a recorded file (the code `submit` names,
    kept in the run and shown to later agents) at `max_record_mb`, the submission at
    `max_submission_mb` (MiB; MLE-bench submissions can be hundreds of MB). A file over its cap is
    refused with an observation saying so, and the episode goes on."""

    model_config = ConfigDict(extra="forbid")

    operator: Literal["react", "single_turn"] = "react"
    max_debug_rounds: int = Field(2, ge=0, description="single_turn: debug calls after a failed run")
    max_steps: int = Field(ge=1)
    max_consecutive_errors: int = Field(3, ge=1)
    observation_chars: int = Field(4000, ge=200)
    max_episode_s: float | None = Field(None, gt=0, description="wall clock of one episode")
    max_episode_tokens: int | None = Field(None, ge=1, description="prompt + completion tokens, one episode")
    context_window: int | None = Field(None, ge=512, description="tokens; null = the policy's")
    compact_at: float = Field(0.75, gt=0, le=1, description="fraction of the window that triggers compaction")
    keep_turns: int = Field(4, ge=1, description="the last turns kept verbatim by compaction")
    summarize: bool = Field(False, description="the policy summarises what compaction removes")
    parent_code_chars: int = Field(6000, ge=200, description="a parent's code in the prompt, at most")
    max_record_mb: int = Field(
        10, ge=1, description="MiB: a file recorded from the workspace (the code of submit), at most"
    )
    max_submission_mb: int = Field(1024, ge=1, description="MiB: a submission handed in, at most")
    prompts: PromptTemplates


def load_agent_config(**overrides: Any) -> AgentConfig:
    """The default `agent` section (conf/agent/react.yaml) with `overrides` applied."""
    return AgentConfig.model_validate(yaml.safe_load(DEFAULT_FILE.read_text()) | overrides)
