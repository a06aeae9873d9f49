"""The replay policy (policies/replay.py) behind an OpenAI-compatible `/v1/chat/completions`.

A test double, not a language model: it plays back a JSONL file of assistant turns and the faults
written in it (HTTP errors, delays, non-JSON bodies), so drills run over real HTTP.
"""

import asyncio
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from ray import serve

from policies.replay import ReplayError, ReplayPolicy
from serving._openai_wire import (
    ChatRequest,
    approx_tokens,
    completion_response,
    error_response,
    models_response,
    wrong_model,
)

api = FastAPI(title="AIRA replay policy (test double)")


class ReplayServer:
    def __init__(self, model: str, path: str) -> None:
        self.model = model
        self.policy = ReplayPolicy(Path(path))

    @api.get("/v1/models")
    def models(self) -> dict[str, Any]:
        return models_response(self.model)

    @api.post("/v1/chat/completions")
    async def chat(self, request: ChatRequest) -> Response:
        if request.model != self.model:
            return wrong_model(request.model, self.model)
        try:
            turn = self.policy.turn_for(request.messages)
        except ReplayError as e:
            return error_response(400, str(e))
        if turn.fault is not None:
            await asyncio.sleep(turn.fault.delay_s)
            if turn.fault.status is not None:
                return error_response(turn.fault.status, turn.fault.message)
            if turn.fault.garbage is not None:
                return Response(turn.fault.garbage, media_type="text/html")
        return completion_response(self.model, turn.message, *approx_tokens(request.messages, turn.message))


ReplayDeployment = serve.deployment(name="replay", ray_actor_options={"num_cpus": 0})(
    serve.ingress(api)(ReplayServer)
)


def build_replay_app(model: str, path: Path) -> serve.Application:
    """The Serve application replaying the file at `path` under `model` (checked before deploying)."""
    ReplayPolicy(path)  # a bad file fails here, on the driver, with its line number
    return ReplayDeployment.bind(model, str(Path(path).resolve()))
