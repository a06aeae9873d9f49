"""A red-team drill through the whole system: real ExperimentWorker actors (one declared GPU each)
and the SearchCoordinator on Ray, with the replay policy (a test double, not a language model)
playing hostile agent code in every episode. The workers go on serving jobs, every finished node
reaches the journal, and no two concurrent jobs share a GPU."""

import json
from pathlib import Path
from typing import Any

import pytest
import ray

from tests.conftest import StartRun
from tests.test_actors import journal

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_session")]

IGNORE_TERM = (
    'python -c "import signal, time; [signal.signal(s, signal.SIG_IGN) for s in '
    '(signal.SIGTERM, signal.SIGINT)]; time.sleep(60)"'
)
DRILLS = [
    ("bash", {"command": "cat ../../hce_private/* /proc/1/environ; ls /; env"}),
    ("bash", {"command": ":(){ :|:& };:"}),
    ("bash", {"command": "kill -9 -1"}),
    ("python", {"code": "blob = bytearray(3 << 30)"}),
    ("bash", {"command": "head -c 100000000 /dev/zero | tr '\\0' x"}),
    ("bash", {"command": IGNORE_TERM}),
]


def replay_file(path: Path) -> Path:
    turns: list[dict[str, Any]] = [
        {"content": "drills", "tool_calls": [{"name": n, "arguments": a} for n, a in DRILLS]},
        {
            "content": "hand in",
            "tool_calls": [
                {"name": "bash", "arguments": {"command": "cp /data/sample_submission.csv submission.csv"}}
            ],
        },
        {"content": "done", "tool_calls": [{"name": "submit", "arguments": {}}]},
    ]
    path.write_text("".join(json.dumps(t) + "\n" for t in turns))
    return path


def test_workers_survive_hostile_episodes_and_keep_their_own_gpu(
    tmp_path: Path, digits_task_dir: Path, start_run: StartRun
) -> None:
    rd, actors = start_run(
        tmp_path / "run",
        digits_task_dir,
        "policy=replay",
        f"policy.path={replay_file(tmp_path / 'drills.jsonl')}",
        "resources.gpus_per_worker=1",
        "search.num_workers=2",
        "search.num_drafts=2",
        "search.budget.max_nodes=4",
        "sandbox.exec_timeout_s=3",
        "sandbox.memory_mb=2048",
        "sandbox.max_processes=128",
    )
    outcome = ray.get(actors.coordinator.run.remote(), timeout=300)
    nodes = journal(rd)
    assert len(nodes) == 4 == outcome.nodes
    assert all(n["valid"] for n in nodes), [n["reason"] for n in nodes]
    by_worker: dict[int, list[dict[str, Any]]] = {}
    for n in nodes:
        by_worker.setdefault(n["worker_id"], []).append(n)
    assert sorted(by_worker) == [0, 1]
    assert all(len(jobs) >= 2 for jobs in by_worker.values()), "each worker served jobs after a drill"
    gpus = {w: {tuple(n["gpu_ids"]) for n in jobs} for w, jobs in by_worker.items()}
    assert all(len(g) == 1 and len(next(iter(g))) == 1 for g in gpus.values()), gpus
    assert gpus[0] != gpus[1]
    for a in nodes:
        for b in nodes:
            overlap = a["started_at"] < b["ended_at"] and b["started_at"] < a["ended_at"]
            if a["id"] != b["id"] and overlap:
                assert a["gpu_ids"] != b["gpu_ids"]
    for n in nodes:
        steps = json.loads((rd.node_dir(n["id"]) / "trajectory.json").read_text())["steps"]
        assert "No such file or directory" in steps[0]["observation"]  # no hce_private in the sandbox
        assert "RAY_" not in steps[0]["observation"]  # the worker's environment stays outside
