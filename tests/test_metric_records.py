"""What the metrics record, without a Ray instance: the fixed reason words, and the policy client's
calls on a real HTTP server that fails, recovers and then answers garbage."""

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import openai
import pytest

from actors.metrics import RunLabels, episode_end_reason, invalid_reason_kind
from agents.candidate import Candidate, Step, Trajectory
from agents.react import DEADLINE_REASON, STEP_LIMIT_REASON
from evaluation.hce import HiddenConsistentEvaluation
from evaluation.scores import Scores
from evaluation.task import load_task
from serving.budget import budget_spent
from serving.client import ClientSettings, NotACompletion, PolicyClient
from serving.config import PolicyBudgetConfig, SamplingConfig
from serving.metrics import PolicyMetrics


def _candidate(reason: str | None, submission: bytes | None = None) -> Candidate:
    return Candidate(
        node_id=1,
        submission=submission,
        trajectory=Trajectory(steps=[Step(index=0, tool="bash", duration_s=0.1)]),
        reason=reason,
        worker_id=0,
        started_at=0.0,
        ended_at=1.0,
    )


def test_episode_end_reasons_are_fixed_words() -> None:
    spent = budget_spent(PolicyBudgetConfig(max_tokens=10), 8, 4)
    assert spent is not None
    cases = {
        None: "other",  # ended without a reason and without a submission
        STEP_LIMIT_REASON: "step_limit",
        DEADLINE_REASON: "deadline",
        "policy failed 3 times in a row: the reply called no tool": "policy_failures",
        spent: "budget",
        "something new": "other",
    }
    for reason, word in cases.items():
        assert episode_end_reason(_candidate(reason)) == word, reason
    assert episode_end_reason(_candidate(None, b"id,y\n1,2\n")) == "submit"


def test_invalid_reasons_of_the_real_evaluator_are_fixed_words(digits_task_dir: Path) -> None:
    hce = HiddenConsistentEvaluation(load_task(digits_task_dir), 0)
    sample = (digits_task_dir / "prepared" / "public" / "sample_submission.csv").read_text().splitlines()
    header = sample[0]
    cases = {
        b"": "unreadable",
        b"\xff\xfe\x00bad": "unreadable",
        b"nothing,here\n1,2\n": "columns",
        f"{header}\n".encode() + sample[1].encode() + b"\n": "ids",
    }
    for submission, word in cases.items():
        scores = hce.score(submission)
        assert not scores.valid
        assert invalid_reason_kind(scores, True) == word, scores.reason
    assert invalid_reason_kind(Scores(valid=False, reason="worker 0 failed"), False) == "no_submission"


def test_run_labels_name_a_run_by_its_directory(tmp_path: Path) -> None:
    labels = RunLabels.for_run(tmp_path / "grid" / "digits" / "seed0", "digits", 0)
    assert labels.tags() == {"run": "grid/digits/seed0", "task": "digits", "seed": "0"}


class RecordingMetrics(PolicyMetrics):
    """The real metrics, with every call kept for the test."""

    def __init__(self) -> None:
        super().__init__({"run": "r", "task": "t", "seed": "0"})
        self.requests: list[tuple[str, str | None, bool]] = []
        self.token_calls: list[tuple[int, int]] = []

    def request(self, model: str, seconds: float, error: BaseException | None, retried: bool) -> None:
        assert seconds >= 0
        self.requests.append((model, type(error).__name__ if error else None, retried))
        super().request(model, seconds, error, retried)

    def tokens(self, model: str, prompt: int, completion: int) -> None:
        self.token_calls.append((prompt, completion))
        super().tokens(model, prompt, completion)


COMPLETION = {
    "id": "c1",
    "object": "chat.completion",
    "created": 0,
    "model": "m",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hello"}}],
    "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
}


@pytest.fixture
def flaky_server() -> Iterator[tuple[str, list[tuple[int, bytes]]]]:
    """A loopback HTTP server answering each POST with the next (status, body) of its script."""
    script: list[tuple[int, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            status, body = script.pop(0)
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if body.startswith(b"{") else "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", script
    server.shutdown()
    thread.join()


def test_policy_client_records_latency_errors_retries_and_tokens(
    flaky_server: tuple[str, list[tuple[int, bytes]]],
) -> None:
    base_url, script = flaky_server
    settings = ClientSettings(
        base_url=base_url,
        api_key="x",
        model="m",
        request_timeout_s=5.0,
        max_retries=1,
        retry_backoff_s=0.01,
        max_concurrency=2,
        sampling={"m": SamplingConfig()},
    )
    metrics = RecordingMetrics()
    client = PolicyClient(settings, None, metrics=metrics)

    def ask() -> None:
        asyncio.run(client.complete("m", [{"role": "user", "content": "hi"}], [], 0))

    script += [(500, b'{"error": "busy"}'), (200, json.dumps(COMPLETION).encode())]
    ask()
    assert metrics.requests == [("m", "InternalServerError", True), ("m", None, False)]
    assert metrics.token_calls == [(7, 3)]
    script += [(200, b"<html>a proxy's page</html>")]
    with pytest.raises(NotACompletion):
        ask()
    script += [(400, b'{"error": "bad request"}')]
    with pytest.raises(openai.BadRequestError):
        ask()
    assert metrics.requests[2:] == [("m", "NotACompletion", False), ("m", "BadRequestError", False)]
    assert metrics.token_calls == [(7, 3)]
