"""HCE for a labelled table too large to hold (new-york-city-taxi-fare-prediction: 55M rows, 5.7 GB).

The table is read in chunks of lines, never whole. A row's split is a keyed hash of its id (a
vectorised SipHash, keyed by the evaluator's secret): D_search and D_val each take their fraction of
the rows, at most `max_hidden_rows` each (task.yaml), and only those rows are held, as text. The
agent's copy of the table is written by streaming the original's lines and dropping the hidden ones,
byte for byte; the refit's is the original file (a hard link). The test inputs, the sample and the
scoring are the table HCE's (evaluation/hce.py), on the hidden rows and the competition's test rows.

The lines are parsed with the CSV's own quoting, but a chunk must end at a line's end: a quoted cell
holding a newline is refused (the taxi table has none). A repeated id hashes alike, so all its rows
land in one split: a hidden row's id is never in the agent's table.
"""

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from evaluation._opaque import opaque_ids, opaque_key, split_key
from evaluation.grading import numeric_answer_columns, read_sample
from evaluation.hce import HiddenConsistentEvaluation, _read_text, typed_answers
from evaluation.rendering import render_uniformly
from evaluation.row_files import copy_public_files, place_file
from evaluation.scoring import SCORED_SPLITS
from evaluation.task import Task, TaskError

# Lines parsed at a time: ~100 MB of taxi rows, a few hundred MB once parsed as text.
CHUNK_LINES = 1_000_000


def _lines(path: Path) -> Iterator[tuple[bytes, list[bytes]]]:
    """(the header line, the next chunk of data lines) of a CSV, each line with its newline."""
    with path.open("rb") as f:
        header = f.readline()
        chunk: list[bytes] = []
        for line in f:
            chunk.append(line)
            if len(chunk) == CHUNK_LINES:
                yield header, chunk
                chunk = []
        if chunk:
            yield header, chunk


def count_rows(path: Path) -> int:
    """The data lines of a CSV (its newlines, less the header's, plus a last line without one)."""
    newlines, last = 0, b"\n"
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            newlines += block.count(b"\n")
            last = block[-1:]
    return max(0, newlines - 1 + (last != b"\n"))


def _names(header: bytes) -> list[str]:
    return list(pa_csv.read_csv(io.BytesIO(header)).column_names)


def _parse(header: bytes, lines: list[bytes], path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """A chunk of lines as text cells (only `columns`, when given), one row per line (a cell spanning
    lines is refused)."""
    names = columns or _names(header)
    data = header + b"".join(lines if lines[-1].endswith(b"\n") else [*lines[:-1], lines[-1] + b"\n"])
    try:
        table = pa_csv.read_csv(
            io.BytesIO(data),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                include_columns=names,
            ),
        )
    except pa.ArrowInvalid as e:
        raise TaskError(
            f"{path} is not a CSV the streamed-table layout reads ({e}); a quoted cell spans lines, or a "
            "row has more or fewer cells than the header"
        ) from None
    if table.num_rows != len(lines):
        raise TaskError(
            f"{path}: {len(lines)} lines read as {table.num_rows} rows; a quoted cell spans lines or a "
            "line is blank, which the streamed-table layout does not read"
        )
    return table.to_pandas()


