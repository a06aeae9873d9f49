"""The policy client the agents use: async, with retries, a timeout, a concurrency limit, per-model
sampling settings, the run's token budget and its outage breaker.

It wraps the official `openai.AsyncOpenAI` (whose own retries are off so that the policy here is the
only one): rate limits (429), request timeouts (408), server errors (5xx), timeouts and lost
connections are retried with exponential backoff, `max_retries` times and then on through an outage
until it has lasted `outage_wait_s` (the outage is reported to the run's breaker, which holds new
jobs, and so is the recovery); anything else (another 4xx, a context-length refusal, a body that is
not a completion) fails at once and the agent handles it. Every completion's usage goes to the run's
TokenLedger, and a spent budget stops the episode before its next request.
"""

import asyncio
import random
import time
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, cast

import openai
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam, ChatCompletionToolParam
from pydantic import BaseModel

from agents.job_facts import FACTS_FIELD
from agents.react import PolicyStop
from serving.config import PolicyConfig, SamplingConfig, VLLMPolicyConfig, context_window_for, sampling_for
from serving.metrics import PolicyMetrics
from serving.outage import OutageReporter

if TYPE_CHECKING:  # serving.server imports Ray Serve, which a worker does not need
    from serving.endpoint import PolicyEndpoint

RETRYABLE = (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError)
RETRYABLE_STATUS = (408, 429)
_MAX_BACKOFF_S = 30.0


# The episode the current task works for: (a key unique to this attempt, its node id). A worker sets
# it around each episode; the client then reports the episode's cumulative usage to the run's ledger,
# so a restarted ledger learns an episode's whole usage from its next report.
EPISODE: ContextVar[tuple[str, int] | None] = ContextVar("aira_episode", default=None)


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
    outage_wait_s: float = 0.0
    max_concurrency: int
    job_facts: bool = False
    sampling: dict[str, SamplingConfig]  # by model id
    context_windows: dict[str, int] = {}  # by model id, where the policy knows it


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
        outage_wait_s=policy.outage_wait_s,
        max_concurrency=policy.max_concurrency,
        job_facts=policy.job_facts,
        sampling={m: sampling_for(policy, m) for m in models},
        context_windows={m: w for m in models if (w := context_window_for(policy, m)) is not None},
    )


