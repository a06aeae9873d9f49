"""Start the configured policy server as a Ray Serve application and say where agents reach it."""

from typing import NamedTuple

import ray
from ray import serve

from serving.config import BaselinePolicyConfig, PolicyConfig, VLLMPolicyConfig

APP_NAME = "policy"


class PolicyEndpoint(NamedTuple):
    """Where the agents' OpenAI client points: `base_url` (ends in /v1) and the model id."""

    base_url: str
    model: str


def start_policy_server(policy: PolicyConfig, host: str, port: int) -> PolicyEndpoint:
    """Deploy the policy app on Ray Serve's HTTP proxy at host:port; blocks until it is healthy."""
    serve.start(http_options={"host": host, "port": port}, proxy_location="HeadOnly")
    if isinstance(policy, BaselinePolicyConfig):
        from serving.baseline_app import build_baseline_app

        app = build_baseline_app(policy.model)
    elif isinstance(policy, VLLMPolicyConfig):
        from serving.vllm_app import build_vllm_app

        app = build_vllm_app(policy)
    else:  # pragma: no cover - the config union is exhaustive
        raise TypeError(f"unknown policy {policy!r}")
    serve.run(app, name=APP_NAME, route_prefix="/")
    # Workers on other nodes reach a proxy bound to all interfaces through the head's address.
    reach = ray.util.get_node_ip_address() if host in ("0.0.0.0", "::") else host
    return PolicyEndpoint(base_url=f"http://{reach}:{port}/v1", model=policy.model)
