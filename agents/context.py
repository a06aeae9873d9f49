"""Keeping an episode's request within the policy's context window.

The trajectory keeps every message; the request sent is a compacted view of it. It always holds the
system prompt, the task message and the last turns verbatim; older turns shrink to stubs (the tool,
its exit status and duration, the first and last lines of its output, the call's arguments cut
short), and when even the stubs do not fit, the oldest turns are dropped and a note (with the
policy's summary of them, when `agent.summarize` is on) is appended to the task message. What was
stubbed or dropped stays so, so the request's prefix only changes when compaction runs (which keeps
the server's prefix cache useful); compaction brings the request down to well below its trigger for
the same reason.

Sizes are in tokens: ~4 characters per token, scaled by what the server reported for the last
request (its `usage.prompt_tokens`), so a tokenizer that packs fewer characters per token is seen.
"""

import json
from collections.abc import Awaitable, Callable
from typing import Any

from agents.config import PromptTemplates
from agents.trim import trim_middle

CHARS_PER_TOKEN = 4.0
# Per-message overhead of chat templates (role markers, separators), in characters.
_MESSAGE_OVERHEAD_CHARS = 16
# Compaction aims at this fraction of its trigger, so that it does not run again on the next turn.
_TARGET_FRACTION = 0.6
# After a context-length error, the request that failed is taken as this much over the real limit.
_SHRINK_FACTOR = 0.75
_STUB_LINE_CHARS = 160
_STUB_ARGUMENT_CHARS = 240
_SUMMARY_CHARS = 3000

Message = dict[str, Any]
Summarizer = Callable[[str], Awaitable[str | None]]


def estimate_chars(messages: list[Message]) -> int:
    """The characters of `messages` as a server tokenizes them: contents, tool calls, overhead."""
    total = 0
    for m in messages:
        total += len(str(m.get("content") or "")) + _MESSAGE_OVERHEAD_CHARS
        for call in m.get("tool_calls") or []:
            total += len(call["function"]["name"]) + len(call["function"]["arguments"])
    return total


class ContextWindow:
    """The compaction state of one episode's conversation.

    `window` is the policy's context window in tokens (None: unknown, so only a context-length
    error from the server makes it compact), `compact_at` the fraction that triggers compaction,
    `tools_chars` the size of the tool schemas every request carries.
    """

    def __init__(
        self,
        window: int | None,
        compact_at: float,
        keep_turns: int,
        prompts: PromptTemplates,
        tools_chars: int,
        summarizer: Summarizer | None = None,
    ) -> None:
        self.limit = compact_at * window if window is not None else None
        self.keep_turns = keep_turns
        self.prompts = prompts
        self.tools_chars = tools_chars
        self.summarizer = summarizer
        self.tokens_per_char = 1 / CHARS_PER_TOKEN
        self.stubbed = 0  # turns [0, stubbed) are stubs ...
        self.dropped = 0  # ... and turns [0, dropped) are gone from the request
        self.tight = False  # the verbatim turns' outputs are cut too (the last resort)
        self.summary: str | None = None
        self.compactions = 0

    def tokens(self, messages: list[Message]) -> int:
        """The estimated prompt tokens of a request holding `messages`."""
        return int((estimate_chars(messages) + self.tools_chars) * self.tokens_per_char) + 1

    def observe_usage(self, sent: list[Message], prompt_tokens: int | None) -> None:
        """Calibrate the estimate with the server's count of the request it answered."""
        if prompt_tokens:
            self.tokens_per_char = max(prompt_tokens / (estimate_chars(sent) + self.tools_chars), 0.05)

    async def request(self, messages: list[Message]) -> list[Message]:
        """The messages to send for the conversation `messages`, compacted when over the limit."""
        view = self._render(messages)
        if self.limit is not None and self.tokens(view) > self.limit:
            await self._compact(messages, _TARGET_FRACTION * self.limit)
            view = self._render(messages)
        return view

    def shrink(self, sent: list[Message]) -> None:
        """The server refused `sent` as too long (or cut its reply): lower the limit below it."""
        self.limit = min(self.limit or float("inf"), _SHRINK_FACTOR * self.tokens(sent))

    async def _compact(self, messages: list[Message], target: float) -> None:
        self.compactions += 1
        turns = _split_turns(messages[2:])
        n = len(turns)
        before = self.dropped
        self.stubbed = max(self.stubbed, n - min(self.keep_turns, n))
        while self.tokens(self._render(messages)) > target:
            if self.dropped < self.stubbed:
                self.dropped += 1
            elif self.stubbed < n - 1:
                self.stubbed += 1
            else:
                self.tight = True  # only the last turn is left verbatim: cut its outputs
                break
        if self.dropped > before and self.summarizer is not None:
            turns_text = "\n\n".join(_turn_text(t) for t in turns[before : self.dropped])
            summary = await self.summarizer(
                self.prompts.summarize.format(summary=self.summary or "(none yet)", turns=turns_text)
            )
            if summary:
                self.summary = trim_middle(summary.strip(), _SUMMARY_CHARS)

    def _render(self, messages: list[Message]) -> list[Message]:
        head, turns = messages[:2], _split_turns(messages[2:])
        if self.dropped:
            note = self.prompts.compacted.format(
                turns=self.dropped, summary=f"Summary of them: {self.summary}" if self.summary else ""
            )
            head = [head[0], {**head[1], "content": str(head[1].get("content") or "") + note}]
        view = list(head)
        for i, turn in enumerate(turns):
            if i < self.dropped:
                continue
            if i < self.stubbed:
                view.extend(_stub_turn(turn))
            elif self.tight and self.limit is not None:
                chars = int(self.limit / self.tokens_per_char / 4)
                view.extend(_cut_outputs(turn, max(400, chars)))
            else:
                view.extend(turn)
        return view


