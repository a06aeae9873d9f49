"""The policy server as users reach it: a Ray Serve app over HTTP, driven by the official openai client."""

from pathlib import Path

import openai
import pytest

from agents.prompt import render_system_prompt, render_user_message
from agents.tools import tool_schemas
from serving.config import BaselinePolicyConfig, VLLMPolicyConfig
from serving.server import start_policy_server
from serving.vllm_app import vllm_llm_config, vllm_missing
from tests.conftest import compose_config, free_port, tiny_card


@pytest.mark.integration
@pytest.mark.usefixtures("ray_session")
def test_baseline_app_answers_chat_completions_with_tool_calls(tmp_path: Path) -> None:
    from ray import serve

    serve.shutdown()
    port = free_port()
    endpoint = start_policy_server(BaselinePolicyConfig(name="baseline"), "127.0.0.1", port)
    assert endpoint.base_url == f"http://127.0.0.1:{port}/v1"
    client = openai.OpenAI(base_url=endpoint.base_url, api_key="x", max_retries=0)
    assert [m.id for m in client.models.list()] == ["aira-baseline"]
    card = tiny_card(tmp_path)
    reply = client.chat.completions.create(
        model="aira-baseline",
        messages=[
            {"role": "system", "content": render_system_prompt(card)},
            {"role": "user", "content": render_user_message(card, "draft", [])},
        ],
        tools=tool_schemas(),  # type: ignore[arg-type]
        seed=3,
    )
    call = reply.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "bash"  # type: ignore[union-attr]
    assert "solution.py" in call.function.arguments  # type: ignore[union-attr]
    assert reply.usage is not None and reply.usage.prompt_tokens > 0
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-nope", messages=[{"role": "user", "content": "hi"}])
    serve.delete("policy")


def test_vllm_config_is_built_without_vllm() -> None:
    cfg = compose_config("policy=vllm")
    assert isinstance(cfg.policy, VLLMPolicyConfig)
    llm = vllm_llm_config(cfg.policy)
    assert llm["model_loading_config"] == {"model_id": "gpt-oss-120b", "model_source": "openai/gpt-oss-120b"}
    assert llm["engine_kwargs"]["tensor_parallel_size"] == 4
    assert llm["engine_kwargs"]["enable_auto_tool_choice"] is True
    assert llm["engine_kwargs"]["tool_call_parser"] == "openai"
    assert llm["engine_kwargs"]["enable_prefix_caching"] is True


def test_missing_vllm_is_named_with_the_fix() -> None:
    why = vllm_missing()
    try:
        import vllm  # noqa: F401
    except ImportError:
        assert why is not None and "pip install -e '.[vllm]'" in why
    else:
        assert why is None
