"""HCE for uw-madison-gi-tract-image-segmentation: MRI scans in slices, three organs as RLE masks.

mle-bench's prepare.py writes, under prepared/public, `train.csv` (id, class, segmentation: one row per
slice and organ class, `large_bowel`, `small_bowel`, `stomach`; ids `case<N>_day<D>_slice_<SSSS>`),
`test.csv` (id, class), `sample_submission.csv` (id, class, predicted) and the scans as PNGs in
`train/` and `test/`, at `<case>/<case>_<day>/scans/slice_<SSSS>_<width>_<height>_<pw>_<ph>.png`; the
answers `prepared/private/test.csv` add `predicted` (the RLE, empty for no organ) and the image's
width and height, read off the scan's file name.

The unit HCE splits is the case (a patient), every day and slice of it in one split. prepare.py's test
set is 10% of the cases whole plus the days after the fourth of the other cases; D_search and D_val
hold whole cases only, which is stricter: a patient's scans look alike from day to day, so a patient
on both sides would flatter the hidden score. Each hidden case gets an opaque case number per split,
above every real case number, so no hidden folder shares a name with a case of `train/`; the day and
slice numbers are kept, since the grader stacks a case-day's slices in id order and a scan's file
name carries its size. Rows of the submission are keyed by (id, class) (`key_columns`); the grade is
mle-bench's 0.4 x Dice + 0.6 x (1 - Hausdorff per case-day); standard errors resample whole cases.
"""

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation._opaque import opaque_ids, opaque_key, split_key
from evaluation.grading import read_sample
from evaluation.hce import HiddenConsistentEvaluation, _read_text
from evaluation.prepared_tables import read_prepared
from evaluation.row_files import place_file
from evaluation.scoring import SCORED_SPLITS
from evaluation.split_store import saved_split
from evaluation.splits import group_split
from evaluation.task import Task, TaskError

ID, CLASS, SEGMENTATION, PREDICTED = "id", "class", "segmentation", "predicted"
WIDTH, HEIGHT = "image_width", "image_height"
SLICE_ID = re.compile(r"(?P<case>case(?P<number>\d+))_(?P<day>day\d+)_slice_(?P<slice>\d+)")
SCAN = re.compile(r"slice_(?P<slice>\d+)_(?P<width>\d+)_(?P<height>\d+)_[^/]*\.png")

_NOTE = """

## Note on this copy of the task

`train.csv` holds the labelled slices available to you, their scans in `train/`. The masks of the
slices of `test.csv` are hidden and their case numbers are opaque: a hidden case-day's scans are in
`test/case<N>/case<N>_day<D>/scans/`, where N is a number no case of `train/` has (a patient's cases
are not linked). Predict `predicted` (an RLE, empty for no organ) for every (id, class) row of
`test.csv` and write a submission with exactly the columns of `sample_submission.csv`.
"""


def _read_table(path: Path, columns: list[str]) -> pd.DataFrame:
    return read_prepared(path, columns, "uw-madison-gi-tract-image-segmentation")


def _case(slice_id: str) -> str:
    return slice_id.split("_", 1)[0]


def index_scans(folder: Path) -> dict[str, Path]:
    """The scan of each slice id under `folder` (`<case>/<case>_<day>/scans/slice_<SSSS>_....png`)."""
    scans: dict[str, Path] = {}
    for root, _, names in os.walk(folder):
        here = Path(root)
        if here.name != "scans":
            continue
        for name in names:
            found = SCAN.fullmatch(name)
            if found is not None:
                scans[f"{here.parent.name}_slice_{found['slice']}"] = here / name
    return scans


