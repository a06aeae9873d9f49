"""The ReAct loop, driven by a scripted stand-in for the policy client: happy and unhappy paths."""

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from openai.types.chat import ChatCompletion

from agents.config import AgentConfig, load_agent_config
from agents.prompt import ParentCode
from agents.react import (
    DEADLINE_REASON,
    EPISODE_TIME_REASON,
    EPISODE_TOKENS_REASON,
    STEP_LIMIT_REASON,
    EpisodeOutcome,
    PolicyStop,
    run_episode,
    task_limits,
)
from agents.task_card import TaskCard
from agents.text_calls import TextCall, parse_text_calls
from sandbox import ExecResult, ProcessSandbox

AGENT = load_agent_config(max_steps=8, max_consecutive_errors=3, observation_chars=2000)
EXEC_TIMEOUT_S = 30.0
NUDGE = AGENT.prompts.nudge
CARD = TaskCard(
    name="toy",
    metric="accuracy",
    lower_is_better=False,
    id_column="id",
    target_columns=["y"],
    data_dir="/data/toy",
    description="Predict y.",
)
WRITE_FILES = "printf 'id,y\\n1,0\\n' > submission.csv; echo 'print(42)' > solution.py; echo written"


def tool_call(name: str, arguments: str | dict[str, Any], call_id: str = "call_1") -> dict[str, Any]:
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": raw}}


def reply(*calls: dict[str, Any], content: str = "thinking") -> dict[str, Any]:
    return {"role": "assistant", "content": content, "tool_calls": list(calls) or None}


class ScriptedClientDouble:
    """A test double for serving.client.PolicyClient: `complete` plays back a script of replies
    (assistant message dicts), raising the exceptions in it, and records every request."""

    def __init__(self, *script: dict[str, Any] | Exception, delay_s: float = 0.0) -> None:
        self.script = list(script)
        self.requests: list[dict[str, Any]] = []
        self.delay_s = delay_s

    async def complete(
        self,
        model: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        seed: int,
        job: dict[str, Any] | None = None,
    ) -> ChatCompletion:
        request = {"model": model, "messages": list(messages), "tools": tools, "seed": seed, "job": job}
        self.requests.append(request)
        await asyncio.sleep(self.delay_s)
        step = self.script.pop(0) if self.script else reply(content="(script exhausted)")
        if isinstance(step, Exception):
            raise step
        return ChatCompletion.model_validate(
            {
                "id": f"cmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": 0,
                "model": request["model"],
                "choices": [{"index": 0, "finish_reason": "tool_calls", "message": step}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
            }
        )


class RecordingSandboxDouble:
    """A test double for a Sandbox that records the timeouts it is given and runs nothing."""

    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace
        self.data_dir = "/data/toy"
        self.timeouts: list[float] = []

    async def exec(self, argv: list[str], timeout: float, input: str | None = None) -> ExecResult:
        self.timeouts.append(timeout)
        return ExecResult(0, "ok\n", 0.01)

    async def run_shell(self, command: str, timeout: float) -> ExecResult:
        self.timeouts.append(timeout)
        return ExecResult(0, "ok\n", 0.01)

    async def run_python(self, code: str, timeout: float) -> ExecResult:
        self.timeouts.append(timeout)
        return ExecResult(0, "ok\n", 0.01)

    async def read_data(self, rel: str) -> bytes:
        raise FileNotFoundError(rel)

    async def read_file(self, rel: str, max_bytes: int | None = None) -> bytes:
        raise FileNotFoundError(rel)

    async def write_file(self, rel: str, data: bytes | str) -> None:
        pass

    async def close(self) -> None:
        pass


@pytest.fixture
def sandbox(tmp_path: Path) -> ProcessSandbox:
    return ProcessSandbox(tmp_path / "ws", tmp_path, kill_grace_s=0.5)


def episode(
    client: ScriptedClientDouble,
    sandbox: Any,
    agent: AgentConfig = AGENT,
    deadline_in_s: float = 60,
    operator: str = "draft",
    parents: list[ParentCode] | None = None,
) -> EpisodeOutcome:
    return asyncio.run(
        run_episode(
            client,
            "test-model",
            sandbox,
            CARD,
            operator,
            parents or [],
            7,
            time.time() + deadline_in_s,
            agent,
            EXEC_TIMEOUT_S,
        )
    )


def happy_path() -> list[dict[str, Any]]:
    return [reply(tool_call("bash", {"command": WRITE_FILES})), reply(tool_call("submit", {}, "call_2"))]


def test_happy_path_ends_with_the_submission_and_the_code(sandbox: ProcessSandbox) -> None:
    client = ScriptedClientDouble(*happy_path())
    outcome = episode(client, sandbox)
    assert outcome.reason is None
    assert outcome.submission == b"id,y\n1,0\n"
    assert outcome.code == "print(42)\n"
    steps = outcome.trajectory.steps
    assert [s.tool for s in steps] == ["bash", "submit"]
    assert steps[0].observation.startswith("[exit 0,") and "written" in steps[0].observation
    assert steps[0].arguments == {"command": WRITE_FILES} and steps[0].reasoning == "thinking"
    assert all(s.error is None for s in steps)
    roles = [m["role"] for m in outcome.trajectory.messages]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "tool"]
    assert outcome.trajectory.messages[3]["tool_call_id"] == "call_1"
    assert (outcome.trajectory.prompt_tokens, outcome.trajectory.completion_tokens) == (200, 20)
    request = client.requests[0]
    assert request["model"] == "test-model" and request["seed"] == 7
    assert [t["function"]["name"] for t in request["tools"]] == [
        "bash",
        "python",
        "validate_submission",
        "submit",
    ]