class PolicyClient:
    """One worker's connection to the policy server (implements agents.react.ChatPolicy).

    `ledger` is the run's TokenLedger actor handle (serving/budget.py), or None for no accounting;
    `breaker` what outages and recoveries are reported to (serving/outage.py), or None.
    """

    def __init__(
        self,
        settings: ClientSettings,
        ledger: Any = None,
        breaker: OutageReporter | None = None,
        metrics: PolicyMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or PolicyMetrics()
        self.ledger = ledger
        self.breaker = breaker
        self.in_outage = False  # this client reported an outage and no recovery yet
        self.openai = openai.AsyncOpenAI(
            base_url=settings.base_url,
            api_key=settings.api_key,
            timeout=settings.request_timeout_s,
            max_retries=0,
        )
        self.limit = asyncio.Semaphore(settings.max_concurrency)
        self.retries = 0  # retried requests since start, for drills and logs
        self.episode_usage: dict[str, list[int]] = {}  # episode key -> prompt, completion tokens so far

    def model_for(self, operator: str) -> str:
        """The model that runs `operator` (draft, mutate, crossover)."""
        return self.settings.operator_models.get(operator, self.settings.model)

    def context_window(self, model: str) -> int | None:
        """The context window of `model` in tokens, None where the policy does not say."""
        return self.settings.context_windows.get(model)

    async def complete(
        self,
        model: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        seed: int,
        job: dict[str, Any] | None = None,
    ) -> ChatCompletion:
        """One chat completion, retried on transient failures; PolicyStop when the budget is spent.
        `job` (the job's facts) is sent in the `aira_job` body field when policy.job_facts is on."""
        if self.ledger is not None:
            spent: str | None = await self.ledger.exhausted.remote()
            if spent:
                raise PolicyStop(spent)
        sampling = self.settings.sampling.get(model, SamplingConfig())
        # A model that rejects a sampling parameter gets none: only the ones configured are sent.
        extra: dict[str, Any] = {k: v for k, v in sampling.model_dump().items() if v is not None}
        if self.settings.job_facts and job is not None:
            extra["extra_body"] = {FACTS_FIELD: job}
        async with self.limit:
            completion = await self._with_retries(model, messages, tools, seed, extra)
        if completion.usage is not None:
            self.metrics.tokens(model, completion.usage.prompt_tokens, completion.usage.completion_tokens)
        if self.ledger is not None and completion.usage is not None:
            await self._report(completion.usage.prompt_tokens, completion.usage.completion_tokens)
        return completion

    async def _report(self, prompt_tokens: int, completion_tokens: int) -> None:
        episode = EPISODE.get()
        if episode is None:
            await self.ledger.add.remote(prompt_tokens, completion_tokens)
            return
        key, node_id = episode
        used = self.episode_usage.setdefault(key, [0, 0])
        used[0] += prompt_tokens
        used[1] += completion_tokens
        await self.ledger.report.remote(key, node_id, used[0], used[1])

    def end_episode(self, key: str) -> None:
        """Forget an ended episode's running totals (the journal has its node)."""
        self.episode_usage.pop(key, None)

    async def _with_retries(
        self,
        model: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        seed: int,
        extra: dict[str, Any],
    ) -> ChatCompletion:
        # No tools (the single-turn operator): neither `tools` nor `tool_choice` is sent, as servers
        # refuse a tool_choice without tools.
        offered: dict[str, Any] = {}
        if tools:
            offered = {"tools": cast(list[ChatCompletionToolParam], tools), "tool_choice": "auto"}
        first_failure: float | None = None
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                completion = await self.openai.chat.completions.create(
                    model=model,
                    messages=cast(list[ChatCompletionMessageParam], messages),
                    seed=seed,
                    **offered,
                    **extra,
                )
            except openai.OpenAIError as e:
                if not retryable(e):
                    self.metrics.request(model, time.monotonic() - started, e, False)
                    raise
                now = time.monotonic()
                first_failure = first_failure or now
                left_s = self.settings.outage_wait_s - (now - first_failure)
                gives_up = attempt >= self.settings.max_retries and left_s <= 0
                self.metrics.request(model, now - started, e, not gives_up)
                if attempt >= self.settings.max_retries:
                    if left_s <= 0:
                        raise
                    await self._report_down(e)
                self.retries += 1
                delay = backoff_s(self.settings.retry_backoff_s, attempt)
                await asyncio.sleep(delay if attempt < self.settings.max_retries else min(delay, left_s))
                attempt += 1
                continue
            await self._report_up()
            if not isinstance(completion, ChatCompletion):
                # The openai client hands back the raw text when a 200 body is not JSON.
                error = NotACompletion(
                    f"the policy server answered with a body that is not a chat completion: {completion:.200}"
                )
                self.metrics.request(model, time.monotonic() - started, error, False)
                raise error
            self.metrics.request(model, time.monotonic() - started, None, False)
            return completion

    async def _report_down(self, error: openai.OpenAIError) -> None:
        if self.breaker is not None and not self.in_outage:
            self.in_outage = True
            await self.breaker.down(f"{type(error).__name__}: {str(error)[:300]}")

    async def _report_up(self) -> None:
        if self.breaker is not None and self.in_outage:
            self.in_outage = False
            await self.breaker.up()


def retryable(error: openai.OpenAIError) -> bool:
    """Whether `error` is transient: rate limits, request timeouts, 5xx, timeouts, lost connections."""
    if isinstance(error, RETRYABLE):
        return True
    return isinstance(error, openai.APIStatusError) and error.status_code in RETRYABLE_STATUS


def backoff_s(first_s: float, attempt: int) -> float:
    """The delay before retry `attempt + 1`: doubling from `first_s`, jittered, capped at 30 s."""
    return min(_MAX_BACKOFF_S, first_s * 2**attempt) * random.uniform(0.5, 1.0)
