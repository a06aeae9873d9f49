"""The ReAct operator: the policy reasons and calls tools in a sandbox until it submits.

One episode = one draft, mutation or crossover. Each turn asks the policy for one assistant message
and runs its tool calls in order; every observation goes back to it, with the steps and time left.
The unhappy paths are handled on purpose: native tool calls are used when the server returns them,
otherwise calls written in the text are parsed (agents/text_calls.py); a reply without any call gets
a nudge, a bad tool call gets an error observation, a failed request is recorded; all of them count
as policy failures, and too many in a row, the step limit, the episode's time or token limit, the
search's deadline or the policy's token budget end the episode. The request is kept within the
context window (agents/context.py): a context-length refusal or a reply cut at its token limit
compacts and asks again, and is no policy failure. The whole trajectory is returned in every case.
Steps are indexed by turn: the tool calls of one reply share their turn's index.
"""

import asyncio
import json
import re
import time
from typing import Any, NamedTuple, Protocol

import openai
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionMessageToolCallUnion,
)

from agents._arguments import ToolError, parse_arguments
from agents.candidate import Step, Trajectory
from agents.config import AgentConfig
from agents.context import ContextWindow
from agents.job_facts import Form, JobFacts, ParentFacts
from agents.prompt import ParentCode, parent_file, render_system_prompt, render_user_message
from agents.task_card import TaskCard
from agents.text_calls import parse_text_calls
from agents.tools import (
    Submission,
    ToolLimits,
    ToolResult,
    call_tool,
    error_result,
    observation_with_limits,
    tool_schemas,
)
from sandbox.base import Sandbox

STEP_LIMIT_REASON = "step limit reached without submit"
DEADLINE_REASON = "budget deadline reached"
EPISODE_TIME_REASON = "episode time limit (agent.max_episode_s) reached without submit"
EPISODE_TOKENS_REASON = "episode token limit (agent.max_episode_tokens) reached without submit"
# The shortest time a tool call gets, even right before the deadline: less cannot start a program.
_MIN_TOOL_TIMEOUT_S = 1.0
# An error page from a proxy can be long; the reason and the step need its first lines only.
MAX_ERROR_CHARS = 500
# Compact-and-ask-again rounds for one turn before its reply is taken as it is (or fails).
_CONTEXT_RETRIES = 3
# How servers word a refused over-long prompt: vLLM "This model's maximum context length is N
# tokens...", OpenAI "context_length_exceeded", llama.cpp "exceed context window".
_CONTEXT_ERROR_RE = re.compile(
    r"maximum context length|context[_ ]length|context window|too many tokens", re.IGNORECASE
)


class PolicyStop(Exception):
    """The policy takes no more requests (e.g. the run's token budget is spent); the message says why."""


class ChatPolicy(Protocol):
    """What the loop needs from a policy client (serving/client.py's PolicyClient is the real one)."""

    async def complete(
        self,
        model: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        seed: int,
        job: dict[str, Any] | None = None,
    ) -> ChatCompletion:
        """One chat completion, `job` (the job's facts) sent beside the prompt; raises
        openai.OpenAIError when the request fails, PolicyStop when the policy takes no more requests."""
        ...


class EpisodeOutcome(NamedTuple):
    """What an episode produced: `submission` is None when it did not submit, `reason` then says why;
    `validation_score` is the agent's own (hce.enabled=false), None when it reported none."""

    code: str
    submission: bytes | None
    trajectory: Trajectory
    reason: str | None
    validation_score: float | None = None


class _Failures:
    """Counts policy failures in a row and says when they are too many."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_a_row = 0

    def record(self, error: str | None) -> str | None:
        """Note a turn's outcome; return the episode's end reason when the limit is reached."""
        if error is None:
            self.in_a_row = 0
            return None
        self.in_a_row += 1
        if self.in_a_row >= self.limit:
            return f"policy failed {self.in_a_row} times in a row: {error}"
        return None


def is_context_error(error: openai.OpenAIError) -> bool:
    """Whether the server refused the request for being longer than its context window."""
    status = getattr(error, "status_code", None)
    return status in (400, 413) and bool(_CONTEXT_ERROR_RE.search(str(error)))


def episode_end(deadline: float, agent: AgentConfig) -> tuple[float, str]:
    """When an episode must end (unix time) and the reason it gives then: the search's deadline or
    `agent.max_episode_s` from now, whichever comes first."""
    if agent.max_episode_s is not None and time.time() + agent.max_episode_s < deadline:
        return time.time() + agent.max_episode_s, EPISODE_TIME_REASON
    return deadline, DEADLINE_REASON


def job_facts(
    card: TaskCard, operator: str, parents: list[ParentCode], form: Form, self_report: bool
) -> dict[str, Any]:
    """The job's facts as sent beside every request of the episode (agents/job_facts.py)."""
    return JobFacts(
        operator=operator,
        parents=[
            ParentFacts(
                node_id=p.node_id,
                search_score=p.shown().value,
                search_se=p.shown().se,
                file=parent_file(i),
                code=p.code,
            )
            for i, p in enumerate(parents, start=1)
        ],
        card=card,
        form=form,
        self_report=self_report,
    ).model_dump()


