"""HCE for tensorflow2-question-answering: Wikipedia pages with a question each, as JSON lines.

mle-bench's prepare.py writes `simplified-nq-train.jsonl` (one annotated example per line: example_id,
question_text, document_text, long_answer_candidates, annotations, document_url), the test examples
without their annotations (and URL) as `simplified-nq-test.jsonl`, `sample_submission.csv` with two
rows per test example (`<example_id>_long`, `<example_id>_short`, PredictionString empty) and the
answers `prepared/private/test.jsonl` (the test examples with their annotations).

The unit HCE splits is the example (a page and its question; its two rows stay together). The train
file is large (17 GB for Kaggle's 307k pages), so it is streamed, never held: each example goes to
D_search or D_val by a keyed uniform draw on its id (the same on every pass), D_train's lines are
copied into the agent's train file as they stream by, and only the hidden examples' right answers
are kept. A hidden example joins the agent's test file with the test file's fields and an opaque
example_id; the test file is ordered by opaque id (through on-disk buckets, so a fifth of the pages
never sits in memory at once), which says nothing of the split.
"""

import hashlib
import hmac
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from evaluation._opaque import opaque_ids, opaque_key, split_key
from evaluation.grading import read_sample
from evaluation.hce import HiddenConsistentEvaluation
from evaluation.qa_metrics import ID_COLUMN, answers_table, read_answers_jsonl
from evaluation.scoring import SCORED_SPLITS
from evaluation.task import Task, TaskError

TEST_FIELDS = ("example_id", "question_text", "document_text", "long_answer_candidates")
ROWS = ("long", "short")

_NOTE = """

## Note on this copy of the task

`{train}` holds the annotated examples available to you. The answers to the examples of `{test}` are
hidden and their example ids are opaque. Predict the rows `<example_id>_long` and `<example_id>_short`
of `{sample}` and write a submission with exactly its columns.
"""


