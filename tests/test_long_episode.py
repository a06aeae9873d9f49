"""Long episodes against a policy server that behaves like vLLM: a context window enforced with
vLLM's 400, replies cut at their token limit, and an outage longer than the old retry window.

The server is the replay policy (a test double, not a language model) as a real HTTP server under
uvicorn (serving/standalone.py), reached through the real PolicyClient (official openai client);
the tools run in a real process sandbox.
"""

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agents.config import AgentConfig, load_agent_config
from agents.react import EpisodeOutcome, run_episode
from agents.task_card import TaskCard
from sandbox import ProcessSandbox
from serving.client import PolicyClient, client_settings
from serving.config import ReplayPolicyConfig
from serving.endpoint import PolicyEndpoint
from serving.outage import OutageBreaker
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
# 4,000 characters of output per step (the observation limit), from two cheap processes.
BIG_OUTPUT = "head -c 4000 /dev/zero | tr '\\0' x"
WRITE_AND_SUBMIT = [
    {"tool_calls": [{"name": "bash", "arguments": {"command": "echo 'id,y' > submission.csv; echo done"}}]},
    {"tool_calls": [{"name": "submit", "arguments": {}}]},
]


def bash(command: str) -> dict[str, Any]:
    return {"content": "next", "tool_calls": [{"name": "bash", "arguments": {"command": command}}]}


