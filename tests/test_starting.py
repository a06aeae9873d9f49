"""Start-up failures name the failing part and leak nothing (issue 13, item 6).

The part's own error is raised for real: Ray's start replaced by one that fails (no Ray started),
a corrupt journal that the token ledger refuses, a replay file broken after the config was checked.
"""

import json
import time
from pathlib import Path
from typing import Any

import pytest

from launcher.starting import StartError, starting
from search.node import Node
from tests.conftest import compose_config, free_port


def test_any_error_while_a_part_starts_becomes_one_error_naming_it() -> None:
    expected = r"^token ledger failed to start: ValueError: boom; fix it$"
    with pytest.raises(StartError, match=expected), starting("token ledger", "fix it"):
        raise ValueError("boom")


def test_a_failing_ray_start_names_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    from launcher.driver import connect_ray

    def refuse(**_: Any) -> None:
        raise RuntimeError("Failed to start the GCS server")

    monkeypatch.setattr(ray, "init", refuse)
    with pytest.raises(
        StartError, match=r"^Ray start failed 3 times: .*RuntimeError: Failed to start the GCS server"
    ):
        connect_ray(compose_config())
    assert not ray.is_initialized()


def _run_actors() -> set[str]:
    import ray

    return {a["name"] for a in ray.util.list_named_actors() if a["name"].startswith("aira-")}


@pytest.mark.integration
def test_a_failing_ledger_is_named_and_the_evaluator_started_before_it_is_gone(
    ray_session: None, tmp_path: Path, digits_task_dir: Path
) -> None:
    from evaluation.task import load_task
    from launcher.run_actors import start_actors
    from search.run_dir import RunDir
    from serving.server import PolicyEndpoint

    rd = RunDir(tmp_path / "run")
    rd.root.mkdir()
    node = Node(
        id=1, operator="draft", valid=False, reason="x", worker_id=0, started_at=0, ended_at=1, scored_at=1
    )
    rd.journal.write_text(f"{node.model_dump_json()}\nnot a node\n{node.model_dump_json()}\n")
    before = _run_actors()
    with pytest.raises(StartError, match=r"^token ledger failed to start: .*journal\.jsonl.*line 2"):
        start_actors(
            compose_config(),
            load_task(digits_task_dir),
            rd,
            PolicyEndpoint("http://127.0.0.1:9/v1", "m"),
            "test-starting",
        )
    deadline = time.time() + 60
    while _run_actors() - before and time.time() < deadline:
        time.sleep(0.5)
    assert _run_actors() - before == set(), "the evaluator started before the ledger is killed"


@pytest.mark.integration
def test_a_policy_server_that_fails_to_deploy_is_named_and_leaves_no_app(
    ray_session: None, tmp_path: Path
) -> None:
    from ray import serve

    from launcher.driver import start_policy

    turns = tmp_path / "turns.jsonl"
    turns.write_text(json.dumps({"content": "hi"}) + "\n")
    cfg = compose_config("policy=replay", f"policy.path={turns}", f"serve.port={free_port()}")
    turns.write_text("{not json\n")  # broken after the config was checked
    serve.shutdown()
    with pytest.raises(StartError, match=r"^policy server \(policy=replay\) failed to start: ReplayError: "):
        start_policy(cfg)
    assert "policy" not in serve.status().applications
