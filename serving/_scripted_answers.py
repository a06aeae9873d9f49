"""How the scripted policies (baseline, replay) answer a chat-completions request, without Ray: shared
by their Ray Serve apps and the standalone server (serving/standalone.py)."""

import asyncio

from fastapi.responses import JSONResponse, Response

from agents.job_facts import read_job_facts
from policies.baseline import BaselinePolicy
from policies.replay import ReplayError, ReplayPolicy, context_length_error
from serving._openai_wire import ChatRequest, approx_tokens, completion_response, error_response, wrong_model


def baseline_answer(policy: BaselinePolicy, model: str, request: ChatRequest) -> JSONResponse:
    """The baseline's answer to one chat-completions request (the job's facts from its extra fields)."""
    if request.model != model:
        return wrong_model(request.model, model)
    facts = read_job_facts(request.model_extra)
    message = policy.respond(request.messages, request.tools, request.seed, facts)
    # The baseline has no tokenizer; ~4 characters per token keeps token accounting meaningful.
    return completion_response(model, message, *approx_tokens(request.messages, message, request.tools))


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
