"""Config composition and validation: bad values stop the program with one clear message."""

import subprocess
import sys
from pathlib import Path

import pytest

from launcher.config import ConfigError
from tests.conftest import compose_config

ROOT = Path(__file__).resolve().parents[1]


composed = compose_config


def test_default_config_is_valid_and_has_the_public_keys():
    cfg = composed()
    assert cfg.policy.name == "baseline"
    assert cfg.search.num_workers == 2
    assert cfg.ray.address is None
    assert cfg.task.dir is None and cfg.task.bundled == "digits"
    for value in (
        cfg.seed,
        cfg.search.temperature,
        cfg.search.crossover_prob,
        cfg.search.budget.wall_clock_s,
        cfg.search.budget.max_nodes,
        cfg.agent.max_steps,
        cfg.sandbox.exec_timeout_s,
    ):
        assert value is not None


def test_mle30_72h_is_the_papers_configuration():
    cfg = composed("+experiment=mle30_72h")
    assert cfg.policy.name == "vllm"
    assert cfg.search.num_workers == 8 and cfg.resources.gpus_per_worker == 1
    assert cfg.search.budget.wall_clock_s == 72 * 3600
    assert cfg.sandbox.exec_timeout_s == 9 * 3600
    assert cfg.search.temperature == 0.2 and cfg.search.crossover_prob == 0.15
    assert cfg.benchmark is not None and cfg.benchmark.seeds == [0, 1, 2]
    assert cfg.benchmark.split == "systemcard"
    assert cfg.task.kind == "mlebench"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("search.temperature=0", "search.temperature"),
        ("search.temperature=-1", "search.temperature"),
        ("search.crossover_prob=1.5", "search.crossover_prob"),
        ("search.num_workers=0", "search.num_workers"),
        ("search.budget.max_nodes=abc", "search.budget.max_nodes"),
        ("+search.colour=red", "search.colour: unknown key"),
        ("resources.gpus_per_worker=2", "resources.gpus_per_worker"),
        ("hce.fractions=[0.5,0.5,0.5]", "hce.fractions"),
    ],
)
def test_bad_values_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        composed(override)


def launch(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "launch.py"), *args, "hydra.run.dir=/tmp/aira-test-cfg"],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def test_launch_rejects_bad_value_with_one_message_and_nonzero_exit():
    proc = launch("search.temperature=0")
    assert proc.returncode == 2
    assert "search.temperature" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_launch_rejects_missing_task_dir(tmp_path):
    proc = launch(f"task.dir={tmp_path / 'nope'}")
    assert proc.returncode == 2
    assert "nope" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_mle30_72h_fails_early_and_clearly_here(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "launch.py"), "+experiment=mle30_72h", f"hydra.run.dir={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    out = proc.stdout
    assert proc.returncode == 2, out + proc.stderr
    assert "cannot start" in out
    assert "mle-bench" in out.lower()
    assert "pip install -e '.[vllm]'" in out
    assert "ray.address=auto" in out
    assert "Traceback" not in out + proc.stderr


def test_gpu_workers_on_a_machine_without_gpus_fail_before_ray_starts() -> None:
    proc = launch("resources.gpus_per_worker=1")
    assert proc.returncode == 2
    assert "search.num_workers=2 GPU workers but the cluster holds 0" in proc.stdout
    assert "why: the cluster has no GPUs" in proc.stdout
    assert "ray.address=auto" in proc.stdout and "resources.gpus_per_worker=0" in proc.stdout
    assert "Started a local Ray" not in proc.stdout + proc.stderr


def test_preflight_runs_before_ray_is_imported() -> None:
    # Ray reads its loopback setting when imported, so the launcher must decide it first.
    code = "import sys, launch, launcher.preflight; assert 'ray' not in sys.modules, 'ray imported too early'"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_the_embedded_ray_keeps_to_loopback_and_runs_workers_at_normal_priority() -> None:
    from launch import EMBEDDED_RAY_ENV

    assert EMBEDDED_RAY_ENV["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "0"
    # At Ray's default niceness of 15, a busy machine starved Serve's proxy past its 60 s start.
    assert EMBEDDED_RAY_ENV["RAY_worker_niceness"] == "0"
