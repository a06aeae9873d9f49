"""W&B tracking: offline runs read back from W&B's own record log; disabled writes nothing; a crash of
W&B's service is reported once and never raises into the run."""

import os
import signal
import time
from pathlib import Path

import pytest

from launcher.tracking import WandbConfig, WandbTracker
from search.node import Node
from tests.wandb_records import history, run_file, summary


def _nodes(scores: list[float | None]) -> list[Node]:
    return [
        Node(
            id=i,
            operator="draft" if i <= 2 else "mutate",
            parent_ids=[] if i <= 2 else [1],
            valid=s is not None,
            search_score=s,
            reason=None if s is not None else "no submission",
            worker_id=i % 2,
            started_at=100.0 + i,
            ended_at=103.5 + i,
            scored_at=104.0 + i,
            steps=3,
            prompt_tokens=10 * i,
            completion_tokens=i,
        )
        for i, s in enumerate(scores, start=1)
    ]


def test_an_offline_run_holds_one_history_row_per_node_and_the_summary(tmp_path: Path) -> None:
    warnings: list[str] = []
    tracker = WandbTracker(WandbConfig(), tmp_path, "digits-seed0", "grid", {"seed": 0}, warnings.append)
    assert tracker.active
    nodes = _nodes([0.5, None, 0.7, 0.6])
    tracker.log_nodes(nodes[:2], lower_is_better=False)
    tracker.log_nodes(nodes, lower_is_better=False)  # the first two are not logged twice
    tracker.finish({"final_node": 3, "test_score": 0.66}, nodes)
    assert warnings == []

    rows = [r for r in history(run_file(tmp_path)) if "node" in r and "journal/_type" not in r]
    assert [r["node"] for r in rows] == [1, 2, 3, 4]
    assert [r["valid"] for r in rows] == [1, 0, 1, 1]
    assert [r["best_search_score"] for r in rows] == [0.5, 0.5, 0.7, 0.7]
    assert rows[2]["parents"] == "1" and rows[2]["operator"] == "mutate"
    assert rows[0]["episode_s"] == pytest.approx(3.5)
    final = summary(run_file(tmp_path))
    assert final["final_node"] == 3 and final["test_score"] == 0.66
    assert final["journal/nrows"] == 4


def test_best_so_far_follows_the_metric_direction(tmp_path: Path) -> None:
    tracker = WandbTracker(WandbConfig(), tmp_path, "r", "g", {}, print)
    tracker.log_nodes(_nodes([0.5, 0.3, 0.4]), lower_is_better=True)
    tracker.finish({})
    rows = [r for r in history(run_file(tmp_path)) if "node" in r]
    assert [r["best_search_score"] for r in rows] == [0.5, 0.3, 0.3]


def test_disabled_writes_nothing(tmp_path: Path) -> None:
    tracker = WandbTracker(WandbConfig(mode="disabled"), tmp_path, "r", "g", {}, print)
    tracker.log_nodes(_nodes([0.5]), lower_is_better=False)
    tracker.finish({"x": 1})
    assert not tracker.active
    assert list(tmp_path.iterdir()) == []


def test_online_without_a_key_is_reported_once_and_the_run_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    warnings: list[str] = []
    tracker = WandbTracker(WandbConfig(mode="online"), tmp_path, "r", "g", {}, warnings.append)
    tracker.log_nodes(_nodes([0.5]), lower_is_better=False)
    tracker.finish({})
    assert len(warnings) == 1 and "no W&B API key" in warnings[0]
    assert not (tmp_path / "wandb").exists()


def _service_pids() -> list[int]:
    """The wandb-core service processes that are children of this process."""
    me = os.getpid()
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            cmd = (d / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == me and b"wandb-core" in cmd:
            pids.append(int(d.name))
    return pids


def test_a_crash_of_the_wandb_service_is_reported_once_and_never_raises(tmp_path: Path) -> None:
    warnings: list[str] = []
    tracker = WandbTracker(WandbConfig(), tmp_path, "r", "g", {}, warnings.append)
    nodes = _nodes([0.5, 0.6, 0.7, 0.8])
    tracker.log_nodes(nodes[:1], lower_is_better=False)
    pids = _service_pids()
    assert pids, "the offline W&B run has a wandb-core service process"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    time.sleep(1.0)
    for k in range(2, 5):  # the run keeps scoring nodes; tracking must never raise into it
        tracker.log_nodes(nodes[:k], lower_is_better=False)
    tracker.finish({"final_node": 4}, nodes)
    assert len(warnings) <= 1
    assert all("the run goes on" in w for w in warnings)
