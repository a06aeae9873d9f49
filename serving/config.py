"""The `policy` config group: which policy server to start and how agents call it."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BaselinePolicyConfig(_Strict):
    """The LLM-free scripted baseline policy (a test double, not a language model)."""

    name: Literal["baseline"]
    model: str = "aira-baseline"
    request_timeout_s: float = Field(60.0, gt=0)
    max_retries: int = Field(3, ge=0)


class VLLMPolicyConfig(_Strict):
    """Self-hosted models served by vLLM through ray.serve.llm on GPU nodes."""

    name: Literal["vllm"]
    model: str
    source: str
    tensor_parallel_size: int = Field(1, ge=1)
    max_model_len: int = Field(32768, ge=1024)
    enable_prefix_caching: bool = True
    enable_auto_tool_choice: bool = True
    tool_call_parser: str = "hermes"
    num_replicas: int = Field(1, ge=1)
    accelerator_type: str | None = None
    request_timeout_s: float = Field(600.0, gt=0)
    max_retries: int = Field(3, ge=0)


PolicyConfig = Annotated[BaselinePolicyConfig | VLLMPolicyConfig, Field(discriminator="name")]
