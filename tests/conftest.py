"""Test-wide settings: Ray and W&B stay local and quiet; everything on loopback."""

import os

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
# Serve kills an HTTP proxy that is not ready within 5 s, which a busy 2-core machine misses.
os.environ.setdefault("RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S", "60")
# Ray starts its workers at niceness 15: any other busy process on the machine then starves the
# Serve controller and proxy, and the run fails before it begins. The embedded instance is ours.
os.environ.setdefault("RAY_worker_niceness", "0")
os.environ.setdefault("WANDB_MODE", "offline")


import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from agents.task_card import TaskCard
    from launcher.config import RunConfig
    from launcher.run_actors import RunActors
    from search.run_dir import RunDir


# The slowest test files, slowest first (measured on a 2-core machine). The suite's two xdist workers
# take whole files in collection order, so starting with these keeps both busy to the end instead of
# leaving one to run the long files alone. Files not listed follow in their usual order.
SLOW_FILES = (
    "test_end_to_end.py",
    "test_benchmark.py",
    "test_observe.py",
    "test_openai_endpoint.py",
    "test_ablation_runs.py",
    "test_policy_faults.py",
    "test_actors.py",
    "test_fault_drills.py",
    "test_llamacpp_long.py",
    "test_llamacpp_run.py",
    "test_coordinator_restart.py",
    "test_redteam_system.py",
    "test_redteam_launch.py",
    "test_client.py",
    "test_evaluator.py",
    "test_mlebench_medical.py",
    "test_run_scratch.py",
    "test_starting.py",
    "test_policy_server_reuse.py",
    "test_evaluator_actor.py",
    "test_redteam_bundled_leaks.py",
)


def pytest_configure(config: pytest.Config) -> None:
    """Keep the order below under xdist (it would otherwise reorder files by their number of tests)."""
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow files first (SLOW_FILES), each file's tests kept together and in order."""
    rank = {name: i for i, name in enumerate(SLOW_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FILES)))


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_launch(
    *overrides: str, timeout: float = 600, env: dict[str, str] | None = None
) -> "subprocess.CompletedProcess[str]":
    """`python launch.py <overrides>` from the project root, as a user runs it, on a free Serve port
    (`env`: extra environment variables)."""
    root = Path(__file__).resolve().parents[1]
    return subprocess.run(
        [sys.executable, str(root / "launch.py"), *overrides, f"serve.port={free_port()}"],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=root,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """One local Ray instance on loopback for the whole session, with 2 declared (not real) GPUs."""
    import ray

    # address="local": our own instance even when another Ray runs on this machine (`ray start`
    # announces itself in /tmp/ray/ray_current_cluster, which a plain ray.init would join).
    ray.init(
        address="local",
        num_cpus=4,
        num_gpus=2,
        resources={"experiment_slot": 2},
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        namespace="aira-tests",
        log_to_driver=False,
    )
    yield
    from ray import serve

    serve.shutdown()
    ray.shutdown()


@pytest.fixture(autouse=True)
def _no_held_workers(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test on the session's Ray leaves its worker slots and GPUs free: a run it leaked would make
    a later test's workers wait for them (this fails the test that leaked, not the one that waits)."""
    yield
    if "ray_session" in request.fixturenames:
        _wait_for_free_workers()


@pytest.fixture(scope="session")
def digits_task_dir() -> Path:
    """The bundled task, built once into the user's cache (as `python launch.py` does)."""
    from evaluation.bundled import ensure_bundled
    from launcher.config import TaskConfig

    return ensure_bundled("digits", TaskConfig().cache_dir)


CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def compose_config(*overrides: str) -> "RunConfig":
    """The validated config that `python launch.py <overrides>` would run with."""
    from hydra import compose, initialize_config_dir

    from launcher.config import load_config

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return load_config(compose(config_name="config", overrides=list(overrides)))


def tiny_card(data_dir: Path) -> "TaskCard":
    """A task card for tests that do not read the task's data."""
    from agents.task_card import TaskCard

    return TaskCard(
        name="t",
        metric="accuracy",
        lower_is_better=False,
        id_column="id",
        target_columns=["y"],
        data_dir=str(data_dir),
        description="classify the rows",
    )


StartRun = Callable[..., "tuple[RunDir, RunActors]"]


@pytest.fixture
def start_run(ray_session: None) -> Iterator[StartRun]:
    """Start a run's policy server and actors on the session's Ray as the run unit starts them:
    `start_run(run_dir, task_dir, *overrides)`. Every run started is stopped when the test ends,
    whatever it did, so that no test's workers hold the session's GPUs for the next one."""
    import time

    from ray import serve

    from evaluation.task import load_task
    from launcher.run_actors import start_actors
    from search.run_dir import RunDir
    from serving.server import start_policy_server

    runs: list[RunActors] = []

    def start(run_dir: Path, task_dir: Path, *overrides: str) -> "tuple[RunDir, RunActors]":
        _wait_for_free_workers()
        cfg = compose_config(*overrides, f"serve.port={free_port()}")
        rd = RunDir(run_dir)
        rd.root.mkdir()
        serve.shutdown()  # a fresh proxy on this test's port
        endpoint = start_policy_server(cfg.policy, cfg.serve.host, cfg.serve.port)
        actors = start_actors(cfg, load_task(task_dir), rd, endpoint, f"test-{time.time_ns()}")
        runs.append(actors)
        return rd, actors

    yield start
    for actors in runs:
        stop_run(actors)


def _wait_for_free_workers(timeout: float = 60) -> None:
    """The session's worker slots and GPUs are all free (a run of an earlier test may still be
    stopping); else fail naming what is held, instead of letting the run wait for them."""
    import time

    import ray

    from launcher.placement import CPU_SLOT

    deadline = time.time() + timeout
    while True:
        total, free = ray.cluster_resources(), ray.available_resources()
        held = {
            k: total[k] - free.get(k, 0.0) for k in (CPU_SLOT, "GPU") if total.get(k, 0.0) > free.get(k, 0.0)
        }
        if not held:
            return
        if time.time() > deadline:
            groups = [g for g in ray.util.placement_group_table().values() if g.get("state") != "REMOVED"]
            raise AssertionError(
                f"an earlier test left {held} held in the session's Ray; placement groups: {groups}"
            )
        time.sleep(0.5)


def stop_run(actors: "RunActors") -> None:
    """Kill a test run's actors now (a run unit's die with its placement group)."""
    from launcher.run_actors import stop_actors

    stop_actors(actors)
