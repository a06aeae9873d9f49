"""The actors through a real Ray instance: GPU assignment, cluster checks, the task reaching workers
through the object store, node-local workspaces, a worker killed mid-run."""

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import ray

from actors.scratch import PublicCopy, release_scratch, run_nodes
from launcher.driver import ClusterError, check_cluster
from launcher.placement import worker_options
from search.run_dir import RunDir
from tests.conftest import StartRun, compose_config, tiny_card

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_session")]


def test_more_gpu_workers_than_gpus_is_refused() -> None:
    cfg = compose_config("resources.gpus_per_worker=1", "search.num_workers=3")
    with pytest.raises(
        ClusterError, match=r"search.num_workers=3 GPU workers .* the cluster holds 2: it has 2 GPUs"
    ):
        check_cluster(cfg)
    assert check_cluster(compose_config("resources.gpus_per_worker=1", "search.num_workers=2")) == 1


def test_more_cpu_workers_than_slots_is_refused() -> None:
    with pytest.raises(ClusterError, match="experiment_slot"):
        check_cluster(compose_config("search.num_workers=5"))


def test_each_gpu_worker_holds_its_own_gpu_and_gets_the_task_once_per_node(tmp_path: Path) -> None:
    from actors.worker import ExperimentWorkerActor
    from agents.config import load_agent_config
    from serving.client import client_settings
    from serving.server import PolicyEndpoint

    cfg = compose_config("resources.gpus_per_worker=1")
    assert worker_options(cfg)["num_gpus"] == 1
    card = tiny_card(tmp_path / "nowhere")
    settings = load_agent_config(max_steps=1, max_consecutive_errors=1, observation_chars=1000)
    # The task's files back to back in chunks of 4 bytes: chunks span files, as they do at 64 MiB.
    content = b"id,y\n1,0\n" + b"hi"
    files = PublicCopy(
        [("sample_submission.csv", 9), ("empty.txt", 0), ("sub/notes.md", 2)],
        [ray.put(content[k : k + 4]) for k in range(0, len(content), 4)],
    )
    key = f"test-{os.getpid()}-{time.time_ns()}"
    workers: list[Any] = [
        ExperimentWorkerActor.options(**worker_options(cfg)).remote(
            i,
            card,
            [files],
            key,
            client_settings(cfg.policy, PolicyEndpoint("http://127.0.0.1:9/v1", "m")),
            settings,
        )
        for i in range(2)
    ]
    infos = ray.get([w.info.remote() for w in workers])
    gpus = [tuple(i["gpu_ids"]) for i in infos]
    assert all(len(g) == 1 for g in gpus)
    assert gpus[0] != gpus[1]
    # One copy on the node, shared by both workers, in node-local scratch (not in any run directory).
    public = {i["public_dir"] for i in infos}
    assert len(public) == 1
    local = Path(public.pop())
    assert key in str(local) and (local / "sub" / "notes.md").read_bytes() == b"hi"
    assert (local / "sample_submission.csv").read_bytes() == b"id,y\n1,0\n"
    assert (local / "empty.txt").read_bytes() == b""
    assert sorted(p.name for p in local.parent.iterdir() if not p.name.startswith(".")) == ["task_public"]
    release_scratch(key, False, run_nodes())
    assert not local.parent.exists()


def journal(rd: RunDir) -> list[dict[str, Any]]:
    return [json.loads(line) for line in rd.journal.read_text().splitlines()]


def test_killed_worker_loses_its_job_only_and_the_search_goes_on(
    tmp_path: Path, digits_task_dir: Path, start_run: StartRun
) -> None:
    rd, actors = start_run(
        tmp_path / "run",
        digits_task_dir,
        "search.num_workers=2",
        "search.budget.max_nodes=6",
        "search.num_drafts=2",
    )
    outcome_ref = actors.coordinator.run.remote()
    deadline = time.time() + 120
    while ray.get(actors.coordinator.status.remote()).running < 2 and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # both workers are mid-episode
    ray.kill(actors.workers[0], no_restart=False)
    outcome = ray.get(outcome_ref, timeout=300)
    nodes = journal(rd)
    assert len(nodes) == 6 == outcome.nodes
    lost = [n for n in nodes if n["reason"] and "worker 0 failed" in n["reason"]]
    assert len(lost) == 1 and not lost[0]["valid"]
    after = [n for n in nodes if n["worker_id"] == 0 and n["started_at"] > lost[0]["ended_at"]]
    assert after and any(n["valid"] for n in after), "the restarted worker serves the next jobs"
    assert outcome.valid_nodes >= 4
    assert outcome.final is not None
    for n in nodes:
        assert (rd.node_dir(n["id"]) / "scores.json").exists()


def test_wall_clock_budget_stops_the_search_and_keeps_every_started_node(
    tmp_path: Path, digits_task_dir: Path, start_run: StartRun
) -> None:
    rd, actors = start_run(
        tmp_path / "run",
        digits_task_dir,
        "search.budget.wall_clock_s=6",
        "search.budget.max_nodes=1000",
        "search.budget.grace_s=20",
    )
    started = time.time()
    outcome = ray.get(actors.coordinator.run.remote(), timeout=120)
    assert time.time() - started < 6 + 20 + 5
    status = ray.get(actors.coordinator.status.remote())
    assert status.done and status.running == 0
    nodes = journal(rd)
    assert len(nodes) == outcome.nodes >= 2
    assert sorted(n["id"] for n in nodes) == list(range(1, len(nodes) + 1)), "no started job is lost"
    assert not rd.workspaces.exists(), "workspaces are node-local scratch, not in the run directory"
    scratch = Path(ray.get(actors.workers[0].info.remote())["public_dir"]).parent
    assert list((scratch / "workspaces").iterdir()) == [], "each episode's workspace is gone once it returned"


def test_ray_workers_run_at_normal_priority() -> None:
    """Niced workers (Ray's default, 15) starve behind any busy process; tests run like launch.py."""

    @ray.remote
    def niceness() -> int:
        return os.nice(0)

    assert ray.get(niceness.remote()) == 0
