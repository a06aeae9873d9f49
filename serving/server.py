"""The policy factory: turn the `policy` config into a running Ray Serve app and where agents reach it."""

from typing import Any

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
from serving.endpoint import (
    LOCAL_API_KEY,
    PolicyEndpoint,
    PolicyError,
    external_endpoint,
    policy_missing,
)

APP_NAME = "policy"

__all__ = [
    "APP_NAME",
    "LOCAL_API_KEY",
    "PolicyEndpoint",
    "PolicyError",
    "build_policy_app",
    "external_endpoint",
    "policy_missing",
    "start_policy_server",
    "stop_policy_server",
]


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


def stop_policy_server(policy: PolicyConfig) -> None:
    """Delete the policy app this process deployed; an external endpoint was never deployed."""
    if isinstance(policy, OpenAIPolicyConfig):
        return
    serve.delete(APP_NAME)


def build_policy_app(policy: PolicyConfig) -> Any:
    """The Serve application of a self-hosted policy (imports each backend only when it is used)."""
    if isinstance(policy, BaselinePolicyConfig):
        from serving.baseline_app import build_baseline_app

        return build_baseline_app(policy.model)
    if isinstance(policy, ReplayPolicyConfig):
        from serving.replay_app import build_replay_app

        assert policy.path is not None  # the config requires it
        return build_replay_app(policy.model, policy.path, policy.context_window)
    if isinstance(policy, LlamaCppPolicyConfig):
        from serving.llamacpp_app import build_llamacpp_app

        return build_llamacpp_app(policy)
    if isinstance(policy, VLLMPolicyConfig):
        from serving.vllm_app import build_vllm_app

        return build_vllm_app(policy)
    raise PolicyError(f"policy={policy.name} is not served by Ray Serve")
