"""Fault drill through real Ray: kill -9 the search coordinator mid-run; it comes back by itself.

Real workers (bubblewrap sandboxes), the real evaluator, the journal and node folders; the baseline
policy is the LLM-free test double. The run finishes, no finished node is lost, none is run twice,
and the jobs that were running when it died run once more.
"""

import json
import os
import signal
import time
from pathlib import Path

import pytest
import ray

from tests.conftest import StartRun, stop_run
from tests.test_actors import journal

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_session")]


def test_killed_coordinator_restarts_and_the_run_finishes(
    tmp_path: Path, digits_task_dir: Path, start_run: StartRun
) -> None:
    rd, actors = start_run(
        tmp_path / "run",
        digits_task_dir,
        "search.num_workers=2",
        "search.budget.max_nodes=6",
        "search.num_drafts=2",
    )
    try:
        outcome_ref = actors.coordinator.run.remote()
        deadline = time.time() + 240
        while time.time() < deadline:
            status = ray.get(actors.coordinator.status.remote())
            if status.nodes >= 2 and status.running == 2:
                break
            time.sleep(0.2)
        pid = ray.get(actors.coordinator.__ray_call__.remote(lambda _self: os.getpid()))
        os.kill(pid, signal.SIGKILL)
        finished_before = {n["id"] for n in journal(rd)}
        running = set(map(int, json.loads(rd.state.read_text())["running"])) - finished_before
        assert finished_before and running, "killed mid-run: nodes finished and jobs running"

        outcome = ray.get(outcome_ref, timeout=400)
        ids = [n["id"] for n in journal(rd)]
        assert len(ids) == len(set(ids)) == 6 == outcome.nodes, "every node once, ids unique"
        assert sorted(ids) == list(range(1, 7))
        assert finished_before <= set(ids), "finished nodes lost: 0"
        assert set(outcome.redispatched) == running, "the lost jobs ran once more"
        assert not finished_before & set(outcome.redispatched), "nodes run twice: 0"
        assert outcome.restarts == 1 and json.loads(rd.state.read_text())["restarts"] == 1
        assert ray.get(actors.coordinator.__ray_call__.remote(lambda _self: os.getpid())) != pid
        rerun = [n for n in journal(rd) if n["id"] in running]
        assert all(n["valid"] for n in rerun), [n["reason"] for n in rerun]
        assert outcome.final is not None
    finally:
        stop_run(actors)
