"""HCE for billion-word-imputation: sentences in a zipped text file, one word of each test one removed.

mle-bench's prepare.py streams Kaggle's 30M training sentences (one per line) and sends about 1% of
those with more than two words to its test set, removing one word (never the first or last) at
random: `test_v2.txt.zip` holds `"id","sentence"` rows with the word removed, `train_v2.txt.zip` the
other sentences, and the answers `prepared/private/test.csv` the whole sentences (so does its
`sample_submission.csv`, there too: the public folder has none).

The unit HCE splits is the sentence (the line). The file is streamed, never held whole: a sentence
of more than two words goes to D_search or D_val by a keyed uniform draw per line (in line order,
so the split is the same on every pass and resume); D_train's lines are copied into the agent's
`train_v2.txt.zip` as they stream by. A hidden sentence loses one inner word, drawn the same way,
and joins the test rows in the agent's `test_v2.txt.zip` under an opaque id. Only the hidden
sentences (a fifth of the file with the default fractions) are held in memory.
"""

import csv
import io
import itertools
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation._opaque import opaque_ids, opaque_key, split_key
from evaluation.grading import read_sample
from evaluation.hce import HiddenConsistentEvaluation
from evaluation.row_archives import member_info
from evaluation.scoring import SCORED_SPLITS
from evaluation.task import Task, TaskError

ID, SENTENCE = "id", "sentence"
_CHUNK = 1 << 16

_NOTE = """

## Note on this copy of the task

`train_v2.txt.zip` holds the training sentences available to you. The sentences of `test_v2.txt.zip`
each lack one word; their ids are opaque. Submit a CSV with the columns `id` and `sentence`, one row
per id of `test_v2.txt`, each sentence with its missing word put back.
"""


def _member(path: Path) -> str:
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
    if len(names) != 1:
        raise TaskError(f"{path} should hold one text file (prepare.py writes one), it holds {names[:3]}")
    return names[0]


def _lines(path: Path) -> Iterator[str]:
    """The lines of the one text file in a zip archive, streamed."""
    try:
        member = _member(path)
        with zipfile.ZipFile(path) as archive, archive.open(member) as raw:
            yield from io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
    except (OSError, zipfile.BadZipFile) as e:
        raise TaskError(
            f"{path} is not a readable zip archive ({e}); prepare the competition again"
        ) from None


def remove_word(sentence: str, draw: float) -> str:
    """The sentence without one inner word, the `draw`-th (0 <= draw < 1) of the words between the first
    and the last, as prepare.py removes one."""
    words = sentence.split()
    index = 1 + int(draw * (len(words) - 2))
    return " ".join(words[:index] + words[index + 1 :])