def test_the_first_messages_carry_the_task_and_the_parents(sandbox: ProcessSandbox) -> None:
    client = ScriptedClientDouble(*happy_path())
    parent = ParentCode(node_id=7, code="print('parent')", search_score=0.9531)  # no SE: 3 digits
    episode(client, sandbox, operator="mutate", parents=[parent])
    system, user = client.requests[0]["messages"]
    assert "/data/toy" in system["content"]
    for tool in ("bash", "python", "validate_submission", "submit"):  # every tool is listed
        assert f"- {tool}: " in system["content"]
    assert "Predict y." in user["content"] and "```yaml" in user["content"]
    block = "## Parent 1 (node 7, search score 0.953, file parent_1.py)\n\n```python\nprint('parent')\n```"
    assert block in user["content"]
    assert "parent_1.py in your working directory" in user["content"]  # the truth about its file
    job = client.requests[0]["job"]  # the facts beside the prompt, for scripted policies
    assert job["operator"] == "mutate" and job["card"]["name"] == "toy" and job["turn"] == 0
    assert job["parents"] == [
        {
            "node_id": 7,
            "search_score": 0.953,
            "file": "parent_1.py",
            "code": "print('parent')",
            "search_se": None,
        }
    ]
    assert client.requests[1]["job"]["turn"] == 1


def test_a_parents_search_score_reaches_the_agent_rounded_to_its_standard_error(
    sandbox: ProcessSandbox,
) -> None:
    """Prose and facts alike: an exact score would make each submission a label query."""
    client = ScriptedClientDouble(*happy_path())
    parents = [ParentCode(7, "a = 1", 0.83412, 0.0137), ParentCode(9, "b = 2", 1234.5, 56.0)]
    episode(client, sandbox, operator="crossover", parents=parents)
    user = client.requests[0]["messages"][1]["content"]
    assert "(node 7, search score 0.83 ± 0.01, file parent_1.py)" in user
    assert "(node 9, search score 1230 ± 60, file parent_2.py)" in user
    assert "0.834" not in user and "1234" not in user and "0.0137" not in user
    facts = client.requests[0]["job"]["parents"]
    assert [(p["search_score"], p["search_se"]) for p in facts] == [(0.83, 0.01), (1230.0, 60.0)]
    assert "0.83412" not in json.dumps(client.requests)  # nowhere in what the policy is sent


def test_the_tools_read_the_workspace_under_the_agents_caps() -> None:
    limits = task_limits(CARD, AGENT.model_copy(update={"max_record_mb": 3, "max_submission_mb": 7}))
    assert (limits.max_record_bytes, limits.max_submission_bytes) == (3 << 20, 7 << 20)
    defaults = task_limits(CARD, AGENT)  # conf/agent/react.yaml: 10 MiB of code, 1 GiB of submission
    assert (defaults.max_record_bytes, defaults.max_submission_bytes) == (10 << 20, 1 << 30)


