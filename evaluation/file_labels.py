"""HCE for competitions whose labelled rows are files named by their label, with no labels CSV.

dogs-vs-cats-redux-kernels-edition: prepare.py writes `train/` and `train.zip` of `cat.<k>.jpg` and
`dog.<k>.jpg`, the test images as `test/<id>.jpg` (and `test.zip`), answers `label` 1 for a dog.
the-icml-2013-whale-challenge-right-whale-redux: `train2.zip` holds `train2/<date>_<time>_..._TRAIN<k>_
<label>.aif`, `test2.zip` the test clips `test2/..._Test<k>.aif`, answers `probability` by `clip`.

task.yaml's `file_labels` says where the labelled files are listed and how a file name gives the row:

    file_labels:
      listing: train.zip            # a folder or archive (and a folder inside it) under prepared/public
      pattern: '^(?P<id>(?P<label>cat|dog)\\.\\d+)\\.jpg$'   # groups: id, label, optional group column
      labels: {cat: 0, dog: 1}      # the target value of each label in the name

Each listed file is one labelled row: its id and label (and, where the pattern names one, the group
that is kept whole: a whale recording's start time, so that its clips are not split) come from its
name. The rows' files are then placed by `row_files` as for any task: D_train's under their own
(labelled) names, the hidden rows' under opaque ids where the competition keeps its test files, so no
name in the agent's copy carries a hidden label. The copy has no train.csv or test.csv: the
competition has none either; the test rows are listed by the sample submission.
"""

import re
import zipfile
from pathlib import Path

import pandas as pd

from evaluation.hce import HiddenConsistentEvaluation
from evaluation.row_archives import split_archive
from evaluation.task import Task, TaskError

_NOTE = """

## Note on this copy of the task

The labels of the test files are hidden and their names are opaque: the test rows are the ids of
`{sample}`. The labelled files keep their names. Predict every row of `{sample}` and write a submission
with exactly its columns, one row per id.
"""


def listed_names(public: Path, listing: str) -> list[str]:
    """The file names directly inside `listing`: a folder, an archive, or a folder in an archive."""
    inside = split_archive(listing.rstrip("/") + "/x")
    if inside is None:
        folder = public / listing
        if not folder.is_dir():
            raise TaskError(f"{folder} is missing: file_labels.listing names where the labelled files are")
        return sorted(p.name for p in folder.iterdir() if p.is_file())
    archive, member = inside
    prefix = member[: -len("x")]
    try:
        with zipfile.ZipFile(public / archive) as z:
            members = z.namelist()
    except (OSError, zipfile.BadZipFile) as e:
        raise TaskError(f"{public / archive} is not a readable zip archive ({e})") from None
    names = [m[len(prefix) :] for m in members if m.startswith(prefix) and not m.endswith("/")]
    return sorted(n for n in names if "/" not in n)


class FileLabelsHCE(HiddenConsistentEvaluation):
    """HCE whose labelled rows are the files of a folder or archive, labelled by their names."""

    folds_hidden = True  # hce.enabled=false: its copy is written from _split alone

    writes_tables = False

    def __init__(
        self, task: Task, split_seed: int, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    ) -> None:
        spec = task.spec
        if spec.file_labels is None or spec.row_files is None:
            raise TaskError(
                f"{task.root / 'task.yaml'}: layout file-labels needs file_labels (where the labelled "
                "files are, how their names give id and label) and row_files (where each row's file is)"
            )
        super().__init__(task, split_seed, fractions)

    def _read_rows(self, answers: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        spec = self.task.spec
        assert spec.file_labels is not None
        labels = spec.file_labels
        try:
            pattern = re.compile(labels.pattern)
        except re.error as e:
            raise TaskError(
                f"{self.task.root / 'task.yaml'}: file_labels.pattern is not a regex ({e})"
            ) from None
        missing = {"id", "label"} - set(pattern.groupindex)
        if missing:
            raise TaskError(
                f"{self.task.root / 'task.yaml'}: file_labels.pattern lacks the named group(s) "
                f"{sorted(missing)}"
            )
        rows = []
        for name in listed_names(self.task.public_dir, labels.listing):
            match = pattern.fullmatch(name)
            if match is None:
                raise TaskError(
                    f"{self.task.public_dir / labels.listing}: the file {name!r} does not match "
                    f"file_labels.pattern {labels.pattern!r}; is this the competition's prepared data?"
                )
            if match["label"] not in labels.labels:
                raise TaskError(
                    f"{name!r}: label {match['label']!r} is not one of file_labels.labels "
                    f"({', '.join(labels.labels)})"
                )
            row = {self._id: match["id"], self._targets[0]: _text(labels.labels[match["label"]])}
            row.update({g: v for g, v in match.groupdict().items() if g not in ("id", "label")})
            rows.append(row)
        if not rows:
            raise TaskError(f"{self.task.public_dir / labels.listing} lists no labelled file")
        sample = pd.read_csv(self.task.sample_submission_csv, dtype=str, keep_default_na=False)
        return pd.DataFrame(rows), sample[[self._id]]

    def _note(self) -> str:
        return _NOTE.format(sample=self.task.spec.sample_file)


def _text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)
