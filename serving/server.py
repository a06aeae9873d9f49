"""The policy factory: turn the `policy` config into a running Ray Serve app and where agents reach it."""

import os
from typing import Any, NamedTuple

import ray
from ray import serve

from serving.config import (
    BaselinePolicyConfig,
    LlamaCppPolicyConfig,
    OpenAIPolicyConfig,
    PolicyConfig,
    ReplayPolicyConfig,
    VLLMPolicyConfig,
)

APP_NAME = "policy"
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


def start_policy_server(policy: PolicyConfig, host: str, port: int) -> PolicyEndpoint:
    """Deploy the policy app on Ray Serve's HTTP proxy at host:port (blocks until it is healthy), or,
    for an external endpoint, start nothing and return its address."""
    if isinstance(policy, OpenAIPolicyConfig):
        return external_endpoint(policy)
    serve.start(http_options={"host": host, "port": port}, proxy_location="HeadOnly")
    serve.run(build_policy_app(policy), name=APP_NAME, route_prefix="/")
    # Workers on other nodes reach a proxy bound to all interfaces through the head's address.
    reach = ray.util.get_node_ip_address() if host in ("0.0.0.0", "::") else host
    operator_models: dict[str, str] = {}
    if isinstance(policy, VLLMPolicyConfig):
        operator_models = {str(op): m for op, m in (policy.operator_models or {}).items()}
    return PolicyEndpoint(
        base_url=f"http://{reach}:{port}/v1", model=policy.model, operator_models=operator_models
    )


def build_policy_app(policy: PolicyConfig) -> Any:
    """The Serve application of a self-hosted policy (imports each backend only when it is used)."""
    if isinstance(policy, BaselinePolicyConfig):
        from serving.baseline_app import build_baseline_app

        return build_baseline_app(policy.model)
    if isinstance(policy, ReplayPolicyConfig):
        from serving.replay_app import build_replay_app

        assert policy.path is not None  # the config requires it
        return build_replay_app(policy.model, policy.path)
    if isinstance(policy, LlamaCppPolicyConfig):
        from serving.llamacpp_app import build_llamacpp_app

        return build_llamacpp_app(policy)
    if isinstance(policy, VLLMPolicyConfig):
        from serving.vllm_app import build_vllm_app

        return build_vllm_app(policy)
    raise PolicyError(f"policy={policy.name} is not served by Ray Serve")


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
        from serving.llamacpp_app import llamacpp_missing

        if policy.gguf is not None and not policy.gguf.is_file():
            return f"policy.gguf={policy.gguf}: no such file; give a GGUF model file or null for the default"
        return llamacpp_missing()
    if isinstance(policy, OpenAIPolicyConfig):
        try:
            external_endpoint(policy)
        except PolicyError as e:
            return str(e)
    if isinstance(policy, ReplayPolicyConfig) and policy.path is not None:
        from serving.replay_policy import ReplayError, ReplayPolicy

        try:
            ReplayPolicy(policy.path)
        except ReplayError as e:
            return str(e)
    return None
