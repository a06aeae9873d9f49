"""The policy client against real Serve apps over HTTP: retries, timeouts, garbage, budget, sampling."""

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from agents.react import PolicyStop
from serving.budget import TokenLedger, budget_spent, cost_usd
from serving.client import ClientSettings, NotACompletion, PolicyClient, backoff_s
from serving.config import PolicyBudgetConfig, SamplingConfig
from tests.conftest import free_port

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_session")]
BASH = {"tool_calls": [{"name": "bash", "arguments": {"command": "ls"}}]}
MESSAGES = [{"role": "user", "content": "go"}]

Deploy = Callable[..., str]


@pytest.fixture(scope="module")
def deploy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deploy]:
    """Deploys a replay app of the given turns under its own route; returns its base URL."""
    from ray import serve

    from serving.replay_app import build_replay_app

    serve.shutdown()
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    names: list[str] = []

    def _deploy(*turns: dict[str, Any]) -> str:
        name = f"drill{len(names)}"
        path = tmp_path_factory.mktemp(name) / "turns.jsonl"
        path.write_text("\n".join(json.dumps(t) for t in turns))
        serve.run(build_replay_app("m", path), name=name, route_prefix=f"/{name}")
        names.append(name)
        return f"http://127.0.0.1:{port}/{name}/v1"

    yield _deploy
    for name in names:
        serve.delete(name)


def client(base_url: str, ledger: Any = None, **overrides: Any) -> PolicyClient:
    settings = dict(
        base_url=base_url,
        api_key="x",
        model="m",
        request_timeout_s=5.0,
        max_retries=2,
        retry_backoff_s=0.01,
        max_concurrency=4,
        sampling={"m": SamplingConfig()},
    )
    return PolicyClient(ClientSettings(**(settings | overrides)), ledger)


def complete(c: PolicyClient) -> Any:
    return asyncio.run(c.complete("m", MESSAGES, [], 0))


def test_a_transient_5xx_is_retried_and_the_reply_arrives(deploy: Deploy) -> None:
    c = client(deploy({"fault": {"status": 503, "times": 2}, **BASH}))
    assert complete(c).choices[0].message.tool_calls[0].function.name == "bash"
    assert c.retries == 2


def test_a_persistent_rate_limit_fails_after_the_retries(deploy: Deploy) -> None:
    c = client(deploy({"fault": {"status": 429, "message": "slow down"}}))
    with pytest.raises(openai.RateLimitError, match="slow down"):
        complete(c)
    assert c.retries == 2


def test_a_client_error_is_not_retried(deploy: Deploy) -> None:
    c = client(deploy({"fault": {"status": 400, "message": "bad request"}}))
    with pytest.raises(openai.BadRequestError):
        complete(c)
    assert c.retries == 0


def test_a_hang_past_the_timeout_is_retried(deploy: Deploy) -> None:
    c = client(deploy({"fault": {"delay_s": 3, "times": 1}, **BASH}), request_timeout_s=1.0)
    started = time.monotonic()
    assert complete(c).choices[0].message.tool_calls[0].function.name == "bash"
    assert c.retries == 1 and time.monotonic() - started < 3


def test_a_body_that_is_not_a_completion_is_a_clear_error(deploy: Deploy) -> None:
    c = client(deploy({"fault": {"garbage": "<html>502 bad gateway</html>"}}))
    with pytest.raises(NotACompletion, match="not a chat completion: <html>502"):
        complete(c)


def test_the_budget_stops_requests_once_spent(deploy: Deploy) -> None:
    import ray

    from serving.budget import TokenLedgerActor

    ledger: Any = TokenLedgerActor.remote(PolicyBudgetConfig(max_tokens=5))
    c = client(deploy({"content": "a reply long enough to cost more than five tokens", **BASH}), ledger)
    complete(c)
    with pytest.raises(PolicyStop, match=r"token budget reached: .* of policy.budget.max_tokens=5"):
        complete(c)
    assert sum(ray.get(ledger.totals.remote())) > 5
    ray.kill(ledger)


def test_the_budget_rules() -> None:
    priced = PolicyBudgetConfig(
        max_cost_usd=1.0, usd_per_million_prompt_tokens=2.0, usd_per_million_completion_tokens=10.0
    )
    assert cost_usd(priced, 250_000, 40_000) == pytest.approx(0.9)
    assert budget_spent(priced, 250_000, 40_000) is None
    assert "cost budget reached" in (budget_spent(priced, 250_000, 50_000) or "")
    ledger = TokenLedger(PolicyBudgetConfig(max_tokens=100))
    assert ledger.add(90, 0) is None
    assert ledger.add(5, 4) is None and ledger.add(0, 1) is not None
    with pytest.raises(ValueError, match="max_cost_usd needs prices"):
        PolicyBudgetConfig(max_cost_usd=1.0)


def test_backoff_doubles_and_is_capped() -> None:
    assert 0.5 <= backoff_s(1.0, 0) <= 1.0 and 2.0 <= backoff_s(1.0, 2) <= 4.0
    assert backoff_s(1.0, 20) <= 30.0


def test_only_configured_sampling_settings_are_sent(deploy: Deploy, tmp_path: Path) -> None:
    """A model that rejects temperature gets none: the request carries only what is configured."""
    import httpx2

    seen: list[dict[str, Any]] = []

    async def record(request: httpx2.Request) -> None:
        seen.append(json.loads(request.content))

    url = deploy(BASH, BASH)
    c = client(url, sampling={"m": SamplingConfig(top_p=0.5)})
    c.openai = openai.AsyncOpenAI(
        base_url=url,
        api_key="x",
        max_retries=0,
        http_client=httpx2.AsyncClient(event_hooks={"request": [record]}),
    )
    complete(c)
    assert seen[0]["top_p"] == 0.5 and "temperature" not in seen[0] and "max_tokens" not in seen[0]
