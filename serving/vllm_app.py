"""vLLM on GPUs through `ray.serve.llm`. vLLM itself is imported only when the app is built."""

import importlib.util
from typing import Any

from serving.config import VLLMPolicyConfig


def vllm_llm_config(cfg: VLLMPolicyConfig) -> dict[str, Any]:
    """The `LLMConfig` fields for one model, as plain data (testable without vLLM)."""
    engine_kwargs: dict[str, Any] = {
        "tensor_parallel_size": cfg.tensor_parallel_size,
        "max_model_len": cfg.max_model_len,
        "enable_prefix_caching": cfg.enable_prefix_caching,
    }
    if cfg.enable_auto_tool_choice:
        engine_kwargs["enable_auto_tool_choice"] = True
        engine_kwargs["tool_call_parser"] = cfg.tool_call_parser
    out: dict[str, Any] = {
        "model_loading_config": {"model_id": cfg.model, "model_source": cfg.source},
        "engine_kwargs": engine_kwargs,
        "deployment_config": {"num_replicas": cfg.num_replicas},
    }
    if cfg.accelerator_type:
        out["accelerator_type"] = cfg.accelerator_type
    return out


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
    """The OpenAI-compatible Serve application for the configured model (needs vLLM and GPUs)."""
    from ray.serve.llm import LLMConfig, build_openai_app

    return build_openai_app({"llm_configs": [LLMConfig(**vllm_llm_config(cfg))]})
