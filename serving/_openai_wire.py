"""The OpenAI chat-completions wire format that the project's own Serve apps speak."""

import json
import time
import uuid
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict


class ChatRequest(BaseModel):
    """The subset of OpenAI's chat-completions request the apps read; the rest is accepted."""

    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    seed: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None


def error_response(status: int, message: str, kind: str | None = None) -> JSONResponse:
    """An error in OpenAI's shape (vLLM's: message, type, code), which the openai client turns into
    its typed exceptions."""
    error: dict[str, Any] = {"message": message, "code": status}
    if kind is not None:
        error["type"] = kind
    return JSONResponse(status_code=status, content={"error": error})


def wrong_model(requested: str, served: str) -> JSONResponse:
    """The 404 for a model this app does not serve."""
    return error_response(404, f"model {requested!r} not served; use {served!r}")


def models_response(model: str) -> dict[str, Any]:
    """The body of GET /v1/models for an app serving one model."""
    return {"object": "list", "data": [{"id": model, "object": "model", "owned_by": "aira"}]}


def completion_response(
    model: str, message: dict[str, Any], prompt_tokens: int, completion_tokens: int, finish: str | None = None
) -> JSONResponse:
    """A chat.completion with one choice and its usage."""
    return JSONResponse(
        {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": finish or ("tool_calls" if message.get("tool_calls") else "stop"),
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
    )


def approx_tokens(
    messages: list[dict[str, Any]], message: dict[str, Any], tools: list[dict[str, Any]] | None = None
) -> tuple[int, int]:
    """Prompt and completion tokens at ~4 characters per token, for policies without a tokenizer:
    the prompt is the messages' contents and tool calls and the tool schemas."""
    prompt_chars = sum(_message_chars(m) for m in messages) + (len(json.dumps(tools)) if tools else 0)
    return prompt_chars // 4, _message_chars(message) // 4


def _message_chars(message: dict[str, Any]) -> int:
    calls = message.get("tool_calls") or []
    arguments = sum(len(str(c.get("function", {}).get("arguments", ""))) for c in calls)
    return len(str(message.get("content") or "")) + arguments