def test_a_parents_code_is_cut_in_the_prompt_and_says_where_the_rest_is(sandbox: ProcessSandbox) -> None:
    client = ScriptedClientDouble(*happy_path())
    code = "\n".join(f"x_{i} = {i}" for i in range(2000))
    agent = AGENT.model_copy(update={"parent_code_chars": 500})
    episode(client, sandbox, agent=agent, operator="mutate", parents=[ParentCode(3, code, 0.5)])
    user = client.requests[0]["messages"][1]["content"]
    assert "x_0 = 0" in user and "x_1999 = 1999" in user and "x_1000 = 1000" not in user
    assert "(cut to 500 characters: read parent_1.py for all of it)" in user
    assert len(user) < 2500
    assert client.requests[0]["job"]["parents"][0]["code"] == code  # the facts keep all of it


def test_a_reply_without_a_tool_call_gets_a_nudge(sandbox: ProcessSandbox) -> None:
    client = ScriptedClientDouble(reply(content="I think I am done."), *happy_path())
    outcome = episode(client, sandbox)
    assert outcome.reason is None
    first = outcome.trajectory.steps[0]
    assert first.error == "the reply called no tool" and first.reasoning == "I think I am done."
    assert {"role": "user", "content": NUDGE} in client.requests[1]["messages"]


def test_malformed_json_arguments_get_an_error_observation(sandbox: ProcessSandbox) -> None:
    client = ScriptedClientDouble(reply(tool_call("bash", '{"command": "ls"')), *happy_path())
    outcome = episode(client, sandbox)
    assert outcome.reason is None
    first = outcome.trajectory.steps[0]
    assert first.error is not None and "not valid JSON" in first.error
    assert first.arguments == '{"command": "ls"'
    assert first.observation.startswith("error: bash: the arguments are not valid JSON")
    # The conversation keeps a parsable placeholder so that servers can re-read the history.
    assert outcome.trajectory.messages[2]["tool_calls"][0]["function"]["arguments"] == "{}"


def test_an_unknown_tool_gets_the_list_of_tools(sandbox: ProcessSandbox) -> None:
    client = ScriptedClientDouble(reply(tool_call("web_search", {"q": "mnist"})), *happy_path())
    outcome = episode(client, sandbox)
    assert outcome.reason is None
    assert outcome.trajectory.steps[0].observation == (
        "error: unknown tool 'web_search'; the tools are: bash, python, validate_submission, submit"
    )


def test_wrong_arguments_name_the_problem(sandbox: ProcessSandbox) -> None:
    client = ScriptedClientDouble(reply(tool_call("python", {"source": "print(1)"})), *happy_path())
    outcome = episode(client, sandbox)
    observation = outcome.trajectory.steps[0].observation
    assert "missing argument 'code'" in observation and "unknown argument 'source'" in observation


def test_an_api_error_is_recorded_and_the_episode_recovers(sandbox: ProcessSandbox) -> None:
    request = httpx2.Request("POST", "http://policy/v1/chat/completions")
    client = ScriptedClientDouble(openai.APIConnectionError(request=request), *happy_path())
    outcome = episode(client, sandbox)
    assert outcome.reason is None
    first = outcome.trajectory.steps[0]
    assert first.error == "policy request failed: APIConnectionError: Connection error."
    assert len(client.requests) == 3


def test_too_many_consecutive_failures_end_the_episode(sandbox: ProcessSandbox) -> None:
    request = httpx2.Request("POST", "http://policy/v1/chat/completions")
    client = ScriptedClientDouble(
        reply(content="hmm"),
        reply(tool_call("bash", "not json")),
        openai.APITimeoutError(request=request),
    )
    outcome = episode(client, sandbox)
    assert outcome.submission is None
    assert (
        outcome.reason
        == "policy failed 3 times in a row: policy request failed: APITimeoutError: Request timed out."
    )
    assert len(outcome.trajectory.steps) == 3


def test_a_working_call_resets_the_failure_count(sandbox: ProcessSandbox) -> None:
    client = ScriptedClientDouble(
        reply(content="a"),
        reply(content="b"),
        reply(tool_call("bash", {"command": "echo ok"})),
        reply(content="c"),
        reply(content="d"),
        *happy_path(),
    )
    outcome = episode(client, sandbox)
    assert outcome.reason is None