async def run_episode(
    client: ChatPolicy,
    model: str,
    sandbox: Sandbox,
    card: TaskCard,
    operator: str,
    parents: list[ParentCode],
    seed: int,
    deadline: float,
    agent: AgentConfig,
    exec_timeout_s: float,
    self_report: bool = False,
) -> EpisodeOutcome:
    """Run one ReAct episode until submit or a limit; `deadline` is the search's, a unix time
    (time.time()), and the episode's own is the earlier of it and `agent.max_episode_s` from now.
    `self_report` (hce.enabled=false): the agent reports its validation score with submit.

    Raises ValueError only for a caller's mistake: an operator with the wrong number of parents.
    """
    ends_at, end_reason = episode_end(deadline, agent)
    prompts = agent.prompts
    trajectory = Trajectory(
        messages=[
            {
                "role": "system",
                "content": render_system_prompt(prompts, card, exec_timeout_s, agent.max_steps, self_report),
            },
            {
                "role": "user",
                "content": render_user_message(prompts, card, operator, parents, agent.parent_code_chars),
            },
        ]
    )
    job = job_facts(card, operator, parents, "react", self_report)
    tools = tool_schemas(self_report)

    async def summarize(prompt: str) -> str | None:
        request = [*trajectory.messages[:2], {"role": "user", "content": prompt}]
        try:
            reply = await asyncio.wait_for(
                client.complete(model, request, tools, seed, job), timeout=max(0.0, ends_at - time.time())
            )
        except (openai.OpenAIError, PolicyStop, TimeoutError):
            return None  # the note without a summary still says what was removed
        count_tokens(trajectory, reply)
        return reply.choices[0].message.content if reply.choices else None

    context = ContextWindow(
        agent.context_window,
        agent.compact_at,
        agent.keep_turns,
        prompts,
        len(json.dumps(tools)),
        summarize if agent.summarize else None,
    )
    failures = _Failures(agent.max_consecutive_errors)
    turn = 0
    context_retries = 0
    while turn < agent.max_steps:
        remaining = ends_at - time.time()
        if remaining <= 0:
            return _end(trajectory, context, end_reason)
        used = trajectory.prompt_tokens + trajectory.completion_tokens
        if agent.max_episode_tokens is not None and used >= agent.max_episode_tokens:
            return _end(trajectory, context, EPISODE_TOKENS_REASON)
        sent = await context.request(trajectory.messages)
        facts = job | {"turn": sum(m.get("role") == "assistant" for m in trajectory.messages)}
        try:
            completion = await asyncio.wait_for(
                client.complete(model, sent, tools, seed, facts), timeout=remaining
            )
        except TimeoutError:
            return _end(trajectory, context, end_reason)
        except PolicyStop as e:
            return _end(trajectory, context, str(e))
        except openai.OpenAIError as e:
            failure = f"policy request failed: {type(e).__name__}: {str(e)[:MAX_ERROR_CHARS]}"
            if is_context_error(e) and context_retries < _CONTEXT_RETRIES:
                context_retries += 1
                context.shrink(sent)
                trajectory.steps.append(Step(index=turn, error=f"{failure} (compacted, asked again)"))
                continue
            trajectory.steps.append(Step(index=turn, error=failure))
            turn += 1
            if reason := failures.record(failure):
                return _end(trajectory, context, reason)
            continue
        count_tokens(trajectory, completion)
        context.observe_usage(sent, completion.usage.prompt_tokens if completion.usage else None)
        cut = bool(completion.choices) and completion.choices[0].finish_reason == "length"
        if cut and context_retries < _CONTEXT_RETRIES:
            context_retries += 1
            context.shrink(sent)
            content = completion.choices[0].message.content or ""
            note = "the reply was cut at its token limit (finish_reason length): compacted, asked again"
            trajectory.steps.append(Step(index=turn, reasoning=content, error=note))
            continue
        context_retries = 0
        turn += 1
        error, submitted = await _take_turn(
            completion,
            turn - 1,
            trajectory,
            sandbox,
            ends_at,
            agent,
            exec_timeout_s,
            self_report,
            task_limits(card, agent),
        )
        if submitted is not None:
            trajectory.compactions = context.compactions
            return EpisodeOutcome(
                submitted.code, submitted.submission, trajectory, None, submitted.validation_score
            )
        if reason := failures.record(error):
            return _end(trajectory, context, reason)
    return _end(trajectory, context, STEP_LIMIT_REASON)


def _end(trajectory: Trajectory, context: ContextWindow, reason: str) -> EpisodeOutcome:
    trajectory.compactions = context.compactions
    return EpisodeOutcome("", None, trajectory, reason)


class _Call(NamedTuple):
    id: str
    name: str
    arguments: dict[str, Any] | str  # the parsed JSON object, or the raw text when it is not one
    history_arguments: str  # what the conversation keeps
    problem: str | None  # why the call cannot run at all


