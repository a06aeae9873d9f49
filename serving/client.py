"""The policy client the agents use: async, with retries, a timeout, a concurrency limit, per-model
sampling settings and the run's token budget.

It wraps the official `openai.AsyncOpenAI` (whose own retries are off so that the policy here is the
only one): rate limits (429), server errors (5xx), timeouts and lost connections are retried with
exponential backoff; anything else (a 4xx, a body that is not a completion) fails at once and the
agent records it. Every completion's usage goes to the run's TokenLedger, and a spent budget stops the
episode before its next request.
"""

import asyncio
import random
import time
from typing import TYPE_CHECKING, Any, cast

import openai
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam, ChatCompletionToolParam
from pydantic import BaseModel

from agents.react import PolicyStop
from serving.config import PolicyConfig, SamplingConfig, VLLMPolicyConfig, sampling_for
from serving.metrics import PolicyMetrics

if TYPE_CHECKING:  # serving.server imports Ray Serve, which a worker does not need
    from serving.endpoint import PolicyEndpoint

RETRYABLE = (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError)
_MAX_BACKOFF_S = 30.0


class NotACompletion(openai.OpenAIError):
    """A 200 reply whose body is not a chat completion (e.g. a proxy's HTML page)."""


class ClientSettings(BaseModel):
    """Everything a worker needs to build its PolicyClient (crosses the process boundary)."""

    base_url: str
    api_key: str
    model: str
    operator_models: dict[str, str] = {}
    request_timeout_s: float
    max_retries: int
    retry_backoff_s: float
    max_concurrency: int
    sampling: dict[str, SamplingConfig]  # by model id


def client_settings(policy: PolicyConfig, endpoint: "PolicyEndpoint") -> ClientSettings:
    """The client settings of a started policy."""
    models = [m.model for m in policy.models] if isinstance(policy, VLLMPolicyConfig) else [policy.model]
    return ClientSettings(
        base_url=endpoint.base_url,
        api_key=endpoint.api_key,
        model=endpoint.model,
        operator_models=endpoint.operator_models,
        request_timeout_s=policy.request_timeout_s,
        max_retries=policy.max_retries,
        retry_backoff_s=policy.retry_backoff_s,
        max_concurrency=policy.max_concurrency,
        sampling={m: sampling_for(policy, m) for m in models},
    )


class PolicyClient:
    """One worker's connection to the policy server (implements agents.react.ChatPolicy).

    `ledger` is the run's TokenLedger actor handle (serving/budget.py), or None for no accounting.
    """

    def __init__(
        self, settings: ClientSettings, ledger: Any = None, metrics: PolicyMetrics | None = None
    ) -> None:
        self.settings = settings
        self.metrics = metrics or PolicyMetrics()
        self.ledger = ledger
        self.openai = openai.AsyncOpenAI(
            base_url=settings.base_url,
            api_key=settings.api_key,
            timeout=settings.request_timeout_s,
            max_retries=0,
        )
        self.limit = asyncio.Semaphore(settings.max_concurrency)
        self.retries = 0  # retried requests since start, for drills and logs

    def model_for(self, operator: str) -> str:
        """The model that runs `operator` (draft, mutate, crossover)."""
        return self.settings.operator_models.get(operator, self.settings.model)

    async def complete(
        self, model: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]], seed: int
    ) -> ChatCompletion:
        """One chat completion, retried on transient failures; PolicyStop when the budget is spent."""
        if self.ledger is not None:
            spent: str | None = await self.ledger.exhausted.remote()
            if spent:
                raise PolicyStop(spent)
        sampling = self.settings.sampling.get(model, SamplingConfig())
        # A model that rejects a sampling parameter gets none: only the ones configured are sent.
        extra = {k: v for k, v in sampling.model_dump().items() if v is not None}
        async with self.limit:
            completion = await self._with_retries(model, messages, tools, seed, extra)
        if completion.usage is not None:
            self.metrics.tokens(model, completion.usage.prompt_tokens, completion.usage.completion_tokens)
        if self.ledger is not None and completion.usage is not None:
            await self.ledger.add.remote(completion.usage.prompt_tokens, completion.usage.completion_tokens)
        return completion

    async def _with_retries(
        self,
        model: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        seed: int,
        extra: dict[str, Any],
    ) -> ChatCompletion:
        for attempt in range(self.settings.max_retries + 1):
            started = time.monotonic()
            try:
                completion = await self.openai.chat.completions.create(
                    model=model,
                    messages=cast(list[ChatCompletionMessageParam], messages),
                    tools=cast(list[ChatCompletionToolParam], tools),
                    tool_choice="auto",
                    seed=seed,
                    **extra,
                )
            except RETRYABLE as e:
                retried = attempt < self.settings.max_retries
                self.metrics.request(model, time.monotonic() - started, e, retried)
                if not retried:
                    raise
                self.retries += 1
                await asyncio.sleep(backoff_s(self.settings.retry_backoff_s, attempt))
                continue
            except openai.OpenAIError as e:
                self.metrics.request(model, time.monotonic() - started, e, False)
                raise
            if not isinstance(completion, ChatCompletion):
                # The openai client hands back the raw text when a 200 body is not JSON.
                error = NotACompletion(
                    f"the policy server answered with a body that is not a chat completion: {completion:.200}"
                )
                self.metrics.request(model, time.monotonic() - started, error, False)
                raise error
            self.metrics.request(model, time.monotonic() - started, None, False)
            return completion
        raise AssertionError("unreachable: the last attempt returns or raises")


def backoff_s(first_s: float, attempt: int) -> float:
    """The delay before retry `attempt + 1`: doubling from `first_s`, jittered, capped at 30 s."""
    return min(_MAX_BACKOFF_S, first_s * 2**attempt) * random.uniform(0.5, 1.0)
