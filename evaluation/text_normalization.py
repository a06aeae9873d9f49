"""HCE for text-normalization-challenge (English and Russian): tokens of sentences, scored per token.

mle-bench's prepare.py writes, under prepared/public, `<lang>_train.csv.zip` (sentence_id, token_id,
class, before, after), `<lang>_test_2.csv.zip` (sentence_id, token_id, before) and
`<lang>_sample_submission_2.csv.zip` (id, after = before), every one a zip of the one CSV, quoted as
`csv.QUOTE_NONNUMERIC`; the answers `prepared/private/answers.csv` (id = `<sentence>_<token>`, after)
and the same sample as `prepared/private/sample_submission.csv`. Each file holds millions of rows.

The unit HCE splits is the sentence, kept whole, as prepare.py splits its test set: the tokens of one
sentence share their context, so a sentence cut across splits would hand the agent the normalised
neighbours of a hidden token. A hidden sentence appears in the agent's test file with the test file's
columns only and an opaque sentence id: a number, as the competition's are (the hidden sentences
numbered in the order of a keyed hash, which says nothing of their split or origin); its tokens'
ids are `<opaque sentence>_<token>`. Graded by exact string accuracy on `after`.
"""

import csv
import io
import zipfile
from pathlib import Path

import pandas as pd

from evaluation._opaque import opaque_ids, opaque_key
from evaluation.grading import read_sample
from evaluation.hce import HiddenConsistentEvaluation
from evaluation.row_archives import member_info
from evaluation.scoring import SCORED_SPLITS
from evaluation.split_store import saved_split
from evaluation.splits import hce_split
from evaluation.task import Task, TaskError

SENTENCE, TOKEN, BEFORE, AFTER, CLASS = "sentence_id", "token_id", "before", "after", "class"

_NOTE = """

## Note on this copy of the task

`{train}` holds the labelled sentences available to you. The normalised tokens of the sentences of
`{test}` are hidden and their sentence ids are opaque. Predict every id `<sentence_id>_<token_id>` of
`{sample}` and write a submission with exactly its columns, one row per token.
"""


