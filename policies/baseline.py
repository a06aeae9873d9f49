"""The LLM-free baseline policy: a scripted test double behind the OpenAI-compatible policy server.

It is NOT a language model. It reads the conversation so far and the job's facts (task card,
operator, parents) that the worker sends beside the prompt (agents/job_facts.py; it never reads the
prompt's prose, so the prompt templates can change freely), then answers with one assistant
message in OpenAI format: a `bash` call that writes and runs a scikit-learn solution, then `submit`.
For the single-turn operator (the job's `form`) it answers with the script in a ```python block
instead: the first call's config, then, in a debug call, the fallback model. When the agent must
report its own validation score (`self_report`), the script prints its hold-out score and `submit`
passes it on.
It exists so that the whole system (search, workers, sandbox, evaluator) runs and is tested without
an LLM, and it gives the search something real to improve: the model family and
hyperparameters on the script's config line change the score, and mutation and crossover change
that line.
"""

import json
import math
import random
from typing import Any

from agents.job_facts import FACTS_FIELD, JobFacts, ParentFacts
from agents.single_turn import reported_score
from agents.task_card import TaskCard
from agents.tools import EXIT_STATUS_RE
from policies._baseline_config import (
    BaselineConfig,
    crossover_config,
    draft_config,
    fallback_config,
    mutate_config,
    parse_config_line,
    problem_of,
)
from policies._baseline_script import SUBMISSION_WRITTEN, render_script
from policies.messages import message_text

SOLUTION_FILE = "solution.py"
_HEREDOC_END = "AIRA_SOLUTION_EOF"
_NEEDS_FACTS = (
    "I am the baseline policy, a scripted test double, not a language model. I need the job's facts "
    f"(task card, operator, parents) in the request's `{FACTS_FIELD}` field, which the experiment "
    "workers send when policy.job_facts is true (agents/job_facts.py)."
)
_NEEDS_TOOLS = (
    "I am the baseline policy and I need the `bash` and `submit` tools to work; they were not offered."
)
_GIVE_UP = (
    "The fallback solution failed too, so I have nothing to submit. The last output above shows why "
    "(for example an unusual data layout that this scripted baseline cannot handle)."
)


class BaselinePolicy:
    """A scripted, stateless policy: the same conversation and seed always give the same reply."""

    def respond(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        seed: int | None,
        job: JobFacts | None,
    ) -> dict[str, Any]:
        """The next assistant message (OpenAI format) for the conversation `messages` of `job`."""
        if job is None:
            return _reply(_NEEDS_FACTS)
        card = job.card
        if job.form == "single_turn":
            return _single_turn(job, seed or 0)
        offered = {t.get("function", {}).get("name") for t in tools or []}
        if tools is not None and not {"bash", "submit"} <= offered:
            return _reply(_NEEDS_TOOLS)
        call_id = f"call_{sum(m.get('role') == 'assistant' for m in messages)}"
        runs = _bash_runs(messages)
        if not runs:
            config, why = _first_config(card, job, seed or 0)
            return _run(card, config, why, call_id, job.self_report)
        last_tool, last_observation = _last_tool_result(messages)
        if last_tool == "bash" and _succeeded(last_observation):
            arguments: dict[str, Any] = {"submission_path": "submission.csv", "code_path": SOLUTION_FILE}
            score = reported_score(last_observation) if job.self_report else None
            if score is not None:
                arguments["validation_score"] = score
            return _reply(
                "The solution ran and wrote submission.csv; submitting it.", call_id, "submit", arguments
            )
        if len(runs) == 1:
            config = fallback_config(problem_of(card.metric))
            why = "The last run failed or wrote no submission, so I fall back to a simple, robust model."
            return _run(card, config, why, call_id, job.self_report)
        return _reply(_GIVE_UP)


def _single_turn(job: JobFacts, seed: int) -> dict[str, Any]:
    """The single-turn operator's reply: the whole script in a fenced block; a debug call (turn 1)
    gets the fallback model, later ones give up."""
    if job.turn == 0:
        config, why = _first_config(job.card, job, seed)
    elif job.turn == 1:
        config = fallback_config(problem_of(job.card.metric))
        why = "The script failed or wrote no submission, so I fall back to a simple, robust model."
    else:
        return _reply(_GIVE_UP)
    script = render_script(config, job.card, job.self_report)
    return _reply(f"{why} Config: {config.line().split(': ', 1)[1]}.\n\n```python\n{script}```")


def _first_config(card: TaskCard, job: JobFacts, seed: int) -> tuple[BaselineConfig, str]:
    """The config of the episode's first run, from the operator and the parents' config lines."""
    rng = random.Random(seed)
    problem = problem_of(card.metric)
    parents, operator = job.parents, job.operator
    configs = [(p, c) for p in parents if (c := parse_config_line(p.code)) is not None]
    if operator == "crossover" and len(configs) >= 2:
        (better, a), (_, b) = sorted(configs[:2], key=lambda pc: _rank_key(pc[0], card, rng))
        why = f"Crossover: the model of node {better.node_id}, the preprocessing of the other parent."
        return crossover_config(a, b, problem, rng), why
    if operator in ("mutate", "crossover") and configs:
        parent, config = configs[0]
        why = f"Mutation of node {parent.node_id}: perturbing its hyperparameters."
        return mutate_config(config, problem, rng), why
    why = "Draft: a random model family and hyperparameters."
    if operator != "draft":
        why = f"The parents of this {operator} have no baseline config line, so I draft a new solution."
    return draft_config(problem, rng), why


def _rank_key(parent: ParentFacts, card: TaskCard, rng: random.Random) -> float:
    """Sort key putting the better parent first; unknown scores rank by chance."""
    if not math.isfinite(parent.search_score):
        return rng.random()
    return parent.search_score if card.lower_is_better else -parent.search_score


def _run(
    card: TaskCard, config: BaselineConfig, why: str, call_id: str, report_score: bool
) -> dict[str, Any]:
    script = render_script(config, card, report_score)
    command = f"cat > {SOLUTION_FILE} <<'{_HEREDOC_END}'\n{script}{_HEREDOC_END}\npython {SOLUTION_FILE}"
    content = f"{why} Config: {config.line().split(': ', 1)[1]}. I write {SOLUTION_FILE} and run it."
    return _reply(content, call_id, "bash", {"command": command})


def _reply(
    content: str, call_id: str | None = None, tool: str | None = None, arguments: dict[str, Any] | None = None
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool is not None:
        function = {"name": tool, "arguments": json.dumps(arguments or {})}
        message["tool_calls"] = [{"id": call_id, "type": "function", "function": function}]
    return message


def _bash_runs(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The bash calls this policy made that wrote the solution script."""
    return [
        call
        for m in messages
        if m.get("role") == "assistant"
        for call in m.get("tool_calls") or []
        if call.get("function", {}).get("name") == "bash"
        and f"> {SOLUTION_FILE}" in call["function"].get("arguments", "")
    ]


def _last_tool_result(messages: list[dict[str, Any]]) -> tuple[str | None, str]:
    """The name of the last tool called and its observation."""
    names = {
        call.get("id"): call.get("function", {}).get("name")
        for m in messages
        if m.get("role") == "assistant"
        for call in m.get("tool_calls") or []
    }
    for m in reversed(messages):
        if m.get("role") == "tool":
            return names.get(m.get("tool_call_id")), message_text(m.get("content"))
    return None, ""


def _succeeded(observation: str) -> bool:
    status = EXIT_STATUS_RE.match(observation)
    return status is not None and int(status.group(1)) == 0 and SUBMISSION_WRITTEN in observation
