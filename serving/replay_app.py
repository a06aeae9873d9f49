"""The replay policy (policies/replay.py) behind an OpenAI-compatible `/v1/chat/completions`.

A test double, not a language model: it plays back a JSONL file of assistant turns and the faults
written in it (HTTP errors, delays, non-JSON bodies, replies cut at their token limit), and with a
context window it refuses over-long prompts the way vLLM does, so drills run over real HTTP.
"""

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from ray import serve

from policies.replay import ReplayPolicy
from serving._openai_wire import ChatRequest, models_response
from serving._scripted_answers import replay_answer

api = FastAPI(title="AIRA replay policy (test double)")


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
