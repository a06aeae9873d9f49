"""A real model in a small window: `policy=llamacpp policy.n_ctx=1536` (Gemma 3 270M on CPU, served by
Ray Serve) runs 12 ReAct steps in a bubblewrap sandbox without one context-length refusal: the
agent compacts its conversation to fit the window taken from the policy (n_ctx)."""

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai.types.chat import ChatCompletion

from agents.config import load_agent_config
from agents.react import run_episode
from sandbox import SandboxConfig, open_sandbox
from serving.client import PolicyClient, client_settings
from tests.conftest import compose_config, free_port, tiny_card

STEPS = 12
N_CTX = 1536
pytestmark = pytest.mark.integration


class RecordingClient:
    """The real PolicyClient, recording the prompt tokens the server counted for each request."""

    def __init__(self, client: PolicyClient) -> None:
        self.client = client
        self.prompt_tokens: list[int] = []

    async def complete(
        self,
        model: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        seed: int,
        job: dict[str, Any] | None = None,
    ) -> ChatCompletion:
        completion = await self.client.complete(model, messages, tools, seed, job)
        self.prompt_tokens.append(completion.usage.prompt_tokens if completion.usage else 0)
        return completion


@pytest.fixture(scope="module")
def llamacpp(ray_session: None) -> Iterator[Any]:
    pytest.importorskip("llama_cpp", reason="needs the llamacpp extra (see README)")
    from ray import serve

    from serving.server import start_policy_server

    serve.shutdown()
    cfg = compose_config("policy=llamacpp", f"policy.n_ctx={N_CTX}", "policy.max_new_tokens=48")
    yield cfg.policy, start_policy_server(cfg.policy, "127.0.0.1", free_port())
    serve.delete("policy")


def test_12_steps_in_a_1536_token_window_without_a_context_error(llamacpp: Any, tmp_path: Path) -> None:
    policy, endpoint = llamacpp
    client = RecordingClient(PolicyClient(client_settings(policy, endpoint)))
    assert client.client.context_window(policy.model) == N_CTX  # the agent's window comes from n_ctx
    # A tiny base model makes many bad calls: only the step limit may end this episode.
    agent = load_agent_config(max_steps=STEPS, max_consecutive_errors=1000, observation_chars=1500)
    agent = agent.model_copy(update={"context_window": N_CTX})
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("id,x,y\n1,0.5,0\n2,0.7,1\n")
    sandbox = open_sandbox(SandboxConfig(exec_timeout_s=10), tmp_path / "ws", tmp_path / "data")

    async def run() -> Any:
        try:
            return await run_episode(
                client,
                policy.model,
                sandbox,
                tiny_card(Path(sandbox.data_dir)),
                "draft",
                [],
                0,
                time.time() + 1500,
                agent,
                10,
            )
        finally:
            await sandbox.close()

    started = time.monotonic()
    outcome = asyncio.run(run())
    print(f"llama.cpp: {STEPS} steps in {time.monotonic() - started:.0f} s")
    steps = outcome.trajectory.steps
    refusals = [s.error for s in steps if s.error and ("context" in s.error or "policy request" in s.error)]
    assert refusals == []
    assert len({s.index for s in steps}) >= STEPS or outcome.submission is not None, outcome.reason
    assert outcome.trajectory.compactions >= 1  # the window was reached and the agent compacted
    assert max(client.prompt_tokens) <= N_CTX
