"""Hidden Consistent Evaluation: one fixed split, an agent-visible copy, and scores on hidden rows."""

import contextlib
import copy
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaluation._opaque import opaque_ids, opaque_key, split_key
from evaluation.class_labels import class_indicators, unknown_classes
from evaluation.grading import numeric_answer_columns, read_sample
from evaluation.metrics import get_metric
from evaluation.prepared_tables import read_text as _read_text  # as text: a copy reproduces every cell
from evaluation.rendering import render_uniformly
from evaluation.row_files import copy_public_files, copy_train_tables, place_row_files, row_files_note
from evaluation.scores import Scores
from evaluation.scoring import SCORED_SPLITS, HCEScorer
from evaluation.split_store import saved_split
from evaluation.splits import MAX_CLASSES_TO_STRATIFY, group_split, hce_split, time_split
from evaluation.task import Task, TaskError
from evaluation.unseen_labels import relabel_unseen

_PUBLIC_NOTE = """

## Note on this copy of the task

The labels of the rows of `{test}` are hidden{opaque}. Predict every row of
`{test}` and write a submission with exactly the columns of `{sample}`, one row per id.
`{train}` holds the labelled rows available to you.
"""


def _text_row(row: pd.Series) -> dict[str, str]:
    return {str(column): str(value) for column, value in row.items()}


