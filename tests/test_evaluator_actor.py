"""The evaluator actor on a real (embedded) Ray: start-up errors name the part, a killed one comes back."""

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import ray

from actors.evaluator import HCEEvaluatorActor
from evaluation.config import ScoringLimits

pytestmark = pytest.mark.integration


def start(task_dir: Path, run: Path) -> Any:
    return HCEEvaluatorActor.remote(
        str(task_dir), 2603, (0.8, 0.1, 0.1), str(run / "task_public"),
        str(run / "hce_private" / "sealed_scores.jsonl"), ScoringLimits(processes=2),
    )  # fmt: skip


def test_a_start_up_failure_names_the_evaluator_and_the_task(ray_session: None, tmp_path: Path) -> None:
    actor = start(tmp_path / "missing-task", tmp_path / "run")
    with pytest.raises(ray.exceptions.RayActorError, match=r"HCE evaluator: the task at .*missing-task"):
        ray.get(actor.__ray_ready__.remote(), timeout=120)


def test_a_killed_evaluator_restarts_with_its_sealed_scores_and_scores_side_by_side(
    ray_session: None, tmp_path: Path, digits_task_dir: Path
) -> None:
    run = tmp_path / "run"
    actor = start(digits_task_dir, run)
    try:
        ray.get(actor.__ray_ready__.remote(), timeout=300)
        sample = (run / "task_public" / "sample_submission.csv").read_bytes()
        first, second = ray.get([actor.score.remote(1, sample), actor.score.remote(2, sample)], timeout=300)
        assert first.valid and second.valid and first.search == second.search
        pid = ray.get(actor.__ray_call__.remote(lambda self: os.getpid()))
        os.kill(pid, signal.SIGKILL)
        time.sleep(1)
        # The call is retried on the restarted actor, which reloaded the sealed scores of nodes 1 and 2.
        choice = ray.get(actor.select_final.remote([1, 2], False), timeout=300)
        assert choice is not None and choice.node_id == 1
        assert ray.get(actor.score.remote(3, None, "no submit"), timeout=300).reason == "no submit"
    finally:
        ray.kill(actor)
