"""The llama.cpp policy: its prompt format and grammar (pure), then the Serve app over HTTP with the
official openai client, on the tiny Gemma 3 270M base model."""

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from agents.tools import tool_schemas
from serving.llamacpp_prompt import parse_tool_call, render_prompt, tool_call_schema
from tests.conftest import compose_config, free_port

TOOLS = tool_schemas()


def test_the_prompt_is_a_transcript_with_few_shot_calls_ending_at_the_assistant() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "solve it"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "bash", "arguments": '{"command": "ls"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "train.csv"},
    ]
    prompt = render_prompt(messages, TOOLS)
    assert "- bash(command: string):" in prompt and "### Example" in prompt
    assert prompt.endswith(
        'Assistant: {"name": "bash", "arguments": {"command": "ls"}}\nTool (bash): train.csv\nAssistant:'
    )


def test_the_schema_admits_one_call_of_an_offered_tool() -> None:
    schema = tool_call_schema(TOOLS)
    names = [option["properties"]["name"]["const"] for option in schema["oneOf"]]
    assert names == [t["function"]["name"] for t in TOOLS]
    assert parse_tool_call('{"name": "bash", "arguments": {"command": "ls"}}', TOOLS) == (
        "bash",
        {"command": "ls"},
    )
    assert parse_tool_call('{"name": "bash", "arguments": {"comm', TOOLS) is None  # cut at max_tokens
    assert parse_tool_call('{"name": "rm", "arguments": {}}', TOOLS) is None


@pytest.fixture(scope="module")
def llamacpp_url(ray_session: None) -> Iterator[str]:
    pytest.importorskip("llama_cpp", reason="needs the llamacpp extra (see README)")
    from ray import serve

    from serving.server import start_policy_server

    serve.shutdown()
    cfg = compose_config("policy=llamacpp", "policy.n_ctx=4096", "policy.max_new_tokens=96")
    yield start_policy_server(cfg.policy, "127.0.0.1", free_port()).base_url
    serve.delete("policy")


@pytest.mark.integration
def test_the_tiny_model_answers_with_a_valid_tool_call_and_usage(llamacpp_url: str) -> None:
    client = openai.OpenAI(base_url=llamacpp_url, api_key="x", max_retries=0, timeout=300)
    assert [m.id for m in client.models.list()] == ["gemma3-270m"]
    reply = client.chat.completions.create(
        model="gemma3-270m",
        messages=[{"role": "user", "content": "List the files in the working directory."}],
        tools=TOOLS,  # type: ignore[arg-type]
        temperature=0.0,
        seed=1,
    )
    message = reply.choices[0].message
    assert reply.usage is not None and reply.usage.prompt_tokens > 100 and reply.usage.completion_tokens > 0
    if reply.choices[0].finish_reason == "length":  # the grammar allows long strings; a cut call is text
        assert message.tool_calls is None
        return
    assert message.tool_calls is not None and len(message.tool_calls) == 1
    call = message.tool_calls[0]
    assert call.function.name in {t["function"]["name"] for t in TOOLS}  # type: ignore[union-attr]
    assert isinstance(json.loads(call.function.arguments), dict)  # type: ignore[union-attr]
    plain = client.chat.completions.create(
        model="gemma3-270m", messages=[{"role": "user", "content": "Say hi."}], max_tokens=8
    )
    assert plain.choices[0].message.tool_calls is None and plain.usage is not None
