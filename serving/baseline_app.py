"""The baseline policy behind an OpenAI-compatible `/v1/chat/completions`, as a Ray Serve app.

The baseline is a scripted test double (see serving/baseline_policy.py), not a language model.
Serving it through the same HTTP surface as vLLM keeps the workers' code path identical.
"""

import time
import uuid
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from ray import serve

from serving.baseline_policy import BaselinePolicy

api = FastAPI(title="AIRA baseline policy (LLM-free test double)")


class ChatRequest(BaseModel):
    """The subset of OpenAI's chat-completions request the baseline reads; the rest is accepted."""

    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None
    seed: int | None = None


class BaselineServer:
    def __init__(self, model: str) -> None:
        self.model = model
        self.policy = BaselinePolicy()

    @api.get("/v1/models")
    def models(self) -> dict[str, Any]:
        return {"object": "list", "data": [{"id": self.model, "object": "model", "owned_by": "aira"}]}

    @api.post("/v1/chat/completions")
    def chat(self, request: ChatRequest) -> JSONResponse:
        if request.model != self.model:
            return JSONResponse(
                status_code=404,
                content={"error": {"message": f"model {request.model!r} not served; use {self.model!r}"}},
            )
        message = self.policy.respond(request.messages, request.tools, request.seed)
        prompt_chars = sum(len(str(m.get("content") or "")) for m in request.messages)
        completion_chars = len(str(message.get("content") or "")) + sum(
            len(c["function"]["arguments"]) for c in message.get("tool_calls") or []
        )
        # The baseline has no tokenizer; ~4 characters per token keeps token accounting meaningful.
        usage = {"prompt_tokens": prompt_chars // 4, "completion_tokens": completion_chars // 4}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return JSONResponse(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": self.model,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
                    }
                ],
                "usage": usage,
            }
        )


BaselineDeployment = serve.deployment(name="baseline", ray_actor_options={"num_cpus": 0})(
    serve.ingress(api)(BaselineServer)
)


def build_baseline_app(model: str) -> serve.Application:
    """The Serve application serving the baseline policy under `model`."""
    return BaselineDeployment.bind(model)
