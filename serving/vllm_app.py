"""vLLM on GPUs through `ray.serve.llm`. vLLM itself is imported only when the app is built."""

import importlib.util
from typing import Any

from serving.config import VLLMModelConfig, VLLMPolicyConfig


def vllm_llm_config(cfg: VLLMModelConfig) -> dict[str, Any]:
    """The `LLMConfig` fields for one model, as plain data (testable without vLLM)."""
    engine_kwargs: dict[str, Any] = {
        "tensor_parallel_size": cfg.tensor_parallel_size,
        "max_model_len": cfg.max_model_len,
        "enable_prefix_caching": cfg.enable_prefix_caching,
    }
    if cfg.enable_auto_tool_choice:
        engine_kwargs["enable_auto_tool_choice"] = True
        engine_kwargs["tool_call_parser"] = cfg.tool_call_parser
    deployment: dict[str, Any] = {"num_replicas": cfg.num_replicas}
    if cfg.min_replicas is not None:
        deployment = {
            "autoscaling_config": {"min_replicas": cfg.min_replicas, "max_replicas": cfg.max_replicas}
        }
    out: dict[str, Any] = {
        "model_loading_config": {"model_id": cfg.model, "model_source": cfg.source},
        "engine_kwargs": engine_kwargs,
        "deployment_config": deployment,
    }
    if cfg.accelerator_type:
        out["accelerator_type"] = cfg.accelerator_type
    return out


def vllm_app_config(cfg: VLLMPolicyConfig) -> dict[str, Any]:
    """The argument of `build_openai_app`: every model of the policy in one app, as plain data."""
    return {"llm_configs": [vllm_llm_config(m) for m in cfg.models]}


def vllm_missing() -> str | None:
    """Why the vLLM policy cannot start here, or None when its packages are installed."""
    for module in ("vllm", "ray.serve.llm"):
        try:
            if importlib.util.find_spec(module) is None:
                raise ImportError(module)
        except ImportError:
            return (
                f"policy=vllm needs the `{module}` package, which is not installed: on a GPU node run "
                "`pip install -e '.[vllm]'`, or choose another policy (policy=baseline)"
            )
    return None


def build_vllm_app(cfg: VLLMPolicyConfig) -> Any:
    """The OpenAI-compatible Serve application for the configured models (needs vLLM and GPUs)."""
    from ray.serve.llm import LLMConfig, build_openai_app

    app = vllm_app_config(cfg)
    return build_openai_app({"llm_configs": [LLMConfig(**c) for c in app["llm_configs"]]})