class StreamedTableHCE(HiddenConsistentEvaluation):
    """The table HCE with its labelled table streamed: only the hidden rows are held."""

    def __init__(
        self,
        task: Task,
        split_seed: int,
        fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
        hidden_split: bool = True,
    ) -> None:
        """`hidden_split=False`: the ablation "no HCE", every labelled row in the agent's table."""
        self._start(task, split_seed, fractions)
        spec = task.spec
        if not task.train_csv.is_file():
            raise TaskError(f"{task.train_csv} is missing; the task's prepare.py writes it")
        rows = count_rows(task.train_csv)
        cap = spec.max_hidden_rows or rows
        shares = (min(fractions[1], cap / rows), min(fractions[2], cap / rows)) if rows else (0.0, 0.0)
        self._shares = shares if hidden_split else (0.0, 0.0)
        secret = split_key(split_seed, task.answers_csv)
        self._hash_key = base64.b64encode(secret).decode()[:16]
        hidden = []
        with task.train_csv.open("rb") as f:
            if self._id not in _names(f.readline()):
                raise TaskError(f"{task.train_csv} lacks its id column {self._id!r}")
        for header, lines in _lines(task.train_csv) if hidden_split else ():
            # The ids alone first; the few hidden rows' every cell after.
            place = self._place(_parse(header, lines, task.train_csv, [self._id])[self._id])
            picked = np.flatnonzero(place > 0)
            if len(picked):
                cells = _parse(header, [lines[i] for i in picked], task.train_csv)
                hidden.append(cells.assign(_split=place[picked]))
        if hidden:
            table = pd.concat(hidden, ignore_index=True)
        else:  # no row read (hce.enabled=false): the table's columns, no rows
            with task.train_csv.open("rb") as f:
                names = _names(f.readline())
            table = pd.DataFrame(columns=[*names, "_split"], dtype=str)
        search = table[table["_split"] == 1].drop(columns="_split")
        val = table[table["_split"] == 2].drop(columns="_split")
        if hidden_split and (search.empty or val.empty):
            raise TaskError(
                f"{task.train_csv}: {rows} labelled row(s) leave D_search or D_val empty; the task needs "
                "more rows"
            )
        # A repeated id hashes alike, so its rows share a split: one repeated among the hidden rows is
        # all there is to check (no D_train row can hold a hidden row's id).
        hidden_rows = pd.concat([search, val])
        repeated = hidden_rows[self._id].duplicated()
        if repeated.any():
            raise TaskError(f"{task.train_csv} has the id {hidden_rows[self._id][repeated].iloc[0]!r} twice")
        answers = _read_text(task.answers_csv)
        test_inputs = _read_text(task.test_csv)
        self._repeated_train = hidden_rows.iloc[:0]
        self._check_inputs(hidden_rows, test_inputs, answers)
        self._split = {
            "train": [],  # not held: every row of the table that is neither in D_search nor in D_val
            "search": list(search[self._id]),
            "val": list(val[self._id]),
            "test": list(test_inputs[self._id]),
        }
        self._train_text = hidden_rows.set_index(self._id, drop=False)
        self._test_text = test_inputs.set_index(self._id, drop=False)
        self._sample_text = _read_text(task.sample_submission_csv)
        self._sample = read_sample(task.sample_submission_csv, self._id, self.metric)
        kept = [self._id, *spec.answer_targets, *spec.hidden_columns]
        numeric = numeric_answer_columns(spec, self.metric)
        answers_text = answers.set_index(self._id, drop=False)
        self._answers = {
            name: typed_answers(source.loc[self._split[name], kept], numeric)
            for name, source in (
                ("search", self._train_text),
                ("val", self._train_text),
                ("test", answers_text),
            )
        }
        self._opaque = opaque_ids(
            opaque_key(split_seed, task.answers_csv),
            [(name, i) for name in SCORED_SPLITS for i in self._split[name]],
        )
        self._scorer = None

    def _place(self, ids: pd.Series) -> np.ndarray:
        """0 (D_train), 1 (D_search) or 2 (D_val) per id, from its keyed hash."""
        share = pd.util.hash_array(ids.to_numpy(dtype=object), hash_key=self._hash_key) / 2.0**64
        return np.where(share < self._shares[0], 1, np.where(share < sum(self._shares), 2, 0))

    def _copy_train(self, target: Path) -> None:
        """The table's lines of D_train rows, byte for byte, header included."""
        with target.open("wb") as out:
            first = True
            for header, lines in _lines(self.task.train_csv):
                if first:
                    out.write(header)
                    first = False
                place = self._place(_parse(header, lines, self.task.train_csv, [self._id])[self._id])
                out.writelines(line for line, p in zip(lines, place, strict=True) if p == 0)

    def _write_common(self, dest: Path) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        description = self.task.description_md.read_text(encoding="utf-8").rstrip() + self._note()
        (dest / "description.md").write_text(description, encoding="utf-8")
        copy_public_files(self.task.spec.public_files, self.task.public_dir, dest)

    def write_public(self, dest: Path) -> None:
        """The agent's copy: the table without its hidden rows, test.csv with every hidden row's inputs
        and the competition's test rows under opaque ids, the sample submission."""
        dest = Path(dest)
        self._write_common(dest)
        self._copy_train(dest / self.task.spec.train_file)
        test = self._public_test()
        test.to_csv(dest / self.task.spec.test_file, index=False)
        self._write_sample(dest, test)

    def write_refit(self, dest: Path) -> None:
        """The refit's copy: the whole table (every labelled row), the competition's test rows alone."""
        dest = Path(dest)
        self._write_common(dest)
        place_file(self.task.train_csv, dest / self.task.spec.train_file)
        columns = self._test_columns()
        test = self._test_text.loc[self._split["test"], columns].reset_index(drop=True)
        test[self._id] = [self._opaque[("test", i)] for i in self._split["test"]]
        test = render_uniformly(test, [c for c in columns if c != self._id])
        test.to_csv(dest / self.task.spec.test_file, index=False)
        self._write_sample(dest, test)
