"""The baseline policy behind an OpenAI-compatible `/v1/chat/completions`, as a Ray Serve app.

The baseline is a scripted test double (see policies/baseline.py), not a language model.
Serving it through the same HTTP surface as vLLM keeps the workers' code path identical.
"""

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from ray import serve

from agents.job_facts import read_job_facts
from policies.baseline import BaselinePolicy
from serving._openai_wire import ChatRequest, approx_tokens, completion_response, models_response, wrong_model

api = FastAPI(title="AIRA baseline policy (LLM-free test double)")


def baseline_answer(policy: BaselinePolicy, model: str, request: ChatRequest) -> JSONResponse:
    """The baseline's answer to one chat-completions request (the job's facts from its extra fields)."""
    if request.model != model:
        return wrong_model(request.model, model)
    facts = read_job_facts(request.model_extra)
    message = policy.respond(request.messages, request.tools, request.seed, facts)
    # The baseline has no tokenizer; ~4 characters per token keeps token accounting meaningful.
    return completion_response(model, message, *approx_tokens(request.messages, message, request.tools))


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
