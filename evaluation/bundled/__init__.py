"""Offline tasks built from data that pip packages carry, cached as task directories."""

import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from threadpoolctl import threadpool_limits

from evaluation.bundled import digits
from evaluation.bundled._table import build_table_task
from evaluation.bundled.local_tasks import LOCAL_TASKS
from evaluation.bundled.provenance import PackageData, hide_package_data
from evaluation.split_store import SPLITS_DIR, file_sha256
from evaluation.task import TaskError
from sandbox.config import SandboxConfig

log = logging.getLogger(__name__)
CHECKSUMS = "CHECKSUMS.json"

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
    Its files are written read-only with their checksums (CHECKSUMS.json) and checked at every use:
    a cached task whose files changed (its answers rewritten, say) is moved aside, logged, and built
    again from the package data.
    """
    if name not in BUNDLED:
        raise TaskError(f"unknown bundled task {name!r}; bundled tasks: {', '.join(bundled_names())}")
    version, build = BUNDLED[name]
    target = Path(cache_dir) / "tasks" / f"{name}-v{version}"
    if (target / "task.yaml").is_file():
        changed = changed_files(target)
        if not changed:
            return target
        aside = target.with_name(f".{target.name}.changed-{time.time_ns()}")
        log.warning(
            "bundled task %s: %s changed since it was built; moved to %s and built again",
            name,
            ", ".join(changed[:5]),
            aside,
        )
        with contextlib.suppress(OSError):  # another process may have moved it already
            os.rename(target, aside)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent))
    try:
        # One thread: OpenMP models (gradient boosting) crawl when their threads fight other processes
        # for two cores, and one thread gives the same floating-point sums on every machine.
        with threadpool_limits(1):
            build(scratch)
        seal(scratch)
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


def _file_checksums(root: Path, tree: list[Path]) -> dict[str, str]:
    """The checksum of each regular file of `tree` (a walk of `root`) but the checksums' own file and
    the saved splits (which carry checksums of their own)."""
    return {
        str(path.relative_to(root)): file_sha256(path)
        for path in tree
        if path.is_file()
        and not path.is_symlink()
        and path.name != CHECKSUMS
        and SPLITS_DIR not in path.relative_to(root).parts
    }


def seal(root: Path) -> None:
    """Record the checksum of every file of a built task and make the tree read-only to all but its
    owner."""
    tree = sorted(root.rglob("*"))
    (root / CHECKSUMS).write_text(json.dumps(_file_checksums(root, tree), indent=0))
    for path in [root, *tree]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)


def changed_files(root: Path) -> list[str]:
    """The files of a sealed task that differ from its checksums (missing, added or rewritten), and
    those anyone but their owner may write; [CHECKSUMS] when it has no checksums to check."""
    try:
        recorded = json.loads((root / CHECKSUMS).read_text())
    except (OSError, ValueError):
        return [CHECKSUMS]
    tree = sorted(root.rglob("*"))
    writable = [
        str(p.relative_to(root)) for p in [root, *tree] if not p.is_symlink() and p.stat().st_mode & 0o022
    ]
    current = _file_checksums(root, tree)
    return writable + sorted(k for k in recorded.keys() | current.keys() if recorded.get(k) != current.get(k))


def build_all(cache_dir: Path, names: list[str] | None = None) -> dict[str, Path]:
    """Build (or reuse) every bundled task, or those named; name -> task directory."""
    return {name: ensure_bundled(name, cache_dir) for name in (names or bundled_names())}