class GiTractHCE(HiddenConsistentEvaluation):
    """HCE whose unit is a case (a patient's scans over days) and whose rows are (slice, organ)."""

    folds_hidden = True  # hce.enabled=false: its copy is written from _split alone

    def __init__(
        self, task: Task, split_seed: int, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    ) -> None:
        self._start(task, split_seed, fractions)
        train = _read_table(task.train_csv, [ID, CLASS, SEGMENTATION])
        test = _read_table(task.test_csv, [ID, CLASS])
        answers = _read_table(task.answers_csv, [ID, CLASS, PREDICTED, WIDTH, HEIGHT])
        for path, table in ((task.train_csv, train), (task.test_csv, test), (task.answers_csv, answers)):
            self._check_rows(path, table)
        unanswered = set(zip(test[ID], test[CLASS], strict=True)) ^ set(
            zip(answers[ID], answers[CLASS], strict=True)
        )
        if unanswered:
            raise TaskError(
                f"{task.answers_csv} and {task.test_csv} disagree on {len(unanswered)} (id, class) row(s) "
                f"(e.g. {sorted(unanswered)[0]}); every test row needs one answer"
            )
        public = task.public_dir
        self._scans = {"train": index_scans(public / "train"), "test": index_scans(public / "test")}
        for side, table, path in (("train", train, task.train_csv), ("test", test, task.test_csv)):
            unscanned = sorted(set(table[ID]) - set(self._scans[side]))
            if unscanned:
                raise TaskError(
                    f"{path} lists slice {unscanned[0]!r} (and {len(unscanned) - 1} more) with no scan "
                    f"{side}/<case>/<case>_<day>/scans/slice_<n>_<width>_<height>_....png in {public}"
                )
        self._train, self._test = train, test
        slices = list(pd.unique(train[ID]))
        self._split = saved_split(task, split_seed, fractions, lambda: self._case_split(slices))
        self._split["test"] = list(pd.unique(test[ID]))
        self._sample_text = _read_text(task.sample_submission_csv)
        self._sample = read_sample(task.sample_submission_csv, self._id, self.metric)
        self._name_cases([*train[ID], *test[ID]])
        self._answers = {name: self._labelled_answers(name) for name in ("search", "val")}
        test_slices = set(self._split["test"])
        self._answers["test"] = answers[answers[ID].isin(test_slices)][
            [ID, CLASS, PREDICTED, WIDTH, HEIGHT]
        ].reset_index(drop=True)
        self._scorer = None

    def _check_rows(self, path: Path, table: pd.DataFrame) -> None:
        bad = [i for i in table[ID] if SLICE_ID.fullmatch(i) is None]
        if bad:
            raise TaskError(f"{path}: id {bad[0]!r} is not of the form case<N>_day<D>_slice_<SSSS>")
        repeated = table.duplicated([ID, CLASS])
        if repeated.any():
            row = table[repeated].iloc[0]
            raise TaskError(
                f"{path} has the row ({row[ID]!r}, {row[CLASS]!r}) twice; (id, class) must be unique"
            )

    def _case_split(self, slices: list[str]) -> dict[str, list[str]]:
        try:
            key = split_key(self.split_seed, self.task.answers_csv)
            return group_split(slices, [_case(s) for s in slices], key, self.fractions)
        except ValueError as e:
            raise TaskError(f"{self.task.train_csv}: {e}") from None

    def _name_cases(self, every_slice: list[str]) -> None:
        """An opaque case number per (split, case) of the hidden slices, in the order of a keyed hash,
        above every real case number; each hidden slice's id with its case renamed."""
        units = sorted({(name, _case(s)) for name in SCORED_SPLITS for s in self._split[name]})
        keyed = opaque_ids(opaque_key(self.split_seed, self.task.answers_csv), units)
        first = 1 + max(int(SLICE_ID.fullmatch(s)["number"]) for s in every_slice)  # type: ignore[index]
        ordered = sorted(units, key=keyed.__getitem__)
        self._case_opaque = {unit: f"case{first + k}" for k, unit in enumerate(ordered)}
        self._opaque = {
            (name, s): self._case_opaque[(name, _case(s))] + s[len(_case(s)) :]
            for name in SCORED_SPLITS
            for s in self._split[name]
        }

    def _labelled_answers(self, name: str) -> pd.DataFrame:
        """The answers of D_search or D_val: train.csv's masks, each scan's size from its file name."""
        rows = self._train[self._train[ID].isin(set(self._split[name]))]
        sizes = {s: SCAN.fullmatch(self._scans["train"][s].name) for s in self._split[name]}
        return pd.DataFrame(
            {
                ID: rows[ID].to_numpy(),
                CLASS: rows[CLASS].to_numpy(),
                PREDICTED: rows[SEGMENTATION].to_numpy(),
                WIDTH: [int(sizes[s]["width"]) for s in rows[ID]],  # type: ignore[index]
                HEIGHT: [int(sizes[s]["height"]) for s in rows[ID]],  # type: ignore[index]
            }
        )

    def _groups(self) -> dict[str, np.ndarray | None]:
        """Each answer row's case, so standard errors resample whole patients."""
        return {name: self._answers[name][ID].map(_case).to_numpy() for name in SCORED_SPLITS}

    def _hidden_table(self, splits: tuple[str, ...]) -> pd.DataFrame:
        """test.csv of a copy: the (id, class) rows of the hidden slices under their opaque ids, sorted
        by id (a keyed shuffle of the cases), each slice's classes in the competition's order."""
        parts = []
        for name in splits:
            source = self._test if name == "test" else self._train
            rows = source[source[ID].isin(set(self._split[name]))][[ID, CLASS]].copy()
            rows[ID] = [self._opaque[(name, s)] for s in rows[ID]]
            parts.append(rows)
        return pd.concat(parts).sort_values(ID, kind="stable").reset_index(drop=True)

    def _write(self, dest: Path, labelled: list[str], hidden: tuple[str, ...]) -> None:
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        description = self.task.description_md.read_text(encoding="utf-8").rstrip()
        (dest / "description.md").write_text(description + _NOTE, encoding="utf-8")
        shown = set(labelled)
        self._train[self._train[ID].isin(shown)].to_csv(dest / "train.csv", index=False)
        test = self._hidden_table(hidden)
        test.to_csv(dest / "test.csv", index=False)
        first = self._sample_text[PREDICTED].iloc[0] if len(self._sample_text) else ""
        test.assign(**{PREDICTED: first}).to_csv(dest / self.task.spec.sample_file, index=False)
        train_scans = self._scans["train"]
        for s in labelled:
            scan = train_scans[s]
            place_file(scan, dest / "train" / scan.relative_to(self.task.public_dir / "train"))
        for name in hidden:
            scans = self._scans["test" if name == "test" else "train"]
            for s in self._split[name]:
                opaque = self._opaque[(name, s)]
                case_day = opaque.split("_slice_")[0]
                target = dest / "test" / _case(opaque) / case_day / "scans" / scans[s].name
                place_file(scans[s], target)

    def write_public(self, dest: Path) -> None:
        """The agent's copy as prepare.py lays it out: D_train's slices in train.csv and train/, every
        hidden slice in test.csv and test/ under its opaque case, the sample submission."""
        self._write(dest, self._split["train"], SCORED_SPLITS)

    def write_refit(self, dest: Path) -> None:
        """The refit's copy: every labelled slice in train.csv and train/, the D_test slices in test/."""
        labelled = [s for name in ("train", "search", "val") for s in self._split[name]]
        self._write(dest, labelled, ("test",))
