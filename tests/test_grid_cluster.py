"""A grid on a multi-node Ray cluster with no shared filesystem, through `python launch.py`.

`ray.cluster_utils.Cluster` starts a head with CPUs only (no GPU, no experiment slot); two GPU nodes
(2 declared GPUs each) join it, each inside its own mount namespace where fresh tmpfs cover the run
directories, the task cache and the node-local scratch: what the head wrote does not exist there
(each node runs tests/_ray_node.py, `ray start --block` on loopback). A grid of 4 runs x 2 workers
with the baseline policy (an LLM-free test double) runs 2 at a time, workers on the GPU nodes each on
its own GPU, evaluator and coordinator on the head; its driver is killed mid-way (the grid's Serve
instance outlives it) and the same command, on another serve.port, finishes it; a grid the cluster
cannot hold is refused before anything starts.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._ray_node import agent_ports, patient_get_node
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.integration
# A raylet gives its dashboard agent a minute to report its ports and dies past that; three nodes
# and a driver on 2 busy cores need longer (read by the raylets this process starts).
os.environ.setdefault("RAY_agent_register_timeout_ms", "300000")
os.environ.setdefault("RAY_raylet_start_wait_time_s", "300")

if shutil.which("unshare") is None or os.geteuid() != 0:
    pytest.skip("needs root and unshare(1) for the worker nodes' mount namespaces", allow_module_level=True)


class GridCluster:
    def __init__(self, address: str, head_id: str, gpu_nodes: list[subprocess.Popen[bytes]], cache: Path):
        self.address = address
        self.head_id = head_id
        self.gpu_nodes = gpu_nodes
        self.cache = cache


def _gpu_node(address: str, hidden: list[Path], scratch: Path, log: Path) -> subprocess.Popen[bytes]:
    """A node with 2 declared GPUs joining `address`, in a mount namespace where `hidden` and
    `scratch` are fresh tmpfs (tests/_ray_node.py: `ray start --block` on loopback)."""
    mounts = " && ".join(f"mount -t tmpfs tmpfs {p}" for p in [*hidden, scratch])
    start = f"exec {sys.executable} -m tests._ray_node {address} 2 2 '{{\"gpu_node\": 1}}'"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AIRA_SCRATCH": str(scratch)}
    return subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", f"{mounts} && {start}"],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, ended by its pid below
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, digits_task_dir: Path) -> Iterator[GridCluster]:
    import ray
    from ray.cluster_utils import Cluster

    base = tmp_path_factory.mktemp("grid")
    runs, cache, scratch = base / "runs", base / "cache", base / "scratch"
    for d in (runs, cache, scratch):
        d.mkdir()
    # The grid's own task cache (hidden from the GPU node), with the digits task the session built.
    shutil.copytree(digits_task_dir, cache / "tasks" / digits_task_dir.name)
    # Cluster announces itself in /tmp/ray/ray_current_cluster, where every other ray.init() on this
    # machine would find and join it: this one stays unannounced (launch.py gets its address).
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(ray._private.utils, "write_ray_address", lambda *_, **__: None)
    monkeypatch.setattr(ray._private.services, "get_node", patient_get_node)
    head = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 3,
            "num_gpus": 0,
            "node_ip_address": "127.0.0.1",
            "include_dashboard": False,
            # Ports fixed up front: a raylet otherwise waits for its agents to report theirs, and dies
            # when a busy machine makes that take over 30 s.
            **agent_ports(),
        },
    )
    monkeypatch.undo()
    nodes: list[subprocess.Popen[bytes]] = []
    # Nodes are counted through the head's GCS, not a ray.init here: the test session's own Ray may
    # already be connected in this process.
    try:
        # One after the other: nodes of one machine that start at once can pick the same socket
        # names in the session directory, and then both raylets abort.
        for i in range(2):
            nodes.append(_gpu_node(head.address, [runs, cache], scratch, base / f"gpu{i}.log"))
            deadline = time.time() + 300
            while len(head.global_state._live_node_ids()) < 2 + i:
                logs = "\n".join((base / f"gpu{k}.log").read_text() for k in range(i + 1))
                assert time.time() < deadline, logs
                assert all(node.poll() is None for node in nodes), logs
                time.sleep(1)
        assert head.head_node is not None
        yield GridCluster(head.address, head.head_node.node_id, nodes, cache)
    finally:
        for node in nodes:
            os.killpg(node.pid, signal.SIGTERM)  # the node stops its processes as it exits
        for node in nodes:
            try:
                node.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(node.pid, signal.SIGKILL)
        head.shutdown()


def _argv(c: GridCluster, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        str(ROOT / "launch.py"),
        f"ray.address={c.address}",
        "benchmark=local",
        "benchmark.tasks=[digits]",
        "benchmark.seeds=[0,1,2,3]",
        "resources.gpus_per_worker=1",
        "search.num_workers=2",
        "search.num_drafts=2",
        "search.budget.max_nodes=2",
        "wandb.mode=disabled",  # tracking is tests/test_tracking.py's; here it only costs time
        f"serve.port={free_port()}",
        f"hydra.run.dir={out}",
        *extra,
    ]


def _env(c: GridCluster) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "AIRA_CACHE": str(c.cache)}


def test_a_grid_the_cluster_cannot_hold_is_refused_before_anything_starts(
    cluster: GridCluster, tmp_path: Path
) -> None:
    out = tmp_path / "refused"
    proc = subprocess.run(
        _argv(cluster, out, "search.num_workers=5"),
        env=_env(cluster),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "search.num_workers=5 GPU workers" in proc.stdout and "the cluster holds 4" in proc.stdout
    assert "4 GPUs on 3 nodes" in proc.stdout
    assert not (out / "tune").exists() and not (out / "digits").exists()


def _overlaps(rows: list[dict[str, Any]]) -> int:
    """The most runs that ran at the same moment."""
    events = sorted([(r["started_at"], 1) for r in rows] + [(r["ended_at"], -1) for r in rows])
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def test_grid_runs_two_at_a_time_across_nodes_without_a_shared_filesystem_and_resumes(
    cluster: GridCluster, tmp_path: Path
) -> None:
    out = tmp_path / "grid"
    first = subprocess.Popen(
        _argv(cluster, out), env=_env(cluster), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    # Kill the driver once one run has finished and another is under way.
    deadline = time.time() + 600
    while time.time() < deadline and first.poll() is None:
        finished = list(out.glob("*/seed*/result.json"))
        going = [j for j in out.glob("*/seed*/journal.jsonl") if not (j.parent / "result.json").exists()]
        if finished and going:
            break
        time.sleep(0.5)
    assert first.poll() is None, (first.stdout.read() if first.stdout else b"")[-3000:]
    first.send_signal(signal.SIGKILL)
    first.wait()
    before = {j.parent.name + j.parent.parent.name: j.read_text() for j in out.glob("*/seed*/journal.jsonl")}

    again = subprocess.run(
        _argv(cluster, out), env=_env(cluster), capture_output=True, text=True, timeout=900
    )
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-3000:]
    assert "already finished" in again.stdout
    for j in out.glob("*/seed*/journal.jsonl"):
        earlier = before.get(j.parent.name + j.parent.parent.name, "")
        assert j.read_text().startswith(earlier), f"{j}: the nodes of the killed launch were rewritten"

    table = json.loads((out / "benchmark.json").read_text())
    rows = table["rows"]
    assert sorted((r["task"], r["seed"]) for r in rows) == [("digits", s) for s in range(4)]
    assert all(r["error"] is None and r["valid_nodes"] >= 1 for r in rows), rows
    assert any(r["reused"] for r in rows)
    assert _overlaps(rows) == 2, [(r["started_at"], r["ended_at"]) for r in rows]

    placements = [json.loads((Path(r["run_dir"]) / "placement.json").read_text()) for r in rows]
    for p in placements:
        assert p["run_unit"] == p["evaluator"] == p["coordinator"] == cluster.head_id
        workers = p["workers"]
        assert len(workers) == 2 and all(w["node"] != cluster.head_id for w in workers)
        assert all(len(w["gpu_ids"]) == 1 for w in workers)
        assert len({(w["node"], w["gpu_ids"][0]) for w in workers}) == 2, "two workers on one GPU"
        # The task copy lived in the worker node's own scratch: nothing of it on the head.
        assert not any(Path(w["public_dir"]).exists() for w in workers)
    assert len({w["node"] for p in placements for w in p["workers"]}) == 2, "both GPU nodes ran workers"
    for r in rows:
        nodes = [json.loads(line) for line in (Path(r["run_dir"]) / "journal.jsonl").read_text().splitlines()]
        assert len(nodes) == 2 and all(len(n["gpu_ids"]) == 1 for n in nodes)
