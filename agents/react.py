"""The ReAct operator: the policy reasons and calls tools in a sandbox until it submits.

One episode = one draft, mutation or crossover. Each turn asks the policy for one assistant message
and runs its tool calls in order; every observation goes back to it. The unhappy paths are handled on
purpose: native tool calls are used when the server returns them, otherwise calls written in the
text are parsed (agents/text_calls.py); a reply without any call gets a nudge, a bad tool call gets an
error observation, a failed request is recorded; all of them count as policy failures, and too many
in a row, the step limit, the budget deadline or the policy's token budget end the episode. The whole
trajectory is returned in every case. Steps are indexed by turn: the tool calls of one reply share
their turn's index.
"""

import asyncio
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
from agents.prompt import NUDGE, ParentCode, render_system_prompt, render_user_message
from agents.task_card import TaskCard
from agents.text_calls import parse_text_calls
from agents.tools import Submission, ToolLimits, ToolResult, call_tool, error_result, tool_schemas
from sandbox.base import Sandbox

STEP_LIMIT_REASON = "step limit reached without submit"
DEADLINE_REASON = "budget deadline reached"
# The shortest time a tool call gets, even right before the deadline: less cannot start a program.
_MIN_TOOL_TIMEOUT_S = 1.0
# An error page from a proxy can be long; the reason and the step need its first lines only.
_MAX_ERROR_CHARS = 500


class PolicyStop(Exception):
    """The policy takes no more requests (e.g. the run's token budget is spent); the message says why."""


class ChatPolicy(Protocol):
    """What the loop needs from a policy client (serving/client.py's PolicyClient is the real one)."""

    async def complete(
        self, model: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]], seed: int
    ) -> ChatCompletion:
        """One chat completion; raises openai.OpenAIError when the request fails, PolicyStop when
        the policy takes no more requests."""
        ...


class AgentSettings(NamedTuple):
    """The limits of one episode (config keys agent.* and sandbox.exec_timeout_s)."""

    max_steps: int
    max_consecutive_errors: int
    observation_chars: int
    exec_timeout_s: float


class EpisodeOutcome(NamedTuple):
    """What an episode produced: `submission` is None when it did not submit, `reason` then says why."""

    code: str
    submission: bytes | None
    trajectory: Trajectory
    reason: str | None


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


async def run_episode(
    client: ChatPolicy,
    model: str,
    sandbox: Sandbox,
    card: TaskCard,
    operator: str,
    parents: list[ParentCode],
    seed: int,
    deadline: float,
    settings: AgentSettings,
) -> EpisodeOutcome:
    """Run one ReAct episode until submit or a limit; `deadline` is a unix time (time.time()).

    Raises ValueError only for a caller's mistake: an operator with the wrong number of parents.
    """
    trajectory = Trajectory(
        messages=[
            {"role": "system", "content": render_system_prompt(card)},
            {"role": "user", "content": render_user_message(card, operator, parents)},
        ]
    )
    tools = tool_schemas()
    failures = _Failures(settings.max_consecutive_errors)
    for turn in range(settings.max_steps):
        remaining = deadline - time.time()
        if remaining <= 0:
            return EpisodeOutcome("", None, trajectory, DEADLINE_REASON)
        try:
            completion = await asyncio.wait_for(
                client.complete(model, trajectory.messages, tools, seed), timeout=remaining
            )
        except TimeoutError:
            return EpisodeOutcome("", None, trajectory, DEADLINE_REASON)
        except PolicyStop as e:
            return EpisodeOutcome("", None, trajectory, str(e))
        except openai.OpenAIError as e:
            failure = f"policy request failed: {type(e).__name__}: {str(e)[:_MAX_ERROR_CHARS]}"
            trajectory.steps.append(Step(index=turn, error=failure))
            if reason := failures.record(failure):
                return EpisodeOutcome("", None, trajectory, reason)
            continue
        _count_tokens(trajectory, completion)
        error, submitted = await _take_turn(completion, turn, trajectory, sandbox, deadline, settings)
        if submitted is not None:
            return EpisodeOutcome(submitted.code, submitted.submission, trajectory, None)
        if reason := failures.record(error):
            return EpisodeOutcome("", None, trajectory, reason)
    return EpisodeOutcome("", None, trajectory, STEP_LIMIT_REASON)


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


async def _take_turn(
    completion: ChatCompletion,
    turn: int,
    trajectory: Trajectory,
    sandbox: Sandbox,
    deadline: float,
    settings: AgentSettings,
) -> tuple[str | None, Submission | None]:
    """Record the reply, run its tool calls; return the turn's error (None if a call worked) and
    the submission if it submitted."""
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
        trajectory.messages.append({"role": "user", "content": NUDGE})
        error = "the reply was empty" if not content.strip() else "the reply called no tool"
        trajectory.steps.append(Step(index=turn, reasoning=content, observation=NUDGE, error=error))
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
            timeout = max(_MIN_TOOL_TIMEOUT_S, min(settings.exec_timeout_s, deadline - time.time()))
            result = await call_tool(
                sandbox, call.name, call.arguments, ToolLimits(timeout, settings.observation_chars)
            )
            submitted = result.submitted
        if native:
            trajectory.messages.append(
                {"role": "tool", "tool_call_id": call.id, "content": result.observation}
            )
        else:
            observation = f"Observation of your {call.name or 'tool'} call:\n{result.observation}"
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


def _count_tokens(trajectory: Trajectory, completion: ChatCompletion) -> None:
    if completion.usage is not None:
        trajectory.prompt_tokens += completion.usage.prompt_tokens or 0
        trajectory.completion_tokens += completion.usage.completion_tokens or 0
