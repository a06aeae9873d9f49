"""The replay policy: plays back a JSONL file of assistant turns, for tests and red-team drills.

It is NOT a language model. Line k of the file (blank lines and `#` lines skipped) is the reply to a
conversation that already holds k assistant turns, so every episode replays the same script from its
start. A line is an assistant message:

    {"content": "look first", "tool_calls": [{"name": "bash", "arguments": {"command": "ls"}}]}

Tool calls may also be in OpenAI form ({"id", "type", "function": {"name", "arguments"}});
`arguments` may be an object or the raw string to send (to replay malformed calls). For fault drills
a line may instead be a fault the server answers with:

    {"fault": {"status": 503, "message": "overloaded"}}   an HTTP error
    {"fault": {"delay_s": 30}, "content": ...}           the turn's reply, after a delay
    {"fault": {"garbage": "<html>oops"}}                 a 200 whose body is not JSON

A message line may set `"finish_reason": "length"` to play a reply cut at its token limit.

A line may instead list `"alternatives"` (lines of the forms above): the n-th request for that turn
gets alternative n modulo their number, so that episodes replaying the same script can differ (e.g.
two submissions that report different validation scores). Like `times`, the count is kept per turn
by the server, across conversations.

A fault with `"times": n` (and the reply on the same line) is served to the first n requests of its
turn only, after which the reply is: a transient fault that a retry or the next request gets past.
The count is kept per turn by the server, across conversations.

The turn is the request's `turn` in the job's facts (agents/job_facts.py) when it has them: a
compacted conversation holds fewer assistant turns than the episode had. With `context_window`, a
prompt longer than the window is refused with vLLM's 400 and its wording, as vLLM's OpenAI server
refuses it.
"""

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ReplayError(Exception):
    """The replay file is unusable or exhausted; the message names the file, the line and the fix."""


class Fault(BaseModel):
    """What the server does instead of (or before) answering a turn."""

    model_config = ConfigDict(extra="forbid")

    status: int | None = Field(None, ge=400, le=599)
    message: str = "fault injected by the replay file"
    delay_s: float = Field(0.0, ge=0)
    garbage: str | None = None
    times: int | None = Field(None, ge=1, description="served this often, then the reply; None = always")


class ReplayTurn(BaseModel):
    """One line of the file: an assistant message (OpenAI format), how it finished, an optional fault."""

    message: dict[str, Any]
    finish_reason: str | None = None
    fault: Fault | None = None


def context_length_error(window: int, prompt_tokens: int, max_tokens: int | None) -> str | None:
    """vLLM's refusal of a request longer than its window (the text of vLLM's OpenAI server,
    vllm/entrypoints/openai/serving_engine.py), None when the request fits."""
    if max_tokens is None:
        if prompt_tokens < window:
            return None
        return (
            f"This model's maximum context length is {window} tokens. However, you requested "
            f"{prompt_tokens} tokens in the messages, Please reduce the length of the messages."
        )
    if prompt_tokens + max_tokens <= window:
        return None
    return (
        f"This model's maximum context length is {window} tokens. However, you requested "
        f"{max_tokens + prompt_tokens} tokens ({prompt_tokens} in the messages, {max_tokens} in the "
        "completion). Please reduce the length of the messages or completion."
    )