def _read_zipped_csv(path: Path, columns: list[str]) -> pd.DataFrame:
    """A zip of one CSV, every cell as text (`"NaN"` or `"null"` are tokens, not missing values)."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, compression="zip")
    except (OSError, ValueError, zipfile.BadZipFile, UnicodeDecodeError) as e:
        raise TaskError(f"{path} is not a readable zipped CSV ({e})") from None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise TaskError(
            f"{path} lacks the column(s) {missing} that text-normalization's prepare.py writes; prepare the "
            "competition again with `mlebench prepare`"
        )
    return table


def _write_zipped_csv(table: pd.DataFrame, path: Path) -> None:
    """As prepare.py writes them: one CSV member named like the archive without `.zip`, strings quoted."""
    text = io.StringIO()
    table.to_csv(text, index=False, quotechar='"', quoting=csv.QUOTE_NONNUMERIC)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(member_info(path.name.removesuffix(".zip")), text.getvalue())


def token_ids(tokens: pd.DataFrame) -> pd.Series:
    return tokens[SENTENCE] + "_" + tokens[TOKEN]


class TextNormalizationHCE(HiddenConsistentEvaluation):
    """HCE whose unit is a sentence of the train file and whose scored rows are its tokens."""

    folds_hidden = True  # hce.enabled=false: its copy is written from _split alone

    def __init__(
        self, task: Task, split_seed: int, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    ) -> None:
        self._start(task, split_seed, fractions)
        train = _read_zipped_csv(task.train_csv, [SENTENCE, TOKEN, CLASS, BEFORE, AFTER])
        test = _read_zipped_csv(task.test_csv, [SENTENCE, TOKEN, BEFORE])
        self._train, self._test = train, test
        self._input_columns = list(test.columns)
        sentences = list(pd.unique(train[SENTENCE]))
        self._split = saved_split(task, split_seed, fractions, lambda: self._sentence_split(sentences))
        self._split["test"] = list(pd.unique(test[SENTENCE]))
        self._sample = read_sample(task.sample_submission_csv, self._id, self.metric)
        answers = pd.read_csv(task.answers_csv, dtype=str, keep_default_na=False)
        if self._id not in answers.columns or AFTER not in answers.columns:
            raise TaskError(f"{task.answers_csv} must have the columns {self._id!r} and {AFTER!r}")
        self._tokens: dict[str, pd.DataFrame] = {}
        self._answers = {}
        for name in SCORED_SPLITS:
            source = test if name == "test" else train
            tokens = source[source[SENTENCE].isin(set(self._split[name]))]
            self._tokens[name] = tokens
            if name == "test":
                self._answers[name] = answers[[self._id, AFTER]].reset_index(drop=True)
            else:
                self._answers[name] = pd.DataFrame(
                    {self._id: token_ids(tokens).to_numpy(), AFTER: tokens[AFTER].to_numpy()}
                )
        self._number_sentences()
        unanswered = set(self._answers["test"][self._id]) ^ set(token_ids(test))
        if unanswered:
            raise TaskError(
                f"{task.answers_csv} and {task.test_csv} disagree on {len(unanswered)} token(s) (e.g. "
                f"{sorted(unanswered)[0]!r}); every token of every test sentence needs one answer"
            )
        self._scorer = None

    def _sentence_split(self, sentences: list[str]) -> dict[str, list[str]]:
        try:
            return hce_split(sentences, None, self.split_seed, self.fractions)
        except ValueError as e:
            raise TaskError(f"{self.task.train_csv}: {e}") from None

    def _number_sentences(self) -> None:
        """The hidden sentences' numbers from 0, in the order of their keyed ids: as opaque as they,
        and shaped like the competition's; their tokens' ids `<number>_<token>`."""
        units = [(name, s) for name in SCORED_SPLITS for s in self._split[name]]
        keyed = opaque_ids(opaque_key(self.split_seed, self.task.answers_csv), units)
        self._unit_opaque = {unit: str(k) for k, unit in enumerate(sorted(units, key=keyed.__getitem__))}
        self._opaque = {}
        for name in SCORED_SPLITS:
            tokens = self._tokens[name]
            hidden = tokens[SENTENCE].map(lambda s, n=name: self._unit_opaque[(n, s)]) + "_" + tokens[TOKEN]
            self._opaque.update({(name, o): h for o, h in zip(token_ids(tokens), hidden, strict=True)})

    def fold_hidden_into_train(self) -> None:
        """hce.enabled=false: every labelled sentence in the train file; the test sentences numbered
        from 0 in the test file."""
        super().fold_hidden_into_train()
        self._tokens = {name: t if name == "test" else t.iloc[:0] for name, t in self._tokens.items()}
        self._number_sentences()

    def _hidden_tokens(self, splits: tuple[str, ...]) -> pd.DataFrame:
        parts = []
        for name in splits:
            tokens = self._tokens[name][self._input_columns].copy()
            tokens[SENTENCE] = tokens[SENTENCE].map(lambda s, n=name: self._unit_opaque[(n, s)])
            parts.append(tokens)
        table = pd.concat(parts, ignore_index=True)
        order = table[SENTENCE].astype(int) * 10_000 + table[TOKEN].astype(int)
        return table.iloc[order.argsort(kind="stable")].reset_index(drop=True)

    def _write(self, dest: Path, train_sentences: set[str], splits: tuple[str, ...]) -> None:
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        spec = self.task.spec
        public_sample = spec.train_file.split("_")[0] + "_sample_submission_2.csv.zip"
        note = _NOTE.format(train=spec.train_file, test=spec.test_file, sample=public_sample)
        description = self.task.description_md.read_text(encoding="utf-8").rstrip()
        (dest / "description.md").write_text(description + note, encoding="utf-8")
        _write_zipped_csv(self._train[self._train[SENTENCE].isin(train_sentences)], dest / spec.train_file)
        test = self._hidden_tokens(splits)
        _write_zipped_csv(test, dest / spec.test_file)
        sample = pd.DataFrame({self._id: token_ids(test), AFTER: test[BEFORE]})
        _write_zipped_csv(sample, dest / public_sample)

    def write_public(self, dest: Path) -> None:
        """The agent's copy as prepare.py lays it out: the train file (D_train's sentences), the test
        file (every hidden sentence, opaque ids) and the sample submission, each zipped."""
        self._write(dest, set(self._split["train"]), SCORED_SPLITS)

    def write_refit(self, dest: Path) -> None:
        """The refit's copy: every labelled sentence in the train file, the D_test sentences in the test."""
        labelled = {s for name in ("train", "search", "val") for s in self._split[name]}
        self._write(dest, labelled, ("test",))