def test_a_failing_command_is_not_a_policy_failure(sandbox: ProcessSandbox) -> None:
    failing = [reply(tool_call("bash", {"command": "exit 1"}, f"c{i}")) for i in range(4)]
    outcome = episode(ScriptedClientDouble(*failing, *happy_path()), sandbox)
    assert outcome.reason is None


def test_the_step_limit_ends_the_episode(sandbox: ProcessSandbox) -> None:
    client = ScriptedClientDouble(*[reply(tool_call("bash", {"command": "echo again"})) for _ in range(5)])
    outcome = episode(client, sandbox, agent=AGENT.model_copy(update={"max_steps": 3}))
    assert outcome.reason == STEP_LIMIT_REASON
    assert outcome.submission is None and len(client.requests) == 3


def test_a_past_deadline_ends_the_episode_before_asking(sandbox: ProcessSandbox) -> None:
    client = ScriptedClientDouble(*happy_path())
    outcome = episode(client, sandbox, deadline_in_s=-1)
    assert outcome.reason == DEADLINE_REASON and client.requests == []
    assert [m["role"] for m in outcome.trajectory.messages] == ["system", "user"]


def test_a_slow_policy_is_cut_at_the_deadline(sandbox: ProcessSandbox) -> None:
    client = ScriptedClientDouble(*happy_path(), delay_s=30)
    started = time.monotonic()
    outcome = episode(client, sandbox, deadline_in_s=0.5)
    assert outcome.reason == DEADLINE_REASON
    assert time.monotonic() - started < 5


def test_the_episode_time_limit_ends_it_before_the_searchs_deadline(sandbox: ProcessSandbox) -> None:
    client = ScriptedClientDouble(*happy_path(), delay_s=30)
    started = time.monotonic()
    outcome = episode(
        client, sandbox, agent=AGENT.model_copy(update={"max_episode_s": 0.5}), deadline_in_s=600
    )
    assert outcome.reason == EPISODE_TIME_REASON
    assert time.monotonic() - started < 5


def test_the_episode_token_limit_ends_it(sandbox: ProcessSandbox) -> None:
    calls = [reply(tool_call("bash", {"command": "echo hi"}, f"c{i}")) for i in range(5)]
    client = ScriptedClientDouble(*calls)  # 110 tokens per request
    outcome = episode(client, sandbox, agent=AGENT.model_copy(update={"max_episode_tokens": 250}))
    assert outcome.reason == EPISODE_TOKENS_REASON and len(client.requests) == 3


def test_each_observation_says_the_steps_and_time_left(sandbox: ProcessSandbox) -> None:
    client = ScriptedClientDouble(*happy_path())
    outcome = episode(client, sandbox, deadline_in_s=100)
    seen = client.requests[1]["messages"][-1]["content"]
    match = re.search(r"\[(\d+) steps left, (\d+) s left\]$", seen)
    assert match is not None, seen
    assert int(match.group(1)) == AGENT.max_steps - 1 and 90 <= int(match.group(2)) <= 100
    assert "steps left" not in outcome.trajectory.steps[0].observation  # the step keeps the raw output


def test_tool_timeouts_respect_the_deadline(tmp_path: Path) -> None:
    sandbox = RecordingSandboxDouble(tmp_path)
    calls = [reply(tool_call("bash", {"command": "train"})) for _ in range(2)]
    episode(
        ScriptedClientDouble(*calls),
        sandbox,
        agent=AGENT.model_copy(update={"max_steps": 1}),
        deadline_in_s=10,
    )
    assert 8 < sandbox.timeouts[0] <= 10
    episode(
        ScriptedClientDouble(*calls),
        sandbox,
        agent=AGENT.model_copy(update={"max_steps": 1}),
        deadline_in_s=0.2,
    )
    assert sandbox.timeouts[1] == 1.0
    episode(
        ScriptedClientDouble(*calls),
        sandbox,
        agent=AGENT.model_copy(update={"max_steps": 1}),
        deadline_in_s=1000,
    )
    assert sandbox.timeouts[2] == EXEC_TIMEOUT_S


