"""Context management: the request stays within the window, the trajectory keeps everything."""

import asyncio
import json
from typing import Any

import pytest

from agents.config import AgentConfig, load_agent_config
from agents.context import ContextWindow, stub_observation

AGENT = load_agent_config(max_steps=200)


def turn(i: int, output_chars: int = 4000) -> list[dict[str, Any]]:
    call = {
        "id": f"c{i}",
        "type": "function",
        "function": {"name": "bash", "arguments": json.dumps({"command": f"step {i} " + "y" * 600})},
    }
    output = f"[exit {i % 2}, 1.{i:02d} s]\nfirst line {i}\n" + "z" * output_chars + f"\nlast line {i}"
    return [
        {"role": "assistant", "content": f"thinking {i}", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": f"c{i}", "content": output},
    ]


def conversation(turns: int) -> list[dict[str, Any]]:
    head = [{"role": "system", "content": "SYSTEM"}, {"role": "user", "content": "TASK"}]
    return head + [m for i in range(turns) for m in turn(i)]


def window(agent: AgentConfig = AGENT, size: int | None = 8192, summarizer: Any = None) -> ContextWindow:
    return ContextWindow(size, agent.compact_at, agent.keep_turns, agent.prompts, 1500, summarizer)


def test_a_short_conversation_is_sent_as_it_is() -> None:
    messages = conversation(3)
    assert asyncio.run(window().request(messages)) == messages


def test_a_long_one_keeps_system_task_and_last_turns_and_stubs_the_rest() -> None:
    messages = conversation(40)
    context = window()
    sent = asyncio.run(context.request(messages))
    assert context.tokens(sent) <= 0.75 * 8192
    assert sent[0] == messages[0] and sent[1]["content"].startswith("TASK")
    assert sent[-2:] == messages[-2:]  # the last turn verbatim
    assert len(messages) == 82  # the conversation itself is untouched
    stubs = [m for m in sent if m.get("role") == "tool" and "output compacted" in m["content"]]
    assert stubs, "older outputs shrink to stubs"
    stub = stubs[-1]["content"]
    assert stub.splitlines()[1].startswith("[exit ") and " s]" in stub  # exit status and duration
    assert "first line" in stub and "last line" in stub and "zzzz" * 50 not in stub
    # past calls' arguments stay JSON objects (servers re-parse them) and are cut short
    for m in sent:
        for call in m.get("tool_calls") or []:
            assert isinstance(json.loads(call["function"]["arguments"]), dict)
    assert "earlier turns were removed" in sent[1]["content"]


def test_the_prefix_only_changes_when_compaction_runs() -> None:
    context = window()
    messages = conversation(30)
    first = asyncio.run(context.request(messages))
    assert context.compactions == 1
    grown = asyncio.run(context.request(messages + turn(30, 100)))
    assert context.compactions == 1 and grown[: len(first)] == first


def test_the_summary_replaces_the_dropped_turns() -> None:
    prompts: list[str] = []

    async def summarize(prompt: str) -> str | None:
        prompts.append(prompt)
        return "tried ridge and trees; trees were better"

    agent = AGENT.model_copy(update={"summarize": True})
    sent = asyncio.run(window(agent, summarizer=summarize).request(conversation(60)))
    assert len(prompts) == 1 and "step 0" in prompts[0] and "(none yet)" in prompts[0]
    assert "Summary of them: tried ridge and trees" in sent[1]["content"]


def test_a_refusal_lowers_the_limit_below_what_was_refused() -> None:
    context = window(size=None)  # the window is unknown: only the server's refusal makes it compact
    messages = conversation(12)
    sent = asyncio.run(context.request(messages))
    assert sent == messages
    context.shrink(sent)
    again = asyncio.run(context.request(messages))
    assert context.tokens(again) < 0.75 * context.tokens(sent)


def test_the_estimate_follows_the_servers_count() -> None:
    context = window()
    messages = conversation(2)
    before = context.tokens(messages)
    context.observe_usage(messages, before * 2)
    assert context.tokens(messages) == pytest.approx(before * 2, rel=0.01)


def test_a_short_observation_is_its_own_stub() -> None:
    assert stub_observation("bash", "[exit 0, 0.01 s]\nok") == "[exit 0, 0.01 s]\nok"


def test_a_template_with_an_unknown_field_is_refused_with_the_fields_it_may_use() -> None:
    with pytest.raises(
        ValueError, match=r"agent.prompts.draft uses unknown field\(s\) \{operatr\}; its fields"
    ):
        load_agent_config(prompts={**AGENT.prompts.model_dump(), "draft": "do {operatr}"})


def test_a_parent_template_that_formats_the_rounded_score_as_a_number_is_refused() -> None:
    """{search_score} is text ("0.83 ± 0.01"): the old {search_score:.6f} would fail at every mutation."""
    with pytest.raises(ValueError, match=r"agent.prompts.parent formats \{search_score\}"):
        load_agent_config(prompts={**AGENT.prompts.model_dump(), "parent": "score {search_score:.6f}"})
    assert "{search_score}" in AGENT.prompts.parent


def test_the_single_turn_ablations_debug_prompt_shows_the_failed_code_and_its_output() -> None:
    from agents.prompt import render_debug_message
    from agents.task_card import TaskCard

    card = TaskCard(
        name="t",
        metric="accuracy",
        lower_is_better=False,
        id_column="id",
        target_columns=["y"],
        data_dir="/d",
    )
    text = render_debug_message(AGENT.prompts, card, "import nump", "ModuleNotFoundError: nump")
    assert "import nump" in text and "ModuleNotFoundError: nump" in text and "name: t" in text