def _examples(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(line, example) of a JSON-lines file, streamed."""
    try:
        with path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    example = json.loads(line)
                except json.JSONDecodeError as e:
                    raise TaskError(f"{path} line {number} is not JSON ({e})") from None
                if not isinstance(example, dict) or "example_id" not in example:
                    raise TaskError(f"{path} line {number} is not an example with an example_id")
                yield line if line.endswith("\n") else line + "\n", example
    except (OSError, UnicodeDecodeError) as e:
        raise TaskError(f"{path} is not a readable JSON-lines file ({e})") from None


class QuestionAnsweringHCE(HiddenConsistentEvaluation):
    """HCE whose unit is an example of the train file and whose scored rows are its long and short
    answers."""

    folds_hidden = True  # hce.enabled=false: the agent's copy is the refit's

    def __init__(
        self, task: Task, split_seed: int, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    ) -> None:
        self._start(task, split_seed, fractions)
        self._draw_key = split_key(split_seed, task.answers_csv)
        self._sample = read_sample(task.sample_submission_csv, self._id, self.metric)
        self._sample_text = self._sample.iloc[:1].astype(str)
        self._split: dict[str, list[str]] = {"train": [], "search": [], "val": []}
        hidden: dict[str, list[dict[str, Any]]] = {"search": [], "val": []}
        for _, example in _examples(task.train_csv):
            name = self._side(str(example["example_id"]))
            self._split[name].append(str(example["example_id"]))
            if name != "train":
                hidden[name].append(
                    {"example_id": example["example_id"], "annotations": example.get("annotations")}
                )
        self._split["test"] = [str(e["example_id"]) for _, e in _examples(task.test_csv)]
        try:
            self._answers = {name: answers_table(hidden[name]) for name in ("search", "val")}
            test = read_answers_jsonl(task.answers_csv)
        except ValueError as e:
            raise TaskError(f"{task.root}: {e}") from None
        expected = {f"{i}_{row}" for i in self._split["test"] for row in ROWS}
        if set(test[ID_COLUMN]) != expected:
            raise TaskError(f"{task.answers_csv} and {task.test_csv} hold different examples; prepare again")
        self._answers["test"] = test
        units = [(name, i) for name in SCORED_SPLITS for i in self._split[name]]
        self._unit_opaque = opaque_ids(opaque_key(split_seed, task.answers_csv), units)
        self._opaque = {
            (name, f"{i}_{row}"): f"{self._unit_opaque[(name, i)]}_{row}" for name, i in units for row in ROWS
        }
        self._scorer = None

    def _side(self, example_id: str) -> str:
        """D_train, D_search or D_val, by a keyed uniform draw on the example's id."""
        digest = hmac.new(self._draw_key, example_id.encode(), hashlib.sha256).digest()
        u = int.from_bytes(digest[:8], "big") / 2**64
        search, val = self.fractions[1], self.fractions[1] + self.fractions[2]
        return "search" if u < search else "val" if u < val else "train"

    def _write(self, dest: Path, labelled: tuple[str, ...], hidden: tuple[str, ...]) -> None:
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        spec = self.task.spec
        note = _NOTE.format(train=spec.train_file, test=spec.test_file, sample=spec.sample_file)
        description = self.task.description_md.read_text(encoding="utf-8").rstrip()
        (dest / "description.md").write_text(description + note, encoding="utf-8")
        with tempfile.TemporaryDirectory(dir=dest) as scratch:
            buckets = _Buckets(Path(scratch))
            with (dest / spec.train_file).open("w", encoding="utf-8") as train:
                for line, example in _examples(self.task.train_csv):
                    name = self._side(str(example["example_id"]))
                    if name in labelled:
                        train.write(line)
                    elif name in hidden:
                        buckets.add(self._hidden(example, name))
            if "test" in hidden:
                for _, example in _examples(self.task.test_csv):
                    buckets.add(self._hidden(example, "test"))
            ids = buckets.write(dest / spec.test_file)
        rows = [f"{i}_{row}" for i in ids for row in ROWS]
        self._write_sample(dest, pd.DataFrame({self._id: rows}))

    def _hidden(self, example: dict[str, Any], name: str) -> dict[str, Any]:
        record = {f: example[f] for f in TEST_FIELDS if f in example}
        record["example_id"] = self._unit_opaque[(name, str(example["example_id"]))]
        return record

    def write_public(self, dest: Path) -> None:
        """The agent's copy as prepare.py lays it out: the train file (D_train's examples as they are),
        the test file (every hidden example, the test fields, opaque ids) and the sample submission."""
        if self._folded:  # hce.enabled=false: no hidden labelled example
            self.write_refit(dest)
            return
        self._write(dest, ("train",), SCORED_SPLITS)

    def write_refit(self, dest: Path) -> None:
        """The refit's copy: every labelled example in the train file, the D_test examples in the test."""
        self._write(dest, ("train", "search", "val"), ("test",))


class _Buckets:
    """Hidden examples ordered by their opaque id on disk: 256 bucket files by the id's first two hex
    digits, each sorted in memory when written out."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._files: dict[str, Any] = {}

    def add(self, record: dict[str, Any]) -> None:
        prefix = str(record["example_id"])[1:3]
        if prefix not in self._files:
            self._files[prefix] = (self._folder / prefix).open("w", encoding="utf-8")
        self._files[prefix].write(json.dumps(record) + "\n")

    def write(self, target: Path) -> list[str]:
        ids: list[str] = []
        for f in self._files.values():
            f.close()
        with target.open("w", encoding="utf-8") as out:
            for prefix in sorted(self._files):
                lines = (self._folder / prefix).read_text(encoding="utf-8").splitlines()
                records = sorted((json.loads(line) for line in lines), key=lambda r: str(r["example_id"]))
                for record in records:
                    out.write(json.dumps(record) + "\n")
                    ids.append(str(record["example_id"]))
        return ids
