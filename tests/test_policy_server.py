"""The policy server as users reach it: a Ray Serve app over HTTP, driven by the official openai client."""

import re
from pathlib import Path

import openai
import pytest

from agents.config import load_agent_config
from agents.job_facts import FACTS_FIELD, JobFacts
from agents.prompt import render_system_prompt, render_user_message
from agents.tools import tool_schemas
from launcher.config import ConfigError
from serving.client import PolicyClient, client_settings
from serving.config import BaselinePolicyConfig, VLLMPolicyConfig
from serving.server import PolicyEndpoint, policy_missing, start_policy_server
from serving.vllm_app import vllm_app_config, vllm_missing
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
    prompts = load_agent_config(max_steps=5).prompts
    reply = client.chat.completions.create(
        model="aira-baseline",
        messages=[
            {"role": "system", "content": render_system_prompt(prompts, card, 60, 5)},
            {"role": "user", "content": render_user_message(prompts, card, "draft", [], 1000)},
        ],
        tools=tool_schemas(),  # type: ignore[arg-type]
        seed=3,
        extra_body={FACTS_FIELD: JobFacts(operator="draft", parents=[], card=card).model_dump()},
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
    (llm,) = vllm_app_config(cfg.policy)["llm_configs"]
    assert llm["model_loading_config"] == {"model_id": "gpt-oss-120b", "model_source": "openai/gpt-oss-120b"}
    assert llm["engine_kwargs"]["tensor_parallel_size"] == 4
    assert llm["engine_kwargs"]["enable_auto_tool_choice"] is True
    assert llm["engine_kwargs"]["tool_call_parser"] == "openai"
    assert llm["engine_kwargs"]["enable_prefix_caching"] is True
    assert llm["deployment_config"] == {"num_replicas": 1}


def test_vllm_serves_several_models_in_one_app_with_autoscaling_and_accelerators() -> None:
    cfg = compose_config(
        "policy=vllm",
        "policy.model=big",
        "policy.operator_models={draft: small}",
        "policy.models=[{model: big, source: /models/big, tensor_parallel_size: 2, accelerator_type: H100,"
        " min_replicas: 1, max_replicas: 3},"
        " {model: small, source: org/small, enable_auto_tool_choice: false, sampling: {temperature: 0.7}}]",
        "policy.sampling.temperature=1.0",
    )
    assert isinstance(cfg.policy, VLLMPolicyConfig)
    big, small = vllm_app_config(cfg.policy)["llm_configs"]
    assert big["accelerator_type"] == "H100" and big["engine_kwargs"]["tensor_parallel_size"] == 2
    assert big["deployment_config"] == {"autoscaling_config": {"min_replicas": 1, "max_replicas": 3}}
    assert small["model_loading_config"] == {"model_id": "small", "model_source": "org/small"}
    assert "tool_call_parser" not in small["engine_kwargs"] and "accelerator_type" not in small
    endpoint = PolicyEndpoint("http://h:1/v1", "big", operator_models={"draft": "small"})
    client = client_settings(cfg.policy, endpoint)
    assert client.sampling["small"].temperature == 0.7 and client.sampling["big"].temperature == 1.0
    assert PolicyClient(client).model_for("draft") == "small"
    assert PolicyClient(client).model_for("mutate") == "big"


@pytest.mark.parametrize(
    ("override", "problem"),
    [
        ("policy.model=nope", "policy.model='nope' is not one of policy.models"),
        ("policy.operator_models={mutate: nope}", "policy.operator_models.mutate='nope' is not one of"),
        ("policy.models=[{model: a, source: a, min_replicas: 1}]", "both min_replicas and max_replicas"),
    ],
)
def test_bad_vllm_configs_name_the_key(override: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(problem)):
        compose_config("policy=vllm", override)


def test_missing_vllm_is_named_with_the_fix() -> None:
    why = vllm_missing()
    try:
        import vllm  # noqa: F401
    except ImportError:
        assert why is not None and "pip install -e '.[vllm]'" in why
    else:
        assert why is None


def test_an_external_endpoint_starts_nothing_and_reads_its_key(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = compose_config(
        "policy=openai", "policy.base_url=https://example.test/v1/", "policy.api_key_env=AIRA_KEY"
    )
    monkeypatch.delenv("AIRA_KEY", raising=False)
    assert "$AIRA_KEY, which is not set: export it" in (policy_missing(cfg.policy) or "")
    monkeypatch.setenv("AIRA_KEY", "sk-test")
    assert policy_missing(cfg.policy) is None
    endpoint = start_policy_server(cfg.policy, "127.0.0.1", 1)  # no Serve: nothing listens on port 1
    assert endpoint == PolicyEndpoint("https://example.test/v1", "gpt-4o-mini", "sk-test")


def test_preflight_names_a_broken_replay_file(tmp_path: Path) -> None:
    path = tmp_path / "turns.jsonl"
    path.write_text('{"content": "hi"}\n{oops\n')
    assert "line 2: not valid JSON" in (
        policy_missing(compose_config("policy=replay", f"policy.path={path}").policy) or ""
    )
