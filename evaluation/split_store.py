"""HCE splits saved beside the task with a checksum, so every seed and every resume reuses one split.

The split is a pure function of (train.csv, split seed, fractions, group or time column), so the saved copy
is an optimisation with a guarantee: it is reused only when the checksum of train.csv and the
parameters match, and rebuilt otherwise. A task directory that cannot be written just skips saving.
"""

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from evaluation.task import Task

SPLITS_DIR = "hce_splits"
# 2: the group split keyed by the evaluator's secret (1 keyed it by the public seed). A saved split of
# another format is recomputed, never reused.
_FORMAT = 2


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def split_path(task: Task, split_seed: int, fractions: tuple[float, float, float]) -> Path:
    """Where the split of this seed and these fractions is saved."""
    shares = "-".join(f"{f:g}" for f in fractions)
    return task.root / SPLITS_DIR / f"seed{split_seed}_{shares}.json"


def saved_split(
    task: Task,
    split_seed: int,
    fractions: tuple[float, float, float],
    compute: Callable[[], dict[str, list[str]]],
) -> dict[str, list[str]]:
    """The saved split when its checksum and parameters match; else `compute()`, saved for next time."""
    path = split_path(task, split_seed, fractions)
    header = {
        "format": _FORMAT,
        "train_sha256": file_sha256(task.train_csv),
        "split_seed": split_seed,
        "fractions": list(fractions),
        "group_column": task.spec.group_column,
        "time_column": task.spec.time_column,
    }
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        stored = json.loads(path.read_text())
        # A split saved before time_column existed has no such key: it was not split in time.
        stored.setdefault("time_column", None)
        if {k: stored[k] for k in header} == header:
            return {name: [str(i) for i in ids] for name, ids in stored["ids"].items()}
    split = compute()
    _save(path, {**header, "ids": split})
    return split


def saved_listing(task: Task, archive: Path, compute: Callable[[], list[str]]) -> list[str]:
    """The saved listing of a large archive (the ids of its members, gesture's training archives) when
    the archive's size and modification time match; else `compute()`, saved for next time. Listing a
    .tar.gz decompresses it whole: this spares a restarted or another seed's evaluator doing it again."""
    path = task.root / SPLITS_DIR / f"listing_{archive.name}.json"
    stat = archive.stat()
    header = {"format": _FORMAT, "archive": str(archive), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        stored = json.loads(path.read_text())
        if {k: stored[k] for k in header} == header:
            return [str(i) for i in stored["ids"]]
    listing = compute()
    _save(path, {**header, "ids": listing})
    return listing


def _save(path: Path, content: dict[str, object]) -> None:
    """Write beside and rename into place (a reader never sees half a file); skipped when the task
    directory cannot be written."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(content, f)
        os.replace(tmp, path)
