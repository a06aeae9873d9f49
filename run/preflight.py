"""Checks that must pass before anything starts, so a run fails early and clearly, not half-way."""

import socket
from pathlib import Path

from evaluation.task import Task, TaskError
from run.config import RunConfig
from run.task_source import resolve_task
from serving.config import VLLMPolicyConfig
from serving.vllm_app import vllm_missing


class PreflightError(Exception):
    """One or more problems that stop the run before Ray starts; one line each."""


def benchmark_tasks(cfg: RunConfig) -> list[str]:
    """The competition ids of the configured benchmark (its split file or explicit list)."""
    b = cfg.benchmark
    if b is None:
        return []
    if b.tasks:
        return list(b.tasks)
    repo = Path(b.mlebench_repo or ".").expanduser()
    split_file = repo / "experiments" / "splits" / f"{b.split}.txt"
    if not split_file.is_file():
        raise PreflightError(
            f"benchmark.split={b.split}: {split_file} not found: clone mle-bench and set "
            "benchmark.mlebench_repo (or MLEBENCH_REPO) to it"
        )
    return [line.strip() for line in split_file.read_text().splitlines() if line.strip()]


def preflight(cfg: RunConfig) -> Task | None:
    """Resolve the task and check the policy's packages; raise PreflightError listing every problem.

    Returns the task of a single run (None for a benchmark, whose tasks are resolved per run).
    """
    problems: list[str] = []
    task: Task | None = None
    if cfg.benchmark is not None:
        try:
            names = benchmark_tasks(cfg)
            data_dir = cfg.task.data_dir
            missing = [n for n in names if data_dir is None or not (Path(data_dir) / n / "prepared").is_dir()]
            if missing:
                problems.append(
                    f"task: MLE-bench data missing for {len(missing)} of {len(names)} competitions under "
                    f"task.data_dir={data_dir} (e.g. {', '.join(missing[:3])}): prepare them with `mlebench "
                    "prepare` on a machine with a Kaggle account and set task.data_dir or MLEBENCH_DATA_DIR"
                )
            else:
                problems.append("benchmark: running MLE-bench competitions is not supported yet")
        except PreflightError as e:
            problems.append(str(e))
    else:
        try:
            task = resolve_task(cfg.task)
        except TaskError as e:
            problems.append(f"task: {e}")
    if isinstance(cfg.policy, VLLMPolicyConfig):
        why = vllm_missing()
        if why:
            problems.append(f"policy: {why}")
    if cfg.ray.address is None:
        why = port_taken(cfg.serve.host, cfg.serve.port)
        if why:
            problems.append(why)
    if problems:
        raise PreflightError("\n".join(problems))
    return task


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
