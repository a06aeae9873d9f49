"""`policy=openai` end to end: launch.py against a local OpenAI-compatible server that the test starts
on 127.0.0.1 (the baseline test double under uvicorn, serving/standalone.py; no Ray Serve), as a
small benchmark of two runs (a single run takes the same path; tests/test_end_to_end.py covers its
files). Nothing is deployed, so nothing must be deleted at the end."""

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, run_launch

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    port = free_port()
    argv = [sys.executable, "-m", "serving.standalone", "baseline", "--port", str(port)]
    server = subprocess.Popen(argv, cwd=ROOT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        give_up = time.time() + 180  # a busy 2-core machine imports slowly
        while True:
            try:
                httpx.get(f"{base_url}/models", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.time() > give_up or server.poll() is not None:
                    raise RuntimeError("the local OpenAI-compatible server did not start") from None
                time.sleep(0.2)
        yield base_url
    finally:
        server.terminate()
        server.wait(10)


def openai_policy(base_url: str) -> list[str]:
    return [
        "policy=openai",
        f"policy.base_url={base_url}",
        "policy.model=aira-baseline",
        "policy.job_facts=true",  # the baseline reads the job's facts; OpenAI's own API would refuse them
    ]


def test_a_small_benchmark_against_an_external_endpoint_exits_0_with_valid_nodes(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "local-test-key")
    out = tmp_path / "bench"
    proc = run_launch(
        *openai_policy(endpoint),
        "benchmark=local",
        "benchmark.tasks=[wine,diabetes]",
        "search.budget.max_nodes=1",
        "search.num_drafts=1",
        f"hydra.run.dir={out}",
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    table = json.loads((out / "benchmark.json").read_text())
    assert [r["task"] for r in table["rows"]] == ["wine", "diabetes"]
    for row in table["rows"]:
        assert row["error"] is None, row
        result = json.loads((out / row["task"] / "seed0" / "result.json").read_text())
        assert result["policy"] == "openai" and result["nodes"] == 1 and result["valid_nodes"] == 1
        assert result["prompt_tokens"] > 0