def test_submit_before_writing_the_file_does_not_end_the_episode(sandbox: ProcessSandbox) -> None:
    client = ScriptedClientDouble(reply(tool_call("submit", {})), *happy_path())
    outcome = episode(client, sandbox)
    assert outcome.reason is None and outcome.submission == b"id,y\n1,0\n"
    assert "write your predictions to it first" in outcome.trajectory.steps[0].observation


def test_calls_after_submit_in_the_same_turn_are_not_run(sandbox: ProcessSandbox) -> None:
    client = ScriptedClientDouble(
        reply(
            tool_call("bash", {"command": WRITE_FILES}, "a"),
            tool_call("submit", {}, "b"),
            tool_call("bash", {"command": "touch after"}, "c"),
        )
    )
    outcome = episode(client, sandbox)
    assert outcome.reason is None
    assert outcome.trajectory.steps[2].observation == "not run: the episode ended with submit"
    assert not (sandbox.workspace / "after").exists()
    assert [m.get("tool_call_id") for m in outcome.trajectory.messages[3:]] == ["a", "b", "c"]


def test_an_operator_without_its_parents_is_refused(sandbox: ProcessSandbox) -> None:
    with pytest.raises(ValueError, match="operator 'mutate' takes 1 parent"):
        episode(ScriptedClientDouble(), sandbox, operator="mutate")


def test_tool_calls_written_as_text_are_run(sandbox: ProcessSandbox) -> None:
    tagged = f"<tool_call>{json.dumps({'name': 'bash', 'arguments': {'command': WRITE_FILES}})}</tool_call>"
    fenced = '```json\n{"name": "submit", "arguments": {}}\n```'
    client = ScriptedClientDouble(reply(content=f"I write the files.\n{tagged}"), reply(content=fenced))
    outcome = episode(client, sandbox)
    assert outcome.reason is None and outcome.submission == b"id,y\n1,0\n"
    assert [s.tool for s in outcome.trajectory.steps] == ["bash", "submit"]
    # The text stays text in the history; the observation comes back as a user message.
    second = client.requests[1]["messages"]
    assert second[2] == {"role": "assistant", "content": f"I write the files.\n{tagged}"}
    assert second[3]["role"] == "user" and "written" in second[3]["content"]


def test_a_malformed_text_call_gets_an_error_observation(sandbox: ProcessSandbox) -> None:
    client = ScriptedClientDouble(reply(content='<tool_call>{"name": "bash", "arguments": {</tool_call>'))
    outcome = episode(client, sandbox, agent=AGENT.model_copy(update={"max_steps": 1}))
    step = outcome.trajectory.steps[0]
    assert step.error is not None and "not valid JSON" in step.error
    assert "not valid JSON" in client.requests[0]["messages"][-1]["content"] or outcome.reason


def test_an_empty_reply_is_named_as_such(sandbox: ProcessSandbox) -> None:
    client = ScriptedClientDouble(reply(content=""), *happy_path())
    outcome = episode(client, sandbox)
    assert outcome.trajectory.steps[0].error == "the reply was empty"
    assert outcome.reason is None


def test_a_spent_budget_ends_the_episode_at_its_next_request(sandbox: ProcessSandbox) -> None:
    client = ScriptedClientDouble(
        reply(tool_call("bash", {"command": "echo hi"})), PolicyStop("token budget")
    )
    outcome = episode(client, sandbox)
    assert outcome.reason == "token budget" and outcome.submission is None
    assert len(outcome.trajectory.steps) == 1


def test_text_calls_are_read_from_tags_fences_or_a_bare_object() -> None:
    assert parse_text_calls('{"name": "bash", "parameters": {"command": "ls"}}') == [
        TextCall("bash", '{"command": "ls"}')
    ]
    two = '<tool_call>{"name": "a", "arguments": {}}</tool_call> then <tool_call>{"name": "b"}</tool_call>'
    assert [c.name for c in parse_text_calls(two)] == ["a", "b"]
    assert parse_text_calls("```python\nprint(1)\n```") == []  # code is not a call
    assert parse_text_calls("I will think first.") == []
    (bad,) = parse_text_calls('```json\n{"arguments": {}}\n```')
    assert bad.problem is not None and "must be an object" in bad.problem
