"""How a base model without a chat template is asked for tool calls: a transcript prompt with
few-shot examples, and a JSON schema that constrains the reply to one call of an offered tool.

Pure Python (no llama.cpp import), so the format is unit-tested without the model.
"""

import json
from typing import Any

from policies.messages import message_text

ASSISTANT = "Assistant:"
STOP = ["\nUser:", "\nTool", "\nSystem:", "\n###"]

_HEADER = (
    "Below are transcripts of an AI assistant that solves tasks by calling tools. Every assistant turn "
    "is exactly one tool call written as a JSON object with `name` and `arguments`."
)
# Few-shot turns in the format the grammar enforces; shown only for the tools they use.
_EXAMPLES: list[tuple[str, str, dict[str, Any], str]] = [
    ("User", "bash", {"command": "ls data"}, "train.csv test.csv sample_submission.csv"),
    ("User", "bash", {"command": "python solution.py"}, "[exit 0, 2.1 s]\nwrote submission.csv"),
    ("User", "submit", {"submission_path": "submission.csv", "code_path": "solution.py"}, "submitted"),
]


def tool_names(tools: list[dict[str, Any]]) -> list[str]:
    """The names of the offered function tools."""
    return [t["function"]["name"] for t in tools if t.get("type") == "function" and "function" in t]


def tool_call_schema(tools: list[dict[str, Any]]) -> dict[str, Any]:
    """A JSON schema that admits exactly one call of one offered tool with valid arguments."""
    options = []
    for tool in tools:
        function = tool.get("function", {})
        parameters = function.get("parameters") or {"type": "object", "properties": {}}
        options.append(
            {
                "type": "object",
                "properties": {"name": {"const": function["name"]}, "arguments": parameters},
                "required": ["name", "arguments"],
                "additionalProperties": False,
            }
        )
    return options[0] if len(options) == 1 else {"oneOf": options}


def render_prompt(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> str:
    """The transcript prompt for `messages`, ending where the assistant's next turn starts."""
    parts = [_HEADER]
    if tools:
        parts.append("Tools:\n" + "\n".join(_describe(t) for t in tools))
        offered = set(tool_names(tools))
        examples = [e for e in _EXAMPLES if e[1] in offered]
        if examples:
            lines = ["### Example", "User: Look at the data, write a solution and submit it."]
            for _, name, arguments, observation in examples:
                lines.append(f"{ASSISTANT} {_call_json(name, arguments)}")
                lines.append(f"Tool ({name}): {observation}")
            parts.append("\n".join(lines))
    lines = ["### Transcript"]
    names: dict[str, str] = {}
    for m in messages:
        role, content = m.get("role"), message_text(m.get("content"))
        if role == "system":
            lines.append(f"System: {content}")
        elif role == "user":
            lines.append(f"User: {content}")
        elif role == "assistant":
            calls = m.get("tool_calls") or []
            for call in calls:
                names[call.get("id", "")] = call["function"]["name"]
                lines.append(f"{ASSISTANT} {_history_call(call)}")
            if not calls:
                lines.append(f"{ASSISTANT} {content}")
        elif role == "tool":
            lines.append(f"Tool ({names.get(m.get('tool_call_id', ''), 'tool')}): {content}")
    parts.append("\n".join(lines))
    return "\n\n".join(parts) + f"\n{ASSISTANT}"


def parse_tool_call(text: str, tools: list[dict[str, Any]]) -> tuple[str, dict[str, Any]] | None:
    """The (name, arguments) of a reply written under the grammar; None when it is cut short or
    names no offered tool."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(value, dict) or value.get("name") not in tool_names(tools):
        return None
    arguments = value.get("arguments")
    return (value["name"], arguments) if isinstance(arguments, dict) else None


def _describe(tool: dict[str, Any]) -> str:
    function = tool.get("function", {})
    properties = (function.get("parameters") or {}).get("properties", {})
    args = ", ".join(f"{name}: {spec.get('type', 'any')}" for name, spec in properties.items())
    description = " ".join(str(function.get("description", "")).split())
    return f"- {function.get('name')}({args}): {description}"


def _call_json(name: str, arguments: dict[str, Any]) -> str:
    return json.dumps({"name": name, "arguments": arguments})


def _history_call(call: dict[str, Any]) -> str:
    function = call.get("function", {})
    try:
        arguments = json.loads(function.get("arguments") or "{}")
    except json.JSONDecodeError:
        arguments = {}
    return _call_json(function.get("name", ""), arguments if isinstance(arguments, dict) else {})
