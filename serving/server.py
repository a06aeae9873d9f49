"""The policy factory: turn the `policy` config into a running Ray Serve app and where agents reach it."""

import logging
from typing import Any, NamedTuple

import ray
from ray import serve
from ray.serve.context import _get_global_client

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
ALL_INTERFACES = ("0.0.0.0", "::")

log = logging.getLogger(__name__)

__all__ = [
    "APP_NAME",
    "LOCAL_API_KEY",
    "PolicyEndpoint",
    "PolicyError",
    "ServeProxy",
    "build_policy_app",
    "external_endpoint",
    "policy_missing",
    "serve_proxy",
    "start_policy_server",
    "stop_policy_server",
]


class ServeProxy(NamedTuple):
    """Where Serve's HTTP proxy listens."""

    host: str
    port: int


def serve_proxy(host: str, port: int) -> ServeProxy:
    """Start Serve with its HTTP proxy at host:port, or find the Serve instance already running on
    the cluster and say where its proxy really listens.

    Serve outlives the driver that started it (its controller and proxy are detached actors), and
    `serve.start` on a running instance keeps the old HTTP options: a grid launched again after its
    driver died must announce the old proxy's port, not the one it asked for, or no episode reaches
    the policy.
    """
    running = _get_global_client(raise_if_no_controller_running=False)
    if running is None:
        serve.start(http_options={"host": host, "port": port}, proxy_location="HeadOnly")
        return ServeProxy(host, port)
    http = running.http_config
    if (http.host, http.port) == (host, port):
        return ServeProxy(host, port)
    if host in ALL_INTERFACES and http.host not in ALL_INTERFACES:
        raise PolicyError(
            f"serve.host={host}: Ray Serve already runs on this cluster with its HTTP proxy on "
            f"{http.host}:{http.port} (left by an earlier launch, or another application), which workers "
            "on other nodes cannot reach, and a running proxy cannot be moved: stop it with "
            "`serve shutdown -y` on the head node (it deletes every Serve application) and launch again"
        )
    log.warning(
        "Ray Serve already runs on this cluster with its HTTP proxy on %s:%s (left by an earlier launch, "
        "or another application): the policy is deployed there, serve.host=%s serve.port=%s are not "
        "applied (`serve shutdown -y` on the head node stops it)",
        http.host,
        http.port,
        host,
        port,
    )
    return ServeProxy(http.host, http.port)


def start_policy_server(policy: PolicyConfig, host: str, port: int) -> PolicyEndpoint:
    """Deploy the policy app on Ray Serve's HTTP proxy (host:port, or the proxy of the Serve instance
    already running: `serve_proxy`) and block until it is healthy; for an external endpoint, start
    nothing and return its address."""
    if isinstance(policy, OpenAIPolicyConfig):
        return external_endpoint(policy)
    proxy = serve_proxy(host, port)
    serve.run(build_policy_app(policy), name=APP_NAME, route_prefix="/")
    # Workers on other nodes reach a proxy bound to all interfaces through the head's address.
    reach = ray.util.get_node_ip_address() if proxy.host in ALL_INTERFACES else proxy.host
    operator_models: dict[str, str] = {}
    if isinstance(policy, VLLMPolicyConfig):
        operator_models = {str(op): m for op, m in (policy.operator_models or {}).items()}
    return PolicyEndpoint(
        base_url=f"http://{reach}:{proxy.port}/v1", model=policy.model, operator_models=operator_models
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
