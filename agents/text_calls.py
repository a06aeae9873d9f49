"""Tool calls written as text, for servers that return none natively.

Weak or local models often write the call into the reply instead of the API's tool_calls field. Two
forms are read: JSON in `<tool_call>...</tool_call>` tags (Hermes/Qwen style) and JSON in a fenced
```json (or bare ```) block; a reply that is nothing but a JSON object counts as one call too. Each
call is {"name": ..., "arguments": {...}} ("parameters" is accepted for "arguments").
"""

import json
import re
from typing import Any, NamedTuple

_TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)
_FENCED = re.compile(r"```(?:json|tool_call)?\s*\n(.*?)```", re.DOTALL)


class TextCall(NamedTuple):
    """One call found in the text: `name` and `arguments` (raw JSON text), or `problem` when the
    text looked like a call but could not be read."""

    name: str
    arguments: str
    problem: str | None = None


def parse_text_calls(text: str) -> list[TextCall]:
    """The tool calls written in `text`, in order; [] when it holds none."""
    blocks = _TAGGED.findall(text)
    tagged = bool(blocks)
    if not blocks:
        blocks = [b for b in _FENCED.findall(text) if b.lstrip().startswith("{")]
    if not blocks and text.strip().startswith("{") and text.strip().endswith("}"):
        blocks = [text.strip()]
    return [_read(block, tagged) for block in blocks]


def _read(block: str, tagged: bool) -> TextCall:
    where = "in <tool_call> tags" if tagged else "in the JSON block"
    try:
        value: Any = json.loads(block)
    except json.JSONDecodeError as e:
        return TextCall("", "{}", f"the tool call {where} is not valid JSON ({e.msg}): {block[:200]!r}")
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return TextCall(
            "", "{}", f'the tool call {where} must be an object {{"name": ..., "arguments": {{...}}}}'
        )
    arguments = value.get("arguments", value.get("parameters", {}))
    return TextCall(value["name"], arguments if isinstance(arguments, str) else json.dumps(arguments))