def _read_call(call: ChatCompletionMessageToolCallUnion) -> _Call:
    """Pull one tool call apart without trusting it: its arguments may be any text."""
    if not isinstance(call, ChatCompletionMessageFunctionToolCall):
        problem = f"only function tools are supported, got a {call.type} tool call"
        return _Call(call.id, call.custom.name, call.custom.input, "{}", problem)
    raw = call.function.arguments or ""
    try:
        return _Call(call.id, call.function.name, parse_arguments(raw), raw if raw.strip() else "{}", None)
    except ToolError:
        # call_tool reports the raw text's problem. Servers (vLLM among them) re-parse the arguments
        # of past calls, so unparsable text in the history would fail every later request: the
        # history keeps "{}", the step keeps the raw text.
        return _Call(call.id, call.function.name, raw, "{}", None)


def task_limits(card: TaskCard, agent: AgentConfig) -> ToolLimits:
    """What a tool call's limits take from the task (how validate_submission reads a submission), with
    no timeout yet: each call sets its own."""
    return ToolLimits(
        0.0,
        agent.observation_chars,
        card.id_column,
        tuple(card.key_columns),
        card.accepts_empty,
        agent.max_record_mb << 20,
        agent.max_submission_mb << 20,
    )


async def _take_turn(
    completion: ChatCompletion,
    turn: int,
    trajectory: Trajectory,
    sandbox: Sandbox,
    deadline: float,
    agent: AgentConfig,
    exec_timeout_s: float,
    self_report: bool,
    task: ToolLimits,
) -> tuple[str | None, Submission | None]:
    """Record the reply, run its tool calls; return the turn's error (None if a call worked) and
    the submission if it submitted. `task`: the tool limits that come from the task (`task_limits`),
    each call's timeout set here."""
    if not completion.choices:
        error = "the policy returned no reply (empty choices)"
        trajectory.steps.append(Step(index=turn, error=error))
        return error, None
    message = completion.choices[0].message
    content = message.content or ""
    native = bool(message.tool_calls)
    calls = [_read_call(call) for call in message.tool_calls or []] or _text_calls(content, turn)
    if not calls:
        trajectory.messages.append({"role": "assistant", "content": content})
        nudge = agent.prompts.nudge
        trajectory.messages.append({"role": "user", "content": nudge})
        error = "the reply was empty" if not content.strip() else "the reply called no tool"
        trajectory.steps.append(Step(index=turn, reasoning=content, observation=nudge, error=error))
        return error, None
    if native:
        trajectory.messages.append(
            {
                "role": "assistant",
                "content": content,
                "tool_calls": [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": c.history_arguments},
                    }
                    for c in calls
                ],
            }
        )
    else:
        # Calls written as text stay text: a server without tool support may reject tool messages.
        trajectory.messages.append({"role": "assistant", "content": content})
    errors: list[str] = []
    submitted: Submission | None = None
    for i, call in enumerate(calls):
        started = time.monotonic()
        if submitted is not None:
            result = ToolResult("not run: the episode ended with submit")
        elif call.problem is not None:
            result = error_result(call.problem)
        else:
            timeout = max(_MIN_TOOL_TIMEOUT_S, min(exec_timeout_s, deadline - time.time()))
            limits = task._replace(timeout_s=timeout)
            result = await call_tool(sandbox, call.name, call.arguments, limits, self_report)
            submitted = result.submitted
        seen = observation_with_limits(result.observation, agent.max_steps - turn - 1, deadline - time.time())
        if native:
            trajectory.messages.append({"role": "tool", "tool_call_id": call.id, "content": seen})
        else:
            observation = f"Observation of your {call.name or 'tool'} call:\n{seen}"
            trajectory.messages.append({"role": "user", "content": observation})
        trajectory.steps.append(
            Step(
                index=turn,
                reasoning=content if i == 0 else "",
                tool=call.name,
                arguments=call.arguments,
                observation=result.observation,
                duration_s=time.monotonic() - started,
                error=result.error,
            )
        )
        if result.error is not None:
            errors.append(result.error)
    # A turn fails only when none of its calls worked: one good call is progress.
    return (errors[-1] if len(errors) == len(calls) else None), submitted


def _text_calls(content: str, turn: int) -> list[_Call]:
    """The calls written in the reply's text, read like native ones."""
    calls = []
    for i, found in enumerate(parse_text_calls(content)):
        call_id = f"text_{turn}_{i}"
        if found.problem is not None:
            calls.append(_Call(call_id, found.name, found.arguments, "{}", found.problem))
            continue
        try:
            calls.append(_Call(call_id, found.name, parse_arguments(found.arguments), found.arguments, None))
        except ToolError:
            calls.append(_Call(call_id, found.name, found.arguments, "{}", None))
    return calls


def count_tokens(trajectory: Trajectory, completion: ChatCompletion) -> None:
    """Add a reply's token usage (as the server reported it) to the trajectory's totals."""
    if completion.usage is not None:
        trajectory.prompt_tokens += completion.usage.prompt_tokens or 0
        trajectory.completion_tokens += completion.usage.completion_tokens or 0
