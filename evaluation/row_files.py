"""Inputs in files, one or more per row (images, audio clips, per-row parquet or JSON), for HCE's copy.

`task.yaml` names the files of each row by patterns over its columns, relative to `prepared/public`:

    row_files:
      train: ["train_images/{id_code}.png"]   # the files of a labelled row
      test: ["test_images/{id_code}.png"]     # the files of a row of the competition's test set

A pattern may name a folder (one folder per row), or a member of a zip archive (`train.zip/{id}`,
see evaluation.row_archives). The agent's copy holds the D_train rows' files under
their own names, and the files of every hidden row (D_search, D_val, D_test) where the competition
keeps its test inputs, named by the row's opaque id. Files are hard-linked where possible and copied
when small or when a link fails (another filesystem); never a symlink, whose target would name the
original file. Inside a row's folder, the original id in a file name is replaced by the opaque id.
"""

import filecmp
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

import pandas as pd
from pydantic import BaseModel, ConfigDict

from evaluation.row_archives import ArchiveMembers, split_archive

# Smaller files are copied: a link saves nothing there, and a copy shares no inode with the original.
SMALL_BYTES = 64 * 1024
# `{column}`, or `{column[k]}`: the k-th character of the row's value (bms: train/{image_id[0]}/...).
_FIELD = re.compile(r"\{([^{}\[\]]*)(?:\[(\d+)\])?\}")


class RowFilesError(Exception):
    """The row files named in task.yaml do not match the task's files; the message says which."""


class RowFiles(BaseModel):
    """task.yaml's `row_files`: per row, the patterns of its files in the labelled and the test part."""

    model_config = ConfigDict(extra="forbid")

    train: list[str]
    test: list[str]


def pattern_columns(pattern: str) -> list[str]:
    """The columns a pattern reads, in order (`train/{id}.png` -> ["id"])."""
    return [m.group(1) for m in _FIELD.finditer(pattern)]


def check_patterns(row_files: RowFiles, train_columns: list[str], test_columns: list[str]) -> None:
    """RowFilesError unless both lists pair up and every pattern is a relative path over known columns."""
    if not row_files.train or len(row_files.train) != len(row_files.test):
        raise RowFilesError(
            f"row_files.train and row_files.test must list the same number of patterns, one per kind of "
            f"file of a row (got {len(row_files.train)} and {len(row_files.test)})"
        )
    for side, patterns, columns in (
        ("train", row_files.train, train_columns),
        ("test", row_files.test, test_columns),
    ):
        for pattern in patterns:
            parts = PurePosixPath(pattern).parts
            if not parts or pattern.startswith("/") or ".." in parts:
                raise RowFilesError(
                    f"row_files.{side} pattern {pattern!r} must be a path under prepared/public"
                )
            fields = pattern_columns(pattern)
            if not fields:
                raise RowFilesError(
                    f"row_files.{side} pattern {pattern!r} names no column; write e.g. 'images/{{id}}.png'"
                )
            unknown = [f for f in fields if f not in columns]
            if unknown:
                raise RowFilesError(
                    f"row_files.{side} pattern {pattern!r} reads column(s) {unknown} that the {side} table "
                    f"lacks (it has {columns[:10]})"
                )


def row_files_note(row_files: RowFiles, train_file: str) -> str:
    """The lines the agent's description.md gets about the files per row of this copy."""
    test = ", ".join(f"`{p}`" for p in row_files.test)
    train = ", ".join(f"`{p}`" for p in row_files.train)
    return (
        f"The files of each row of `train.csv` (the competition's `{train_file}`) are at {train}; those "
        f"of each row of `test.csv` at {test}, named by the row's id in `test.csv`.\n"
    )


def fill(pattern: str, row: Mapping[str, str]) -> str:
    """The pattern with each `{column}` replaced by the row's value (`{column[k]}`: its k-th character)."""

    def value(match: re.Match[str]) -> str:
        text = row[match.group(1)]
        if match.group(2) is None:
            return text
        k = int(match.group(2))
        if k >= len(text):
            raise RowFilesError(f"row_files pattern {pattern!r}: {text!r} has no character {k}")
        return text[k]

    return _FIELD.sub(value, pattern)


