"""A run that dies early leaves no node-local scratch (the task copy, the workspaces) behind: real
Ray actors, sandboxes and the baseline policy (an LLM-free test double) on the session's Ray."""

import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import ray

from actors.coordinator import SearchStatus
from actors.scratch import scratch_root
from evaluation.task import Task, load_task
from launcher.run_unit import run_search
from launcher.starting import StartError
from search.run_dir import RunDir
from serving.server import PolicyEndpoint, start_policy_server
from tests.conftest import compose_config, free_port

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_session")]


def named_task(tmp_path: Path, digits_task_dir: Path) -> Task:
    """The digits task under a name of its own: its scratch (`<scratch>/<name>-<key>/`) is this test's."""
    root = tmp_path / "task"
    shutil.copytree(digits_task_dir, root)
    yaml = root / "task.yaml"
    yaml.write_text(yaml.read_text().replace("name: digits", f"name: scratch-{os.getpid()}-{time.time_ns()}"))
    return load_task(root)


def scratch_of(task: Task) -> list[Path]:
    return list(scratch_root().glob(f"{task.spec.name}-*"))


def endpoint_for(*overrides: str) -> tuple[Any, PolicyEndpoint]:
    cfg = compose_config("search.num_workers=2", f"serve.port={free_port()}", *overrides)
    return cfg, start_policy_server(cfg.policy, cfg.serve.host, cfg.serve.port)


def test_a_run_unit_that_raises_mid_run_drops_its_scratch_and_stops_its_workers(
    tmp_path: Path, digits_task_dir: Path
) -> None:
    task = named_task(tmp_path, digits_task_dir)
    cfg, endpoint = endpoint_for("search.budget.max_nodes=6")
    seen: list[Path] = []

    def fail_once_an_episode_runs(status: SearchStatus, _: list[str]) -> None:
        seen.extend(w for d in scratch_of(task) for w in (d / "workspaces").glob("node-*"))
        if seen:
            raise RuntimeError("the run unit failed")

    with pytest.raises(RuntimeError, match="the run unit failed"):
        run_search(cfg, task, tmp_path / "run", endpoint, fail_once_an_episode_runs)
    assert seen, "no episode's workspace was seen while the run ran"
    assert scratch_of(task) == [], "the task copy and the workspaces outlived the run"
    # Stopped, not left to run episodes into a deleted scratch (Ray releases a killed actor's name soon).
    deadline = time.time() + 30
    while [a for a in ray.util.list_named_actors() if a.startswith(f"aira-worker-{task.spec.name}-")]:
        assert time.time() < deadline, "the run's workers outlived it"
        time.sleep(0.5)


def test_a_run_whose_start_fails_drops_the_scratch_its_workers_wrote(
    tmp_path: Path, digits_task_dir: Path
) -> None:
    task = named_task(tmp_path, digits_task_dir)
    cfg, endpoint = endpoint_for()
    # A run directory its coordinator cannot read: it fails to start, after the workers wrote the task.
    (RunDir(tmp_path / "run").state).mkdir(parents=True)
    with pytest.raises(StartError, match=r"^search coordinator failed to start: .*search_state\.json"):
        run_search(cfg, task, tmp_path / "run", endpoint)
    assert scratch_of(task) == [], "the workers' copy of the task outlived the failed start"