def _split_turns(messages: list[Message]) -> list[list[Message]]:
    """Turns: an assistant message and the observations (tool or user messages) that follow it."""
    turns: list[list[Message]] = []
    for m in messages:
        if m.get("role") == "assistant" or not turns:
            turns.append([m])
        else:
            turns[-1].append(m)
    return turns


def _stub_turn(turn: list[Message]) -> list[Message]:
    names = {c["id"]: c["function"]["name"] for m in turn for c in m.get("tool_calls") or []}
    stubbed: list[Message] = []
    for m in turn:
        if m.get("role") == "assistant":
            calls = [
                {**c, "function": {**c["function"], "arguments": _stub_arguments(c["function"]["arguments"])}}
                for c in m.get("tool_calls") or []
            ]
            stub: Message = {**m, "content": trim_middle(str(m.get("content") or ""), _STUB_ARGUMENT_CHARS)}
            if calls:
                stub["tool_calls"] = calls
            stubbed.append(stub)
        else:
            tool = names.get(m.get("tool_call_id", ""), "tool")
            stubbed.append({**m, "content": stub_observation(tool, str(m.get("content") or ""))})
    return stubbed


def stub_observation(tool: str, text: str) -> str:
    """A compacted observation: the tool, its first line (exit status and duration) and its last line."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(text) <= 2 * _STUB_LINE_CHARS or not lines:
        return text
    kept = [lines[0][:_STUB_LINE_CHARS]]
    if len(lines) > 2:
        kept.append(lines[1][:_STUB_LINE_CHARS])
    if len(lines) > 1:
        kept.append(f"... [{len(lines) - len(kept) - 1} lines compacted] ...")
        kept.append(lines[-1][:_STUB_LINE_CHARS])
    return f"[{tool} output compacted]\n" + "\n".join(kept)


def _stub_arguments(raw: str) -> str:
    # Servers re-parse past calls' arguments, so the stub must stay a JSON object.
    if len(raw) <= _STUB_ARGUMENT_CHARS:
        return raw
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return "{}"
    if not isinstance(value, dict):
        return "{}"
    return json.dumps(
        {k: trim_middle(v, _STUB_ARGUMENT_CHARS) if isinstance(v, str) else v for k, v in value.items()}
    )


def _cut_outputs(turn: list[Message], chars: int) -> list[Message]:
    cut = [{**m, "content": trim_middle(str(m.get("content") or ""), chars)} for m in turn]
    return [m if m.get("role") == "assistant" else c for m, c in zip(turn, cut, strict=True)]


def _turn_text(turn: list[Message]) -> str:
    """A stubbed turn as plain text, for the summary request."""
    parts = []
    for m in _stub_turn(turn):
        calls = ", ".join(
            f"{c['function']['name']}({c['function']['arguments']})" for c in m.get("tool_calls") or []
        )
        parts.append(f"{m.get('role')}: {m.get('content') or ''}" + (f" [calls: {calls}]" if calls else ""))
    return "\n".join(parts)