def typed_answers(table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Target columns as numbers when every non-empty cell is one, so metrics compare 3 and 3.0 equal;
    an empty cell of such a column is missing (NaN), as pandas reads it from the answers file."""
    table = table.reset_index(drop=True)
    for column in columns:
        cells = table[column]
        empty = cells == ""
        if empty.all():
            continue
        with contextlib.suppress(ValueError, TypeError):
            table[column] = pd.to_numeric(cells.mask(empty))
    return table


def _times(cells: pd.Series) -> list[Any]:
    """The cells of a time column (text) as comparable values: numbers when every cell is one, else
    timestamps; ValueError naming the column when a cell is neither."""
    numbers = pd.to_numeric(cells, errors="coerce")
    if numbers.notna().all():
        return list(numbers)
    try:
        stamps = pd.to_datetime(cells, format="mixed")
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"time column {cells.name!r} holds a cell that is neither a number nor a date ({e})"
        ) from None
    if stamps.isna().any():
        raise ValueError(f"time column {cells.name!r} has empty cells; every labelled row needs its time")
    return list(stamps)


class HiddenConsistentEvaluation:
    """The evaluator of one task: splits train.csv once and scores submissions on hidden rows.

    The labels of D_search, D_val and the competition test set stay in this object's memory only.
    """

    # Whether the agent's copy gets train.csv and test.csv (not where the rows are files named by
    # their label, evaluation/file_labels.py: the files are the whole copy).
    writes_tables = True
    # Whether a layout's adapter has the ablation "no HCE" (hce.enabled=false) by folding its D_search
    # and D_val units into D_train once split (`fold_hidden_into_train`); the table HCE has its own.
    folds_hidden = False
    _folded = False  # whether `fold_hidden_into_train` ran

    def _start(self, task: Task, split_seed: int, fractions: tuple[float, float, float]) -> None:
        """What every HCE (and each layout's adapter) holds: the task, the split's seed and fractions,
        the metric, the id and target columns; ValueError for bad fractions."""
        if len(fractions) != 3 or any(f <= 0 for f in fractions) or not math.isclose(sum(fractions), 1):
            raise ValueError(f"fractions must be three positive numbers summing to 1, got {fractions}")
        self.task, self.split_seed, self.fractions = task, split_seed, fractions
        self.metric = get_metric(task.spec.metric)
        self._id = task.spec.id_column
        # What keys a row: the id column, or `row_key` where the submission's ids repeat (hms).
        self._row_key = task.spec.row_key or self._id
        self._targets = list(task.spec.target_columns)

    def __init__(
        self,
        task: Task,
        split_seed: int,
        fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
        hidden_split: bool = True,
    ) -> None:
        """`hidden_split=False` is the ablation "no HCE" (hce.enabled=false): D_search and D_val are
        empty, every labelled row is in the agent's train.csv and only the competition's test rows
        are scored."""
        self._start(task, split_seed, fractions)
        spec = task.spec

        answers = _read_text(task.answers_csv)
        train, test_inputs = self._read_rows(answers)
        # A text repeated as the id of several labelled rows cannot be a hidden row (it would be two
        # answers under one id): those rows stay in D_train, all of them.
        self._repeated_train = train.iloc[:0]
        if spec.keep_ids:
            repeated = train[self._row_key].duplicated(keep=False)
            self._repeated_train, train = train[repeated], train[~repeated]
        self._check_inputs(train, test_inputs, answers)
        if hidden_split:
            self._split = saved_split(task, split_seed, fractions, lambda: self._new_split(train))
        else:
            self._split = {"train": list(train[self._row_key]), "search": [], "val": []}
        self._split["test"] = list(test_inputs[self._row_key])

        self._train_text = train.set_index(self._row_key, drop=False)
        self._test_text = test_inputs.set_index(self._row_key, drop=False)
        self._sample_text = _read_text(task.sample_submission_csv)
        self._sample = read_sample(task.sample_submission_csv, self._id, self.metric)
        answers_text = answers.set_index(self._row_key, drop=False)
        kept = [self._row_key, *spec.answer_targets, *spec.hidden_columns]
        labelled = self._labelled_train(self._train_text)
        # The scorer reads each answer's row key under the id column's name (they differ for hms only).
        self._answers = {
            name: typed_answers(
                source.loc[self._split[name], kept].rename(columns={self._row_key: self._id}),
                numeric_answer_columns(spec, self.metric),
            )
            for name, source in (
                ("search", labelled),
                ("val", labelled),
                ("test", answers_text),
            )
        }
        if spec.unseen_label is not None:
            seen = set(labelled.loc[self._split["train"], self._targets[0]])
            self._answers = {
                name: relabel_unseen(table, self._targets[0], seen, spec.unseen_label)
                for name, table in self._answers.items()
            }
        rows = [(name, row_id) for name in SCORED_SPLITS for row_id in self._split[name]]
        if spec.keep_ids:  # the id is the input itself: opaque names would hide the data
            self._opaque = {row: row[1] for row in rows}
        else:
            self._opaque = opaque_ids(opaque_key(split_seed, task.answers_csv), rows)
        self._scorer: HCEScorer | None = None

    def _read_rows(self, answers: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The labelled rows and the competition's test inputs, as text, given the answers file's
        table (a layout's adapter that builds them from other files overrides this)."""
        train = _read_text(self.task.train_csv)
        test_inputs = _read_text(self.task.test_csv)
        if self.task.test_is_sample:  # no test CSV: the test rows are the sample's ids, with no input
            test_inputs = test_inputs[[self._id]]
        if self._row_key != self._id:  # the test rows as the answers key them, with test.csv's columns
            columns = [c for c in test_inputs.columns if c in answers.columns]
            test_inputs = answers[[*columns, *([self._row_key] if self._row_key not in columns else [])]]
        return train, test_inputs

    def _check_inputs(self, train: pd.DataFrame, test_inputs: pd.DataFrame, answers: pd.DataFrame) -> None:
        tables = (
            (self.task.train_csv, train),
            (self.task.test_csv, test_inputs),
            (self.task.answers_csv, answers),
        )
        for path, table in tables:
            duplicated = table[self._row_key].duplicated()
            if duplicated.any():
                raise TaskError(
                    f"{path} has {int(duplicated.sum())} duplicate value(s) in its id column "
                    f"{self._row_key!r} "
                    f"(e.g. {table[self._row_key][duplicated].iloc[0]!r}); ids must be unique"
                )
        unanswered = set(test_inputs[self._row_key]) - set(answers[self._row_key])
        if unanswered:
            raise TaskError(
                f"{self.task.answers_csv} has no answer for {len(unanswered)} id(s) of {self.task.test_csv} "
                f"(e.g. {sorted(unanswered)[0]!r}); every test row needs one"
            )
        not_in_train = [c for c in test_inputs.columns if c not in train.columns]
        if not_in_train:
            raise TaskError(
                f"{self.task.test_csv} has column(s) {not_in_train} that {self.task.train_csv} lacks; "
                f"HCE builds test inputs from training rows, so every input column must be in both"
            )

    def _labelled_train(self, train: pd.DataFrame) -> pd.DataFrame:
        """train.csv with the submission's target columns: a class column one-hot encoded when the task
        has one (`label_column`), else as it is; answer columns it names otherwise (`train_columns`)
        under the answers' names."""
        renamed = {a: train[t] for a, t in self.task.spec.train_columns.items()}
        train = train.assign(**renamed) if renamed else train
        label = self.task.spec.label_column
        if label is None:
            return train
        separator = self.task.spec.label_separator
        unknown = unknown_classes(train[label], self._targets, separator)
        if unknown:
            raise TaskError(
                f"{self.task.train_csv}: class(es) {unknown[:5]} of {label!r} have no probability column in "
                f"{self.task.sample_submission_csv} (it has {self._targets[:5]}...); fix label_column or "
                "target_columns in task.yaml"
            )
        one_hot = class_indicators(train[label], self._targets, separator)
        rest = train.drop(columns=[c for c in self._targets if c in train.columns])
        return pd.concat([rest, one_hot], axis=1)

    def _new_split(self, train: pd.DataFrame) -> dict[str, list[str]]:
        ids = list(train[self._row_key])
        group, time = self.task.spec.group_column, self.task.spec.time_column
        try:
            if group is not None:
                key = split_key(self.split_seed, self.task.answers_csv)
                return group_split(ids, list(train[group]), key, self.fractions)
            if time is not None:
                key = split_key(self.split_seed, self.task.answers_csv)
                return time_split(ids, _times(train[time]), key, self.fractions)
            return hce_split(ids, self._strata(train), self.split_seed, self.fractions)
        except ValueError as e:
            raise TaskError(f"{self.task.train_csv}: {e}") from None

    def _strata(self, train: pd.DataFrame) -> list[str] | None:
        """The class labels to stratify on: a single target with few distinct values, else None."""
        label = self.task.spec.label_column
        if label is None and (len(self._targets) != 1 or not self.task.spec.targets_in_answers):
            return None
        labels = list(train[label or self._targets[0]])
        return labels if len(set(labels)) <= MAX_CLASSES_TO_STRATIFY else None

    def fold_hidden_into_train(self) -> None:
        """The ablation "no HCE" for a layout's adapter: every labelled unit in D_train (and so in the
        agent's copy, labels included), D_search and D_val empty; only the competition's test rows
        are scored. For adapters whose copy is written from `_split` alone (`folds_hidden`)."""
        # Reassigned, never changed in place: `_write_folded` folds a shallow copy of this object.
        labelled = [*self._split["train"], *self._split["search"], *self._split["val"]]
        self._split = {**self._split, "train": labelled, "search": [], "val": []}
        self._answers = {name: t if name == "test" else t.iloc[:0] for name, t in self._answers.items()}
        self._scorer = None
        self._folded = True

    def _write_folded(self, dest: Path) -> None:
        """The refit's copy for an adapter whose copy is written from its split alone: the agent's
        copy of a folded twin (every labelled unit with its labels, the D_test units alone hidden,
        under the opaque ids the agent saw). This object's split and answers are left as they are."""
        folded = copy.copy(self)
        folded.fold_hidden_into_train()
        folded.write_public(dest)

    def split_ids(self) -> dict[str, list[str]]:
        """The original ids of D_train, D_search, D_val and the competition test set."""
        return {name: list(ids) for name, ids in self._split.items()}

    def card(self) -> dict[str, Any]:
        """What a prompt may say about the task."""
        spec = self.task.spec
        return {
            "name": spec.name,
            "metric": spec.metric,
            "lower_is_better": self.task.lower_is_better,
            "id_column": spec.id_column,
            "target_columns": list(spec.target_columns),
            "key_columns": list(spec.key_columns),
        }

    def _public_test(self) -> pd.DataFrame:
        """Inputs of D_search, D_val and D_test under opaque ids, in an order that reveals nothing."""
        columns = self._test_columns()
        parts = []
        for name in SCORED_SPLITS:
            source = self._test_text if name == "test" else self._train_text
            rows = source.loc[self._split[name], columns].copy()
            rows[self._id] = [self._opaque[(name, row_id)] for row_id in self._split[name]]
            parts.append(rows)
        # Sorting by the opaque id is a keyed shuffle: stable, and unrelated to split or source row.
        table = pd.concat(parts).reset_index(drop=True).sort_values(self._id).reset_index(drop=True)
        # D_test rows come from test.csv, the others from train.csv: one rendering for all of them.
        return render_uniformly(table, [c for c in columns if c != self._id])

    def _test_columns(self) -> list[str]:
        """The columns of the agent's test rows: the test inputs' (their row key only if it is the id)."""
        dropped = {*self._targets, *([self._row_key] if self._row_key != self._id else [])}
        return [c for c in self._test_text.columns if c not in dropped]

    def write_public(self, dest: Path) -> None:
        """Write the agent's copy of the task: description.md, the labelled rows (train.csv, or the
        task's train_file), the test inputs (test.csv, or its test_file) and the sample submission.

        No file holds a label of a D_search, D_val or test row. Other files already in `dest` are left
        alone, so give it a directory of its own.
        """
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        description = self.task.description_md.read_text(encoding="utf-8").rstrip() + self._note()
        (dest / "description.md").write_text(description, encoding="utf-8")
        train_rows = pd.concat([self._train_text.loc[self._split["train"]], self._repeated_train])
        test = self._public_test()
        self._write_tables(dest, train_rows, test)
        self._write_sample(dest, test)
        spec, public = self.task.spec, self.task.public_dir
        copy_public_files(spec.public_files, public, dest)
        copy_train_tables(spec.train_tables, public, dest, set(self._split["train"]))
        if spec.row_files is not None:
            train_records = (_text_row(row) for _, row in train_rows.iterrows())
            place_row_files(spec.row_files, public, dest, self._id, train_records, self._hidden_rows())

    def _write_tables(self, dest: Path, train_rows: pd.DataFrame, test: pd.DataFrame) -> None:
        """The labelled rows and the test inputs under the competition's own file names (labels.csv,
        train_labels.csv, ...); no test table where the competition has none (its test rows are the
        sample submission's, written by `_write_sample`)."""
        if not self.writes_tables:
            return
        spec = self.task.spec
        train_rows.to_csv(dest / spec.train_file, index=False)
        if not self.task.test_is_sample:
            test.to_csv(dest / spec.test_file, index=False)

    def _note(self) -> str:
        """What the agent's description.md says of this copy, after the competition's own text."""
        spec = self.task.spec
        opaque = "" if spec.keep_ids else " and its ids are opaque"
        note = _PUBLIC_NOTE.format(
            sample=spec.sample_file, opaque=opaque, train=spec.train_file, test=spec.test_file
        )
        return note + ("" if spec.row_files is None else row_files_note(spec.row_files, spec.train_file))

    def _write_sample(self, dest: Path, test: pd.DataFrame) -> None:
        """The copy's sample submission, one row per row of its `test`: the original sample's first row
        repeated, the id and any column that is also a test input (insults' Date) taken from the row."""
        first = self._sample_text.iloc[0]
        sample = pd.DataFrame({c: [first[c]] * len(test) for c in self._sample_text.columns})
        for column in sample.columns:
            if column == self._id or (column in test.columns and column not in self._targets):
                sample[column] = test[column].to_numpy()
        sample.to_csv(dest / self.task.spec.sample_file, index=False)

    def write_refit(self, dest: Path) -> None:
        """Write the refit's copy of the task (evaluation/refit.py): every labelled row (D_train, D_search,
        D_val) with its labels in the train file, and the competition's test inputs alone in the test
        file, under the opaque ids the agent saw. No label of a D_test row is in it; agents never see it."""
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        description = self.task.description_md.read_text(encoding="utf-8").rstrip() + self._note()
        (dest / "description.md").write_text(description, encoding="utf-8")
        labelled = [i for name in ("train", "search", "val") for i in self._split[name]]
        train_rows = pd.concat([self._train_text.loc[labelled], self._repeated_train])
        columns = self._test_columns()
        test = self._test_text.loc[self._split["test"], columns].reset_index(drop=True)
        test[self._id] = [self._opaque[("test", row_id)] for row_id in self._split["test"]]
        test = render_uniformly(test, [c for c in columns if c != self._id])
        self._write_tables(dest, train_rows, test)
        self._write_sample(dest, test)
        spec, public = self.task.spec, self.task.public_dir
        copy_public_files(spec.public_files, public, dest)
        copy_train_tables(spec.train_tables, public, dest, set(labelled))
        if spec.row_files is not None:
            train_records = (_text_row(row) for _, row in train_rows.iterrows())
            test_rows = (
                (True, _text_row(row), self._opaque[("test", row_id)])
                for row_id, (_, row) in zip(
                    self._split["test"], self._test_text.loc[self._split["test"]].iterrows(), strict=True
                )
            )
            place_row_files(spec.row_files, public, dest, self._id, train_records, test_rows)

    def _hidden_rows(self) -> Iterator[tuple[bool, dict[str, str], str]]:
        """(from the competition's test set?, row, opaque id) of every D_search, D_val and D_test row."""
        for name in SCORED_SPLITS:
            source = self._test_text if name == "test" else self._train_text
            rows = source.loc[self._split[name]].iterrows()
            for row_id, (_, row) in zip(self._split[name], rows, strict=True):
                yield name == "test", _text_row(row), self._opaque[(name, row_id)]

    def scorer(self) -> HCEScorer:
        """What scoring needs of this evaluator (hidden answers included), small enough to send to a
        child process; built once."""
        if self._scorer is None:
            self._scorer = HCEScorer(
                self.task.spec, self.metric, self._sample, self._answers, self._opaque, self._groups()
            )
        return self._scorer

    def _groups(self) -> dict[str, np.ndarray | None]:
        """Each hidden row's group (the task's `group_column`), so standard errors resample whole groups;
        D_test is resampled by row when the competition's test inputs lack the column."""
        group = self.task.spec.group_column
        if group is None:
            return {}
        groups: dict[str, np.ndarray | None] = {}
        for name in SCORED_SPLITS:
            source = self._test_text if name == "test" else self._train_text
            groups[name] = source.loc[self._split[name], group].to_numpy() if group in source else None
        return groups

    def score(self, submission: bytes) -> Scores:
        """Scores of a submission on D_search, D_val and D_test; invalid (with a reason) for a bad one.

        Runs in this process, unbounded; the evaluator scores in a bounded child (evaluation/evaluator.py).
        """
        return self.scorer().score(submission)
