"""The replay policy (policies/replay.py) behind an OpenAI-compatible `/v1/chat/completions`.

A test double, not a language model: it plays back a JSONL file of assistant turns and the faults
written in it (HTTP errors, delays, non-JSON bodies, replies cut at their token limit), and with a
context window it refuses over-long prompts the way vLLM does, so drills run over real HTTP.
"""

import asyncio
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from ray import serve

from agents.job_facts import read_job_facts
from policies.replay import ReplayError, ReplayPolicy, context_length_error
from serving._openai_wire import (
    ChatRequest,
    approx_tokens,
    completion_response,
    error_response,
    models_response,
    wrong_model,
)

api = FastAPI(title="AIRA replay policy (test double)")


async def replay_answer(policy: ReplayPolicy, model: str, request: ChatRequest) -> Response:
    """The replay's answer to one chat-completions request."""
    if request.model != model:
        return wrong_model(request.model, model)
    if policy.context_window is not None:
        prompt_tokens, _ = approx_tokens(request.messages, {}, request.tools)
        refusal = context_length_error(policy.context_window, prompt_tokens, request.max_tokens)
        if refusal is not None:
            return error_response(400, refusal, "BadRequestError")
    facts = read_job_facts(request.model_extra)
    try:
        turn = policy.turn_for(request.messages, facts.turn if facts is not None else None)
    except ReplayError as e:
        return error_response(400, str(e))
    if turn.fault is not None:
        await asyncio.sleep(turn.fault.delay_s)
        if turn.fault.status is not None:
            return error_response(turn.fault.status, turn.fault.message)
        if turn.fault.garbage is not None:
            return Response(turn.fault.garbage, media_type="text/html")
    usage = approx_tokens(request.messages, turn.message, request.tools)
    return completion_response(model, turn.message, *usage, finish=turn.finish_reason)


class ReplayServer:
    def __init__(self, model: str, path: str, context_window: int | None = None) -> None:
        self.model = model
        self.policy = ReplayPolicy(Path(path), context_window)

    @api.get("/v1/models")
    def models(self) -> dict[str, Any]:
        return models_response(self.model)

    @api.post("/v1/chat/completions")
    async def chat(self, request: ChatRequest) -> Response:
        return await replay_answer(self.policy, self.model, request)


ReplayDeployment = serve.deployment(name="replay", ray_actor_options={"num_cpus": 0})(
    serve.ingress(api)(ReplayServer)
)


def build_replay_app(model: str, path: Path, context_window: int | None = None) -> serve.Application:
    """The Serve application replaying the file at `path` under `model` (checked before deploying)."""
    ReplayPolicy(path)  # a bad file fails here, on the driver, with its line number
    return ReplayDeployment.bind(model, str(Path(path).resolve()), context_window)
