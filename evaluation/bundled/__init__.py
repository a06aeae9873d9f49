"""Offline tasks built from data that pip packages carry, cached as task directories."""

import os
import shutil
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

from threadpoolctl import threadpool_limits

from evaluation.bundled import digits
from evaluation.bundled._table import build_table_task
from evaluation.bundled.local_tasks import LOCAL_TASKS
from evaluation.bundled.provenance import PackageData, hide_package_data
from evaluation.task import TaskError
from sandbox.config import SandboxConfig

# name -> (version, builder); a new version gets a new directory, so old caches never go stale.
BUNDLED: dict[str, tuple[int, Callable[[Path], None]]] = {
    digits.NAME: (digits.VERSION, digits.build),
    **{t.name: (t.version, partial(build_table_task, t)) for t in LOCAL_TASKS},
}


# name -> the package files it was built from (evaluation/bundled/provenance.py).
PROVENANCE: dict[str, tuple[PackageData, ...]] = {
    digits.NAME: digits.PROVENANCE,
    **{t.name: t.provenance for t in LOCAL_TASKS},
}


def hide_bundled_data(settings: SandboxConfig) -> SandboxConfig:
    """`settings` with the package data of every bundled task hidden from sandboxes (`sandbox.hide`).

    Every bundled task's sources, whatever the task: a task of the user's own may be built from the
    same data sets, and agent code of any task should not find a copy of another's hidden labels.
    """
    return hide_package_data(settings, [item for items in PROVENANCE.values() for item in items])


def bundled_names() -> list[str]:
    """Names of the bundled tasks, sorted."""
    return sorted(BUNDLED)


def ensure_bundled(name: str, cache_dir: Path) -> Path:
    """The directory of bundled task `name` under `cache_dir/tasks/`, built on first use.

    The build happens in a temporary directory beside the target and is renamed into place, so a
    reader never sees a half-built task and two processes racing to build it both end up with one.
    """
    if name not in BUNDLED:
        raise TaskError(f"unknown bundled task {name!r}; bundled tasks: {', '.join(bundled_names())}")
    version, build = BUNDLED[name]
    target = Path(cache_dir) / "tasks" / f"{name}-v{version}"
    if (target / "task.yaml").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent))
    try:
        # One thread: OpenMP models (gradient boosting) crawl when their threads fight other processes
        # for two cores, and one thread gives the same floating-point sums on every machine.
        with threadpool_limits(1):
            build(scratch)
        scratch.chmod(0o755)
        try:
            os.rename(scratch, target)
        except OSError:
            # Another process finished first; its copy is identical, so use it.
            if not (target / "task.yaml").is_file():
                raise TaskError(
                    f"{target} exists but is not a complete task directory; delete it to rebuild"
                ) from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def build_all(cache_dir: Path, names: list[str] | None = None) -> dict[str, Path]:
    """Build (or reuse) every bundled task, or those named; name -> task directory."""
    return {name: ensure_bundled(name, cache_dir) for name in (names or bundled_names())}
