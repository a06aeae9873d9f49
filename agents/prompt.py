"""Rendering the prompt templates of `agent.prompts` (conf/agent/react.yaml) into chat messages.

The wording is config; this module only fills in the named fields. Nothing reads the prompts back:
the job's facts travel beside them in a machine-readable form (agents/job_facts.py).
"""

import re
from typing import NamedTuple

from agents.config import PromptTemplates
from agents.task_card import TaskCard
from agents.tools import TOOLS
from agents.trim import trim_middle
from evaluation.scores import ShownScore, shown_score

# How many parents each operator takes.
OPERATOR_PARENTS = {"draft": 0, "mutate": 1, "crossover": 2}


class ParentCode(NamedTuple):
    """A parent solution as the agent is shown it: its node, its code and its search score with its
    standard error (None: none). The score is exact here; the agent is shown it rounded to its
    standard error (`shown`), in the prompt and in the job facts alike."""

    node_id: int
    code: str
    search_score: float
    search_se: float | None = None

    def shown(self) -> ShownScore:
        """The search score as the agent may see it (evaluation/scores.py: shown_score)."""
        return shown_score(self.search_score, self.search_se)


def parent_file(index: int) -> str:
    """The parent's file in the episode's working directory (the worker writes it there)."""
    return f"parent_{index}.py"


def render_system_prompt(
    prompts: PromptTemplates, card: TaskCard, exec_timeout_s: float, max_steps: int, self_report: bool = False
) -> str:
    """The system prompt: the agent's role, every tool and the rules of the task; `self_report`
    (hce.enabled=false): the agent reports its own validation score."""
    tools = "\n".join(f"- {t.name}: {t.schema['function']['description']}" for t in TOOLS.values())
    return prompts.system.format(
        data_dir=card.data_dir,
        metric=card.metric,
        direction=direction(card),
        tools=tools,
        exec_timeout_s=exec_timeout_s,
        max_steps=max_steps,
        scoring=render_scoring(prompts, card, self_report),
    )


def render_single_turn_system(
    prompts: PromptTemplates, card: TaskCard, exec_timeout_s: float, max_debug_rounds: int, self_report: bool
) -> str:
    """The single-turn operator's system prompt: one script per reply, no tools."""
    return prompts.single_turn.format(
        data_dir=card.data_dir,
        metric=card.metric,
        direction=direction(card),
        exec_timeout_s=exec_timeout_s,
        max_debug_rounds=max_debug_rounds,
        scoring=render_scoring(prompts, card, self_report),
    )


def render_scoring(prompts: PromptTemplates, card: TaskCard, self_report: bool) -> str:
    """The rule saying who scores a submission: the hidden evaluator, or the agent itself."""
    template = prompts.scoring_self_reported if self_report else prompts.scoring_hidden
    return template.format(metric=card.metric, direction=direction(card))


def render_user_message(
    prompts: PromptTemplates, card: TaskCard, operator: str, parents: list[ParentCode], code_chars: int
) -> str:
    """The task message: description, task card, the operator's instruction and the parents' code,
    each parent's code cut to `code_chars` (the whole file is in the working directory)."""
    if operator not in OPERATOR_PARENTS:
        raise ValueError(f"unknown operator {operator!r}: use one of {', '.join(OPERATOR_PARENTS)}")
    if len(parents) != OPERATOR_PARENTS[operator]:
        raise ValueError(
            f"operator {operator!r} takes {OPERATOR_PARENTS[operator]} parent(s), got {len(parents)}"
        )
    blocks = "".join(_parent_block(prompts, i, p, code_chars) for i, p in enumerate(parents, start=1))
    template = {"draft": prompts.draft, "mutate": prompts.mutate, "crossover": prompts.crossover}[operator]
    return template.format(
        description=card.description.strip() or "(no description)",
        card=card.yaml_block(),
        direction=direction(card),
        parents=blocks,
    )


def render_debug_message(prompts: PromptTemplates, card: TaskCard, code: str, output: str) -> str:
    """The single-turn ablation's message asking to fix a failed solution, given its output."""
    return prompts.debug.format(
        description=card.description.strip() or "(no description)",
        card=card.yaml_block(),
        direction=direction(card),
        code=code,
        output=output,
    )


def direction(card: TaskCard) -> str:
    """How the metric ranks scores, in words."""
    return "lower is better" if card.lower_is_better else "higher is better"


def _parent_block(prompts: PromptTemplates, index: int, parent: ParentCode, code_chars: int) -> str:
    code = trim_middle(parent.code, code_chars)
    cut = ""
    if code != parent.code:
        cut = f"\n(cut to {code_chars} characters: read {parent_file(index)} for all of it)"
    return prompts.parent.format(
        index=index,
        node_id=parent.node_id,
        search_score=parent.shown().text,
        file=parent_file(index),
        code=code,
        fence=_fence(code),
        cut=cut,
    )


def _fence(code: str) -> str:
    # Longer than any backtick run in the code, so that code containing ``` cannot close the block.
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    return "`" * max(3, longest + 1)