class Server:
    """A standalone replay server on a free loopback port, started (and stopped) by the test."""

    def __init__(self, path: Path, context_window: int | None) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.argv = [sys.executable, "-m", "serving.standalone", "replay", "--path", str(path)]
        self.argv += ["--port", str(self.port)]
        if context_window is not None:
            self.argv += ["--context-window", str(context_window)]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv, cwd=ROOT)
        give_up = time.time() + 180  # a busy 2-core machine imports slowly
        while time.time() < give_up:
            try:
                httpx.get(f"{self.base_url}/models", timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"the replay server on port {self.port} did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def serve_replay(tmp_path: Path) -> Iterator[Any]:
    servers: list[Server] = []

    def _serve(turns: list[dict[str, Any]], context_window: int | None = None, start: bool = True) -> Server:
        path = tmp_path / f"turns{len(servers)}.jsonl"
        path.write_text("\n".join(json.dumps(t) for t in turns))
        server = Server(path, context_window)
        servers.append(server)
        if start:
            server.start()
        return server

    yield _serve
    for server in servers:
        server.stop()


def episode(
    tmp_path: Path,
    server: Server,
    agent: AgentConfig,
    breaker: OutageBreaker | None = None,
    **policy: Any,
) -> tuple[EpisodeOutcome, PolicyClient]:
    """One episode through the real client, the agent's window taken from the policy as workers do."""
    config = ReplayPolicyConfig(name="replay", path=tmp_path / "unused.jsonl", retry_backoff_s=0.05, **policy)
    client = PolicyClient(
        client_settings(config, PolicyEndpoint(server.base_url, config.model)), None, breaker
    )
    if agent.context_window is None:
        agent = agent.model_copy(update={"context_window": client.context_window(config.model)})
    card = TaskCard(
        name="t",
        metric="accuracy",
        lower_is_better=False,
        id_column="id",
        target_columns=["y"],
        data_dir="/d",
    )
    sandbox = ProcessSandbox(tmp_path / "ws", tmp_path)

    async def run() -> EpisodeOutcome:
        try:
            return await run_episode(
                client, config.model, sandbox, card, "draft", [], 0, time.time() + 600, agent, 30
            )
        finally:
            await sandbox.close()

    return asyncio.run(run()), client


def test_150_steps_of_4000_character_outputs_in_an_8k_window_run_to_submit(
    tmp_path: Path, serve_replay: Any
) -> None:
    steps = 150
    server = serve_replay([bash(BIG_OUTPUT)] * steps + WRITE_AND_SUBMIT, context_window=8192)
    agent = load_agent_config(max_steps=steps + 2, observation_chars=4000)
    outcome, _ = episode(tmp_path, server, agent, context_window=8192)
    assert outcome.reason is None and outcome.submission == b"id,y\n"
    trajectory = outcome.trajectory
    assert [s.error for s in trajectory.steps if s.error] == []  # not one refusal, not one failure
    assert len(trajectory.steps) == steps + 2
    assert trajectory.compactions >= 5
    # The trajectory keeps every observation whole; only the requests were compacted.
    tool_messages = [m for m in trajectory.messages if m["role"] == "tool"]
    assert len(tool_messages) == steps + 2
    assert all(m["content"].count("x") > 3800 for m in tool_messages[:steps])
    assert "[1 steps left," in tool_messages[-2]["content"]  # each observation says what is left


def test_with_the_window_unknown_the_servers_refusals_drive_compaction(
    tmp_path: Path, serve_replay: Any
) -> None:
    steps = 30
    server = serve_replay([bash(BIG_OUTPUT)] * steps + WRITE_AND_SUBMIT, context_window=8192)
    agent = load_agent_config(max_steps=steps + 2)
    outcome, _ = episode(tmp_path, server, agent)  # policy.context_window unset: the agent does not know
    assert outcome.reason is None, outcome.trajectory.steps[-1]
    refusals = [s.error for s in outcome.trajectory.steps if s.error]
    assert refusals and all("maximum context length is 8192 tokens" in e for e in refusals)
    assert all("(compacted, asked again)" in e for e in refusals)
    assert len(refusals) < 5  # the limit learnt from a refusal holds for the rest of the episode


def test_a_reply_cut_at_its_token_limit_is_asked_again_not_counted_as_a_failure(
    tmp_path: Path, serve_replay: Any
) -> None:
    cut = {"content": "I will now write a very long", "finish_reason": "length"}
    turns = [bash("echo one"), cut, *WRITE_AND_SUBMIT]
    server = serve_replay(turns)
    agent = load_agent_config(max_steps=3, max_consecutive_errors=1)
    outcome, _ = episode(tmp_path, server, agent)
    # The cut reply was asked again (and the replay, being a replay, cut it each time) and the
    # episode took it as it was at last: max_consecutive_errors=1 did not end the episode early.
    notes = [s for s in outcome.trajectory.steps if s.error and "finish_reason length" in s.error]
    assert len(notes) == 3 and notes[0].reasoning == "I will now write a very long"
    assert outcome.reason is not None and outcome.reason.startswith("policy failed 1 times in a row")
    assert "called no tool" in outcome.reason


def test_an_outage_longer_than_the_old_retry_window_is_waited_out(tmp_path: Path, serve_replay: Any) -> None:
    server = serve_replay([bash("echo one"), *WRITE_AND_SUBMIT], start=False)
    breaker = OutageBreaker()
    agent = load_agent_config(max_steps=5)
    outcome_box: list[EpisodeOutcome] = []

    def run() -> None:
        outcome_box.append(episode(tmp_path, server, agent, breaker, max_retries=1, outage_wait_s=120)[0])

    started = time.time()
    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(6)  # down for 6 s: the old 1 retry x 0.05 s would have given up at once
    assert asyncio.run(breaker.hold()) is not None  # the breaker is open: no new jobs
    server.start()
    worker.join(120)
    (outcome,) = outcome_box
    assert outcome.reason is None and outcome.submission == b"id,y\n"
    assert [s.error for s in outcome.trajectory.steps if s.error] == []
    (outage,) = breaker.outages()
    assert outage.ended_at is not None and outage.duration_s >= 5
    assert "APIConnectionError" in outage.error
    assert asyncio.run(breaker.hold()) is None
    assert outage.started_at - started < 5  # opened by the first request's failures, not at the end


def test_a_bad_request_still_fails_at_once(tmp_path: Path, serve_replay: Any) -> None:
    server = serve_replay([bash("echo one"), *WRITE_AND_SUBMIT])
    config = ReplayPolicyConfig(name="replay", path=tmp_path / "x.jsonl", model="nope", outage_wait_s=120)
    client = PolicyClient(client_settings(config, PolicyEndpoint(server.base_url, "nope")))
    started = time.time()
    with pytest.raises(Exception, match="not served"):
        asyncio.run(client.complete("nope", [{"role": "user", "content": "hi"}], [], 0))
    assert time.time() - started < 5 and client.retries == 0
