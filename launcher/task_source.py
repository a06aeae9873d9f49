"""Resolve the `task` config to a task on disk: a directory, a bundled task, or an MLE-bench competition."""

from pathlib import Path

from evaluation.bundled import ensure_bundled
from evaluation.mlebench import load_mlebench_task
from evaluation.task import Task, TaskError, load_task
from launcher.config import TaskConfig


def resolve_task(cfg: TaskConfig) -> Task:
    """The task to run; raises TaskError with a message that says how to fix the config."""
    if cfg.kind == "mlebench":
        if not cfg.name:
            raise TaskError(
                "task=mlebench needs task.name=<competition id>, e.g. task.name=spaceship-titanic"
            )
        if cfg.data_dir is None:
            raise TaskError(
                "task=mlebench needs task.data_dir (or MLEBENCH_DATA_DIR): mle-bench's data directory"
            )
        return load_mlebench_task(
            cfg.data_dir, cfg.name, cfg.mlebench_repo, Path(cfg.cache_dir).expanduser(), cfg.group_column
        )
    if cfg.dir is not None:
        return load_task(Path(cfg.dir).expanduser())
    assert cfg.bundled is not None
    return load_task(ensure_bundled(cfg.bundled, Path(cfg.cache_dir).expanduser()))