class BillionWordHCE(HiddenConsistentEvaluation):
    """HCE whose unit is a line of train_v2.txt and whose hidden inputs lack one word each."""

    folds_hidden = True  # hce.enabled=false: every line is D_train's (`_placed`)

    def __init__(
        self, task: Task, split_seed: int, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    ) -> None:
        self._start(task, split_seed, fractions)
        self._sample = read_sample(task.sample_submission_csv, self._id, self.metric)
        self._key = split_key(split_seed, task.answers_csv)
        answers = pd.read_csv(task.answers_csv, dtype=str, keep_default_na=False)
        test = pd.read_csv(io.StringIO("".join(_lines(task.test_csv))), dtype=str, keep_default_na=False)
        for path, table in ((task.answers_csv, answers), (task.test_csv, test)):
            if list(table.columns) != [ID, SENTENCE] or table[ID].duplicated().any():
                raise TaskError(f"{path}: expected the unique-id columns {ID!r}, {SENTENCE!r} of prepare.py")
        if set(test[ID]) != set(answers[ID]):
            raise TaskError(f"{task.test_csv} and {task.answers_csv} hold different ids; prepare again")
        hidden: dict[str, list[tuple[str, str, str]]] = {"search": [], "val": []}
        for line, (name, sentence, draw) in self._placed():
            if name != "train":
                hidden[name].append((str(line), sentence.strip(), remove_word(sentence, draw)))
        self._split = {name: [row[0] for row in rows] for name, rows in hidden.items()}
        self._split["test"] = list(test[ID])
        self._inputs = {name: [row[2] for row in rows] for name, rows in hidden.items()}
        self._inputs["test"] = list(test[SENTENCE])
        self._answers = {
            name: pd.DataFrame({ID: self._split[name], SENTENCE: [row[1] for row in rows]})
            for name, rows in hidden.items()
        }
        self._answers["test"] = (
            answers.set_index(ID, drop=False).loc[self._split["test"]].reset_index(drop=True)
        )
        units = [(name, i) for name in SCORED_SPLITS for i in self._split[name]]
        self._opaque = opaque_ids(opaque_key(split_seed, task.answers_csv), units)
        self._scorer = None

    def _placed(self) -> Iterator[tuple[int, tuple[str, str, float]]]:
        """(line number, (split, line, word draw)) of every line of train_v2.txt, in order."""
        search, val = self.fractions[1], self.fractions[1] + self.fractions[2]
        seed = int.from_bytes(self._key[:16], "big")
        places, words = np.random.default_rng([seed, 0]), np.random.default_rng([seed, 1])
        chunk: list[str] = []
        line_no = 0
        for line in itertools.chain(_lines(self.task.train_csv), [None]):
            if line is not None:
                chunk.append(line)
                if len(chunk) < _CHUNK:
                    continue
            place, draw = places.random(len(chunk)), words.random(len(chunk))
            for k, text in enumerate(chunk):
                long_enough = not self._folded and len(text.split()) > 2
                name = "train"
                if long_enough and place[k] < search:
                    name = "search"
                elif long_enough and place[k] < val:
                    name = "val"
                yield line_no, (name, text, float(draw[k]))
                line_no += 1
            chunk = []

    def fold_hidden_into_train(self) -> None:
        """hce.enabled=false: every line of train_v2.txt in the agent's copy, only the test set scored."""
        self._split = {**self._split, "search": [], "val": []}
        self._inputs = {**self._inputs, "search": [], "val": []}
        self._answers = {name: t if name == "test" else t.iloc[:0] for name, t in self._answers.items()}
        self._scorer = None
        self._folded = True

    def split_ids(self) -> dict[str, list[str]]:
        """The line numbers of D_train, D_search, D_val (read again for D_train) and the test set's ids."""
        train = [str(line) for line, (name, _, _) in self._placed() if name == "train"]
        return {"train": train, **{name: list(self._split[name]) for name in SCORED_SPLITS}}

    def write_public(self, dest: Path) -> None:
        """The agent's copy as prepare.py lays it out: train_v2.txt.zip (D_train's lines) and
        test_v2.txt.zip (every hidden sentence without its word, opaque ids, sorted by them)."""
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        description = self.task.description_md.read_text(encoding="utf-8").rstrip()
        (dest / "description.md").write_text(description + _NOTE, encoding="utf-8")
        member = _member(self.task.train_csv)
        with (
            zipfile.ZipFile(dest / self.task.train_csv.name, "w") as archive,
            # The fastest deflate: the copy is written once per run and read by the agent, not shipped.
            archive.open(member_info(member, level=1), "w", force_zip64=True) as raw,
            io.TextIOWrapper(raw, encoding="utf-8", newline="") as out,
        ):
            kept: list[str] = []
            for _, (name, text, _) in self._placed():
                if name == "train":
                    kept.append(text)
                if len(kept) >= _CHUNK:
                    out.write("".join(kept))
                    kept.clear()
            out.write("".join(kept))
        rows = sorted(
            (self._opaque[(name, i)], text)
            for name in SCORED_SPLITS
            for i, text in zip(self._split[name], self._inputs[name], strict=True)
        )
        buffer = io.StringIO()
        writer = csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
        writer.writerow([ID, SENTENCE])
        writer.writerows(rows)
        with zipfile.ZipFile(dest / self.task.test_csv.name, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(member_info(_member(self.task.test_csv)), buffer.getvalue())

    def write_refit(self, dest: Path) -> None:
        """The refit's copy: every line of train_v2.txt, the test set's sentences in test_v2.txt."""
        self._write_folded(dest)
