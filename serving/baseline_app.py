"""The baseline policy behind an OpenAI-compatible `/v1/chat/completions`, as a Ray Serve app.

The baseline is a scripted test double (see policies/baseline.py), not a language model.
Serving it through the same HTTP surface as vLLM keeps the workers' code path identical.
"""

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from ray import serve

from policies.baseline import BaselinePolicy
from serving._openai_wire import ChatRequest, models_response
from serving._scripted_answers import baseline_answer

api = FastAPI(title="AIRA baseline policy (LLM-free test double)")


class BaselineServer:
    def __init__(self, model: str) -> None:
        self.model = model
        self.policy = BaselinePolicy()

    @api.get("/v1/models")
    def models(self) -> dict[str, Any]:
        return models_response(self.model)

    @api.post("/v1/chat/completions")
    def chat(self, request: ChatRequest) -> JSONResponse:
        return baseline_answer(self.policy, self.model, request)


BaselineDeployment = serve.deployment(name="baseline", ray_actor_options={"num_cpus": 0})(
    serve.ingress(api)(BaselineServer)
)


def build_baseline_app(model: str) -> serve.Application:
    """The Serve application serving the baseline policy under `model`."""
    return BaselineDeployment.bind(model)
