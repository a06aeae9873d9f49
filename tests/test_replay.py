"""The replay policy: the file format, its errors, and the Serve app over HTTP with the openai client."""

import json
from pathlib import Path
from typing import Any

import openai
import pytest

from launcher.config import ConfigError
from policies.replay import ReplayError, ReplayPolicy
from tests.conftest import compose_config, free_port

BASH = {"content": "look", "tool_calls": [{"name": "bash", "arguments": {"command": "ls"}}]}
SUBMIT = {"tool_calls": [{"id": "c9", "type": "function", "function": {"name": "submit", "arguments": "{}"}}]}


def write_turns(path: Path, *turns: dict[str, Any] | str) -> Path:
    path.write_text("\n".join(t if isinstance(t, str) else json.dumps(t) for t in turns) + "\n")
    return path


def conversation(assistant_turns: int) -> list[dict[str, Any]]:
    return [{"role": "user", "content": "go"}] + [{"role": "assistant", "content": "x"}] * assistant_turns


def test_turns_are_played_by_the_number_of_assistant_turns(tmp_path: Path) -> None:
    policy = ReplayPolicy(write_turns(tmp_path / "t.jsonl", "# a drill", BASH, "", SUBMIT))
    first = policy.turn_for(conversation(0)).message
    assert first["content"] == "look"
    assert first["tool_calls"][0]["function"] == {"name": "bash", "arguments": '{"command": "ls"}'}
    assert policy.turn_for(conversation(1)).message["tool_calls"][0]["id"] == "c9"
    assert policy.turn_for(conversation(0)).message == first  # a new episode starts over


def test_an_exhausted_file_says_so_and_how_to_fix_it(tmp_path: Path) -> None:
    policy = ReplayPolicy(write_turns(tmp_path / "t.jsonl", BASH))
    with pytest.raises(ReplayError, match=r"exhausted: .* turn 2 but the file has 1; add turns"):
        policy.turn_for(conversation(1))


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("{not json", "line 2: not valid JSON"),
        ("[1, 2]", "line 2: each line must be a JSON object"),
        ('{"tool_calls": [{"arguments": {}}]}', "line 2: tool call 1 needs a name"),
        ('{"text": "hi"}', "line 2: unknown keys"),
        ('{"fault": {"status": 200}}', "line 2: bad fault"),
        (
            '{"fault": {"delay_s": 1}}',
            "line 2: a fault with a delay only or with times needs the turn's reply",
        ),
    ],
)
def test_a_bad_line_is_named_with_its_number(tmp_path: Path, line: str, problem: str) -> None:
    with pytest.raises(ReplayError, match=problem):
        ReplayPolicy(write_turns(tmp_path / "t.jsonl", BASH, line))


def test_a_fault_with_times_is_served_that_often_then_the_reply(tmp_path: Path) -> None:
    policy = ReplayPolicy(write_turns(tmp_path / "t.jsonl", {"fault": {"status": 503, "times": 2}, **BASH}))
    faults = [policy.turn_for(conversation(0)).fault for _ in range(3)]
    assert [f.status if f else None for f in faults] == [503, 503, None]


def test_the_config_needs_the_file() -> None:
    with pytest.raises(ConfigError, match=r"policy.*needs the file of assistant turns: add policy.path="):
        compose_config("policy=replay")


@pytest.mark.integration
@pytest.mark.usefixtures("ray_session")
def test_the_replay_app_answers_over_http(tmp_path: Path) -> None:
    from ray import serve

    from serving.server import start_policy_server

    path = write_turns(tmp_path / "t.jsonl", BASH, {"fault": {"status": 429, "message": "slow down"}})
    cfg = compose_config("policy=replay", f"policy.path={path}")
    serve.shutdown()
    endpoint = start_policy_server(cfg.policy, "127.0.0.1", free_port())
    client = openai.OpenAI(base_url=endpoint.base_url, api_key="x", max_retries=0)
    reply = client.chat.completions.create(model="aira-replay", messages=conversation(0))  # type: ignore[arg-type]
    call = reply.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "bash" and reply.choices[0].finish_reason == "tool_calls"  # type: ignore[union-attr]
    assert reply.usage is not None and reply.usage.completion_tokens > 0
    with pytest.raises(openai.RateLimitError, match="slow down"):
        client.chat.completions.create(model="aira-replay", messages=conversation(1))  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError, match="exhausted"):
        client.chat.completions.create(model="aira-replay", messages=conversation(2))  # type: ignore[arg-type]
    serve.delete("policy")
