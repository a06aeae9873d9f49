"""Parsing and checking the arguments of a tool call against the tool's JSON schema."""

import json
from typing import Any

# The JSON-schema types the tools use, as the Python types json.loads produces for them.
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


class ToolError(Exception):
    """A tool call the agent got wrong; the message tells it what to change."""


def parse_arguments(raw: str) -> dict[str, Any]:
    """Decode a tool call's arguments string into a JSON object."""
    if not raw.strip():
        return {}  # some servers send "" for a call without arguments
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ToolError(
            f"the arguments are not valid JSON ({e.msg} at position {e.pos}): {raw[:200]!r}"
        ) from None
    if not isinstance(value, dict):
        raise ToolError(f"the arguments must be a JSON object of named arguments, got {_json_type(value)}")
    return value


def signature(name: str, parameters: dict[str, Any]) -> str:
    """A call signature for messages, e.g. `submit(submission_path: string = 'submission.csv')`."""
    parts = []
    for arg, spec in parameters["properties"].items():
        default = f" = {spec['default']!r}" if "default" in spec else ""
        parts.append(f"{arg}: {spec['type']}{default}")
    return f"{name}({', '.join(parts)})"


def check_arguments(parameters: dict[str, Any], arguments: dict[str, Any]) -> dict[str, Any]:
    """Return `arguments` with defaults filled in, or raise ToolError naming every problem."""
    properties: dict[str, Any] = parameters["properties"]
    problems = [f"missing argument {arg!r}" for arg in parameters.get("required", []) if arg not in arguments]
    for arg, value in arguments.items():
        if arg not in properties:
            problems.append(f"unknown argument {arg!r}")
            continue
        expected = properties[arg]["type"]
        # bool is an int in Python but not in JSON schema
        if (isinstance(value, bool) and expected != "boolean") or not isinstance(value, _TYPES[expected]):
            problems.append(f"argument {arg!r} must be a {expected}, got {_json_type(value)}")
    if problems:
        raise ToolError("; ".join(problems))
    defaults = {arg: spec["default"] for arg, spec in properties.items() if "default" in spec}
    return defaults | arguments


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)
