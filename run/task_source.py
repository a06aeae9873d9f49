"""Resolve the `task` config to a task directory on disk (building the bundled one if needed)."""

from pathlib import Path

from evaluation.bundled import ensure_bundled
from evaluation.task import Task, TaskError, load_task
from run.config import TaskConfig


def resolve_task(cfg: TaskConfig) -> Task:
    """The task to run; raises TaskError with a message that says how to fix the config."""
    if cfg.kind == "mlebench":
        if not cfg.name:
            raise TaskError(
                "task=mlebench needs task.name=<competition id>, e.g. task.name=spaceship-titanic"
            )
        if cfg.data_dir is None or not (cfg.data_dir / cfg.name / "prepared").is_dir():
            raise TaskError(
                f"MLE-bench data for {cfg.name!r} not found under task.data_dir={cfg.data_dir}: "
                f"prepare it with `mlebench prepare -c {cfg.name}` "
                "(needs a Kaggle account) and set task.data_dir or MLEBENCH_DATA_DIR"
            )
        raise TaskError(
            f"reading MLE-bench competitions ({cfg.name}) is not supported yet: "
            "convert it to a task directory (prepared/public, prepared/private, task.yaml) "
            "and pass task.dir=PATH"
        )
    if cfg.dir is not None:
        return load_task(Path(cfg.dir).expanduser())
    assert cfg.bundled is not None
    return load_task(ensure_bundled(cfg.bundled, Path(cfg.cache_dir).expanduser()))