def place_file(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink():
        raise RowFilesError(f"{target} is a symlink; give the agent's copy a directory of its own")
    if target.exists():
        # Written before (the copy is made again into the same directory): nothing to do.
        if target.is_file() and filecmp.cmp(source, target, shallow=False):
            return
        raise RowFilesError(
            f"two rows would share the file {target.name!r}; a row_files pattern must name each row's "
            "own file"
        )
    if source.stat().st_size >= SMALL_BYTES:
        try:
            os.link(source, target)  # follows a symlinked source to its file
            return
        except OSError:
            pass  # another filesystem, or links not allowed: copy
    shutil.copyfile(source, target)


def _place(source: Path, target: Path, original_id: str, opaque_id: str | None, pattern: str) -> int:
    if source.is_dir():
        placed = 0
        for path in sorted(source.rglob("*")):
            if path.is_file():
                inner = path.relative_to(source).as_posix()
                if opaque_id is not None:
                    inner = inner.replace(original_id, opaque_id)
                place_file(path, target / inner)
                placed += 1
        return placed
    if not source.is_file():
        raise RowFilesError(
            f"the file {source} of row {original_id!r} (row_files pattern {pattern!r}) is missing; "
            "fix the pattern in task.yaml or restore the file"
        )
    place_file(source, target)
    return 1


def place_row_files(
    row_files: RowFiles,
    public: Path,
    dest: Path,
    id_column: str,
    train_rows: Iterable[Mapping[str, str]],
    hidden_rows: Iterable[tuple[bool, Mapping[str, str], str]],
) -> int:
    """Put the rows' files into the agent's copy `dest`; returns the number of files placed.

    `train_rows`: the D_train rows, placed under their own names. `hidden_rows`: (from the
    competition's test set?, row, opaque id) for every hidden row, placed by the test patterns under
    the opaque id; a labelled row's files are read by the train patterns.
    """
    placed = 0
    with ArchiveMembers(public, dest) as archives:

        def place(source: str, target: str, original_id: str, opaque_id: str | None, pattern: str) -> int:
            if split_archive(source) is None and split_archive(target) is None:
                return _place(public / source, dest / target, original_id, opaque_id, pattern)
            data = archives.read(source)
            if data is None:
                raise RowFilesError(
                    f"the file {source} of row {original_id!r} (row_files pattern {pattern!r}) is missing "
                    "under prepared/public; fix the pattern in task.yaml or restore the file"
                )
            archives.write(target, data)
            return 1

        for row in train_rows:
            for pattern in row_files.train:
                name = fill(pattern, row)
                placed += place(name, name, row[id_column], None, pattern)
        for from_test, row, opaque in hidden_rows:
            renamed = {**row, id_column: opaque}
            sources = row_files.test if from_test else row_files.train
            for source_pattern, target_pattern in zip(sources, row_files.test, strict=True):
                source, target = fill(source_pattern, row), fill(target_pattern, renamed)
                placed += place(source, target, row[id_column], opaque, source_pattern)
    return placed


def copy_public_files(names: Iterable[str], public: Path, dest: Path) -> None:
    """Copy the task's other public files (a class map, a readme) into the agent's copy as they are."""
    for name in names:
        source = public / name
        if source.is_dir():
            for path in sorted(source.rglob("*")):
                if path.is_file():
                    place_file(path, dest / name / path.relative_to(source))
        elif source.is_file():
            place_file(source, dest / name)
        else:
            raise RowFilesError(f"public_files names {name!r}, which prepared/public lacks; fix task.yaml")


def copy_train_tables(tables: Mapping[str, str], public: Path, dest: Path, train_ids: set[str]) -> None:
    """Copy each public CSV that holds more rows about the labelled rows (ranzcr's annotations, keyed
    by the row's id in the named column), keeping only the D_train rows' lines; read in chunks."""
    for name, key in tables.items():
        source, target = public / name, dest / name
        if not source.is_file():
            raise RowFilesError(f"train_tables names {name!r}, which prepared/public lacks; fix task.yaml")
        target.parent.mkdir(parents=True, exist_ok=True)
        header = True
        with target.open("w", newline="", encoding="utf-8") as out:
            chunks = pd.read_csv(source, dtype=str, keep_default_na=False, chunksize=1 << 16)
            for chunk in chunks:
                if key not in chunk.columns:
                    raise RowFilesError(
                        f"{source} has no column {key!r} (train_tables' key); it has "
                        f"{list(chunk.columns)[:10]}"
                    )
                chunk[chunk[key].isin(train_ids)].to_csv(out, index=False, header=header)
                header = False