class ReplayPolicy:
    """The turns of one replay file; `turn_for` picks the turn by the conversation's length."""

    def __init__(self, path: Path, context_window: int | None = None) -> None:
        self.path = Path(path)
        self.context_window = context_window
        if not self.path.is_file():
            raise ReplayError(f"replay file {self.path} not found: set policy.path to a JSONL file")
        # Each line's alternatives; a plain line is its only one.
        self.turns = [
            _parse_alternatives(self.path, number, line)
            for number, line in enumerate(self.path.read_text().splitlines(), start=1)
            if line.strip() and not line.lstrip().startswith("#")
        ]
        if not self.turns:
            raise ReplayError(f"replay file {self.path} has no turns: write one assistant message per line")
        self.faults_served: dict[int, int] = {}
        self.asked: dict[int, int] = {}  # requests per turn with alternatives

    def turn_for(self, messages: list[dict[str, Any]], number: int | None = None) -> ReplayTurn:
        """The turn that answers `messages`, the episode's turn `number` (default: the assistant
        turns in `messages`), with its fault only while the fault has `times` left; ReplayError when
        the file has no turn that far."""
        k = number if number is not None else sum(m.get("role") == "assistant" for m in messages)
        if k >= len(self.turns):
            raise ReplayError(
                f"replay file {self.path} is exhausted: the conversation asks for assistant turn {k + 1} "
                f"but the file has {len(self.turns)}; add turns (for example a final submit call)"
            )
        options = self.turns[k]
        asked = self.asked.get(k, 0)
        if len(options) > 1:
            self.asked[k] = asked + 1
        turn = options[asked % len(options)]
        if turn.fault is None or turn.fault.times is None:
            return turn
        served = self.faults_served.get(k, 0)
        if served >= turn.fault.times:
            return turn.model_copy(update={"fault": None})
        self.faults_served[k] = served + 1
        return turn


def _parse_alternatives(path: Path, number: int, line: str) -> list[ReplayTurn]:
    where = f"replay file {path} line {number}"
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as e:
        raise ReplayError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(raw, dict) or "alternatives" not in raw:
        return [_parse_line(where, number, raw)]
    options = raw.pop("alternatives")
    if (
        raw
        or not isinstance(options, list)
        or not options
        or any(isinstance(o, dict) and "alternatives" in o for o in options)
    ):
        raise ReplayError(
            f"{where}: alternatives must be the line's only key: a non-empty list of assistant messages "
            "or faults, none of them with alternatives of its own"
        )
    return [_parse_line(f"{where}, alternative {i}", number, o) for i, o in enumerate(options, start=1)]


def _parse_line(where: str, number: int, raw: Any) -> ReplayTurn:
    if not isinstance(raw, dict):
        raise ReplayError(f"{where}: each line must be a JSON object (an assistant message or a fault)")
    if "fault" in raw:
        try:
            fault = Fault.model_validate(raw.pop("fault"))
        except ValidationError as e:
            raise ReplayError(f"{where}: bad fault: {e.errors()[0]['msg']}") from None
        if (fault.times is not None or (fault.status is None and fault.garbage is None)) and not raw:
            raise ReplayError(
                f"{where}: a fault with a delay only or with times needs the turn's reply on the same line"
            )
        finish = raw.pop("finish_reason", None)
        message = _message(where, number, raw) if raw else {}
        return ReplayTurn(message=message, finish_reason=finish, fault=fault)
    finish = raw.pop("finish_reason", None)
    return ReplayTurn(message=_message(where, number, raw), finish_reason=finish)


def _message(where: str, number: int, raw: dict[str, Any]) -> dict[str, Any]:
    unknown = set(raw) - {"role", "content", "tool_calls"}
    if unknown:
        raise ReplayError(
            f"{where}: unknown keys {sorted(unknown)}; use content, tool_calls and finish_reason"
        )
    if raw.get("role", "assistant") != "assistant":
        raise ReplayError(f"{where}: role must be assistant, got {raw['role']!r}")
    message: dict[str, Any] = {"role": "assistant", "content": raw.get("content")}
    calls = raw.get("tool_calls") or []
    if not isinstance(calls, list):
        raise ReplayError(f"{where}: tool_calls must be a list")
    normalized = []
    for i, call in enumerate(calls):
        function = call.get("function", call) if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise ReplayError(f"{where}: tool call {i + 1} needs a name (and arguments)")
        arguments = function.get("arguments", {})
        normalized.append(
            {
                "id": call.get("id") or f"call_{number}_{i}",
                "type": "function",
                "function": {
                    "name": function["name"],
                    "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
                },
            }
        )
    if normalized:
        message["tool_calls"] = normalized
    return message
