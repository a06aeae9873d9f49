"""Fault drills: whole runs (real Ray actors, Serve, HTTP, sandbox) against a replay policy that
fails on purpose. The run goes on and the trajectories record what happened."""

import json
from pathlib import Path
from typing import Any

import pytest

from evaluation.task import load_task
from launcher.result import RunResult
from launcher.run_unit import run_search
from search.run_dir import RunDir
from serving.server import start_policy_server
from tests.conftest import compose_config, free_port

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_session")]


def drill(tmp_path: Path, task_dir: Path, turns: list[dict[str, Any]], *overrides: str) -> RunResult:
    """Run a search with the replay policy playing `turns` ("{data}" is the agent's data directory)."""
    from ray import serve

    run_dir = tmp_path / "run"
    text = "\n".join(json.dumps(t) for t in turns).replace("{data}", str(RunDir(run_dir).public_dir))
    (tmp_path / "turns.jsonl").write_text(text)
    cfg = compose_config(
        "policy=replay",
        f"policy.path={tmp_path / 'turns.jsonl'}",
        "policy.retry_backoff_s=0.01",
        "search.num_workers=1",
        "search.budget.wall_clock_s=120",
        f"serve.port={free_port()}",
        *overrides,
    )
    serve.shutdown()  # a fresh proxy on this drill's port
    endpoint = start_policy_server(cfg.policy, cfg.serve.host, cfg.serve.port)
    return run_search(cfg, load_task(task_dir), run_dir, endpoint)


def steps(result: RunResult, node_id: int) -> list[dict[str, Any]]:
    trajectory = json.loads((RunDir(Path(result.run_dir)).node_dir(node_id) / "trajectory.json").read_text())
    return list(trajectory["steps"])


# The sandbox shows the data at /data (bubblewrap) or at its real path (no isolation).
COPY_SAMPLE = (
    "cp /data/sample_submission.csv . 2>/dev/null || cp {data}/sample_submission.csv .; "
    "mv sample_submission.csv submission.csv"
)


def bash(command: str) -> dict[str, Any]:
    return {"tool_calls": [{"name": "bash", "arguments": {"command": command}}]}


def test_transient_errors_garbage_and_a_hang_are_survived(tmp_path: Path, digits_task_dir: Path) -> None:
    turns = [
        {"fault": {"status": 503, "times": 1}, **bash(COPY_SAMPLE)},
        {"fault": {"garbage": "<html>502 bad gateway</html>", "times": 1}, **bash("echo 'x' > solution.py")},
        {"fault": {"delay_s": 4, "times": 1}, "tool_calls": [{"name": "submit", "arguments": {}}]},
    ]
    result = drill(
        tmp_path, digits_task_dir, turns, "search.budget.max_nodes=1", "policy.request_timeout_s=1.5"
    )
    assert result.nodes == 1 and result.valid_nodes == 1  # the 503 and the hang were retried
    recorded = steps(result, 1)
    assert [s["tool"] for s in recorded] == ["bash", None, "bash", "submit"]
    assert "NotACompletion" in recorded[1]["error"] and "502 bad gateway" in recorded[1]["error"]


def test_a_server_that_always_fails_ends_episodes_as_invalid_nodes(
    tmp_path: Path, digits_task_dir: Path
) -> None:
    turns = [{"fault": {"status": 500, "message": "engine crashed"}}]
    result = drill(
        tmp_path,
        digits_task_dir,
        turns,
        "search.budget.max_nodes=2",
        "policy.max_retries=1",
        "policy.outage_wait_s=0",  # no outage to wait out: fail after the retries
        "agent.max_consecutive_errors=2",
    )
    assert result.nodes == 2 and result.valid_nodes == 0 and result.best_node is None
    journal = [json.loads(line) for line in (Path(result.run_dir) / "journal.jsonl").read_text().splitlines()]
    for node in journal:
        assert node["reason"].startswith(
            "policy failed 2 times in a row: policy request failed: InternalServerError"
        )
        assert "engine crashed" in node["reason"]
    assert len(steps(result, 1)) == 2


def test_an_outage_longer_than_the_quick_retries_loses_no_job(tmp_path: Path, digits_task_dir: Path) -> None:
    turns = [
        {"fault": {"status": 503, "message": "replica restarting", "times": 6}, **bash(COPY_SAMPLE)},
        {"tool_calls": [{"name": "submit", "arguments": {}}]},
    ]
    result = drill(
        tmp_path,
        digits_task_dir,
        turns,
        "search.budget.max_nodes=1",
        "policy.max_retries=1",  # the old client gave up after this
        "policy.outage_wait_s=60",
        "agent.max_consecutive_errors=1",
    )
    assert result.nodes == 1 and result.valid_nodes == 1
    assert [s["error"] for s in steps(result, 1)] == [None, None]


def test_the_token_budget_stops_new_jobs_and_the_running_episode(
    tmp_path: Path, digits_task_dir: Path
) -> None:
    turns = [bash("echo one"), bash("echo two"), bash("echo three")]
    result = drill(
        tmp_path, digits_task_dir, turns, "search.budget.max_nodes=5", "policy.budget.max_tokens=50"
    )
    assert result.nodes == 1 and result.budget_stop is not None
    assert "policy.budget.max_tokens=50" in result.budget_stop
    assert len(steps(result, 1)) == 1  # the episode ended at its next request
    assert result.prompt_tokens > 50
    node = json.loads((Path(result.run_dir) / "journal.jsonl").read_text())
    assert "token budget reached" in node["reason"]
