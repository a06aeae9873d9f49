"""HCE splits saved beside the task with a checksum, so every seed and every resume reuses one split.

The split is a pure function of (train.csv, split seed, fractions, group or time column), so the saved copy
is an optimisation with a guarantee: it is reused only when the checksum of train.csv and the
parameters match, and rebuilt otherwise. A task directory that cannot be written just skips saving.

It also records the checksums of the hidden answers and of its own ids, checked before each use: a
saved split whose ids no longer match their checksum, or whose task's answers changed while its
training rows did not, is refused with the reason (`SplitTamperedError`), never used. Runs of one
task stay comparable, and answers rewritten to agree with some submission do not go unnoticed.
"""

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from evaluation.task import Task, TaskError

SPLITS_DIR = "hce_splits"
# 2: the group split keyed by the evaluator's secret (1 keyed it by the public seed); 3: the checksums of
# the answers and of the ids recorded. A saved split of
# another format is recomputed, never reused.
_FORMAT = 3


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class SplitTamperedError(TaskError):
    """A saved split, or the answers it was made with, changed behind the evaluator's back."""


def ids_sha256(ids: dict[str, list[str]]) -> str:
    """The checksum of a split's ids (split names sorted, ids in their order)."""
    return hashlib.sha256(json.dumps(ids, sort_keys=True).encode()).hexdigest()


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
    answers = file_sha256(task.answers_csv) if task.answers_csv.is_file() else None
    stored: dict[str, object] | None = None
    with contextlib.suppress(OSError, ValueError):
        stored = json.loads(path.read_text())
    if isinstance(stored, dict) and all(stored.get(k) == v for k, v in header.items()):
        ids = stored.get("ids")
        if not isinstance(ids, dict) or stored.get("ids_sha256") != ids_sha256(ids):
            raise SplitTamperedError(
                f"{path}: the saved split's ids do not match their recorded checksum, so it was "
                "changed after it was saved; delete the file to split the task again"
            )
        if stored.get("answers_sha256") not in (None, answers):
            raise SplitTamperedError(
                f"{task.answers_csv} changed since the split in {path} was saved while the training rows "
                "did not: scores would not be comparable with earlier runs. If you prepared the task "
                f"again on purpose, delete {path.parent} and run again"
            )
        return {name: [str(i) for i in ids] for name, ids in ids.items()}
    split = compute()
    _save(path, {**header, "answers_sha256": answers, "ids_sha256": ids_sha256(split), "ids": split})
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
