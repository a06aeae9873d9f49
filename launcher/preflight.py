"""Checks that must pass before anything starts, so a run fails early and clearly, not half-way."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from evaluation.task import Task, TaskError
from launcher.benchmark import BenchmarkError, benchmark_tasks
from launcher.config import RunConfig
from launcher.placement import ClusterError, embedded_node, policy_gpus, runs_that_fit
from launcher.task_source import resolve_task
from sandbox import bwrap_missing
from serving.endpoint import policy_missing


class PreflightError(Exception):
    """One or more problems that stop the run before Ray starts; one line each."""


def benchmark_problems(cfg: RunConfig) -> list[str]:
    """What stops the configured benchmark: an unresolvable task list or missing MLE-bench data."""
    assert cfg.benchmark is not None
    try:
        names = benchmark_tasks(cfg.benchmark)
    except BenchmarkError as e:
        return [str(e)]
    if cfg.benchmark.kind == "local":
        return []
    data_dir = cfg.task.data_dir
    missing = [n for n in names if data_dir is None or not (Path(data_dir) / n / "prepared").is_dir()]
    if missing:
        return [
            f"task: MLE-bench data missing for {len(missing)} of {len(names)} competitions under "
            f"task.data_dir={data_dir} (e.g. {', '.join(missing[:3])}): prepare them with `mlebench "
            "prepare` on a machine with a Kaggle account and set task.data_dir or MLEBENCH_DATA_DIR"
        ]
    return []


def preflight(cfg: RunConfig) -> Task | None:
    """Resolve the task and check the policy's packages; raise PreflightError listing every problem.

    Returns the task of a single run (None for a benchmark, whose tasks are resolved per run).
    """
    problems: list[str] = []
    task: Task | None = None
    if cfg.benchmark is not None:
        problems += benchmark_problems(cfg)
    else:
        try:
            task = resolve_task(cfg.task)
        except TaskError as e:
            problems.append(f"task: {e}")
    if why := policy_missing(cfg.policy):
        problems.append(f"policy: {why}")
    problems += ray_problems(cfg)
    problems += sandbox_problems(cfg)
    if problems:
        raise PreflightError("\n".join(problems))
    return task


UNSANDBOXED_WARNING = (
    "WARNING: sandbox.isolation=none: agent code runs WITHOUT isolation, as this user, with this "
    "machine's files and network; it can read the hidden labels and anything else here. Use it only "
    "where bubblewrap cannot run, with code you trust."
)
_warned = False


def sandbox_problems(cfg: RunConfig) -> list[str]:
    """Refuse a bwrap sandbox this node cannot run; warn (once per process, loudly) without one."""
    global _warned
    if cfg.sandbox.isolation == "none":
        if not _warned:
            _warned = True
            bar = "!" * 100
            print(f"{bar}\n{UNSANDBOXED_WARNING}\n{bar}", file=sys.stderr)
        return []
    why = bwrap_missing()
    return [f"sandbox: {why}"] if why else []


def port_taken(host: str, port: int) -> str | None:
    """Why the policy server cannot listen on host:port (embedded Ray), or None when it can."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            return (
                f"serve: cannot listen on {host}:{port} ({e.strerror}): choose a free port with serve.port=N"
            )
    return None


def ray_problems(cfg: RunConfig) -> list[str]:
    """What stops Ray from hosting the run, as far as this node can tell without starting Ray."""
    if cfg.ray.address is None:
        problems = []
        why = port_taken(cfg.serve.host, cfg.serve.port)
        if why:
            problems.append(why)
        # The embedded Ray's one node is known before it starts: a grid it can never hold is refused now.
        gpus = local_gpu_count() if cfg.resources.gpus_per_worker or policy_gpus(cfg.policy) else 0
        try:
            runs_that_fit(cfg, [embedded_node(cfg, os.cpu_count() or 1, gpus)])
        except ClusterError as e:
            problems.append(str(e))
        return problems
    if cfg.ray.address == "auto" and not os.environ.get("RAY_ADDRESS") and not RAY_CURRENT_CLUSTER.exists():
        return [
            "ray: ray.address=auto but no Ray cluster runs on this node: "
            "start one with `ray up cluster.yaml` and launch on its head node, "
            "or set ray.address=null for a local CPU instance"
        ]
    return []


# Where `ray start` records the running cluster's address for `ray.init(address="auto")`.
RAY_CURRENT_CLUSTER = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"


def local_gpu_count() -> int:
    """NVIDIA GPUs on this machine (0 without a driver)."""
    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(line.startswith("GPU ") for line in out.splitlines())
