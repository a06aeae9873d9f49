"""Starts that are refused: at once, with one message and exit code 2, leaving no empty run directory
(a grid no cluster node can place, a mistyped key, a wrong value), and never a user's directory."""

import time
from pathlib import Path

import pytest

from launcher import fresh_dir
from tests.conftest import run_launch

pytestmark = pytest.mark.integration

# The grid of issue 24 that waited forever: 2 CPUs cannot hold a one-CPU home and two one-CPU workers.
UNPLACEABLE = (
    "ray.num_cpus=2",
    "search.num_workers=2",
    "benchmark=local",
    "benchmark.tasks=[digits]",
    "benchmark.seeds=[0,1]",
    "wandb.mode=disabled",
)


def test_a_grid_no_node_can_place_is_refused_at_once_with_what_it_needs(tmp_path: Path) -> None:
    out = tmp_path / "runs" / "grid"
    began = time.monotonic()
    proc = run_launch(*UNPLACEABLE, f"hydra.run.dir={out}", timeout=90)
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert time.monotonic() - began < 60
    assert proc.stdout.startswith("cannot start:")
    assert "search.num_workers=2 CPU workers but the cluster holds 1" in proc.stdout
    assert "worker bundles {CPU: 1, experiment_slot: 1}" in proc.stdout
    assert "the cluster has: head {CPU: 2, experiment_slot: 2}" in proc.stdout
    assert "lower search.num_workers to 1" in proc.stdout and "ray.num_cpus=3" in proc.stdout
    assert not (tmp_path / "runs").exists()  # the run directory and the parent this launch made


def test_a_mistyped_key_names_the_key_meant(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = run_launch("search.tempreature=0.3", f"hydra.run.dir={out}", timeout=60)
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout == "cannot start:\nunknown key search.tempreature: did you mean search.temperature?\n"
    assert "+search" not in proc.stdout + proc.stderr
    assert not out.exists()
    proc = run_launch("polcy=vllm", f"hydra.run.dir={out}", timeout=60)
    assert proc.returncode == 2 and "unknown key polcy: did you mean policy?" in proc.stdout


def test_a_wrong_value_leaves_no_new_run_directory_and_never_removes_a_users(tmp_path: Path) -> None:
    out = tmp_path / "new" / "run"
    proc = run_launch("search.temperature=0", f"hydra.run.dir={out}", timeout=60)
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "config error: search.temperature" in proc.stdout
    assert not (tmp_path / "new").exists()
    # A directory that was there before the launch stays, empty or not, a resumed one too.
    mine = tmp_path / "mine"
    mine.mkdir()
    assert run_launch("search.temperature=0", f"hydra.run.dir={mine}", timeout=60).returncode == 2
    assert mine.is_dir()
    (mine / "journal.jsonl").write_text("")
    assert run_launch(f"resume={mine}", "search.temperature=0", timeout=60).returncode == 2
    assert (mine / "journal.jsonl").exists()


def test_only_hydras_own_files_are_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    for name in fresh_dir.HYDRA_FILES:
        (run / ".hydra" / name).write_text("x")
    (run / "launch.log").write_text("")
    (run / "notes.txt").write_text("the user's")
    monkeypatch.setattr(fresh_dir, "_created", run)
    assert not fresh_dir.remove_new_run_dir(run)
    assert (run / ".hydra" / "config.yaml").exists()
    (run / "notes.txt").unlink()
    assert fresh_dir.remove_new_run_dir(run) and not run.exists()
    # A directory this launch did not create (another one did) is never touched.
    (run / ".hydra").mkdir(parents=True)
    monkeypatch.setattr(fresh_dir, "_created", tmp_path / "other")
    assert not fresh_dir.remove_new_run_dir(run) and run.exists()
