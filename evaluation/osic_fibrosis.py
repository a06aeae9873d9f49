"""HCE for osic-pulmonary-fibrosis-progression: patients' FVC measurements, forecast for every week.

mle-bench's prepare.py holds out whole patients: `train.csv` keeps every measurement (Patient, Weeks,
FVC, ...) of the others, `test.csv` only each held-out patient's first one, `sample_submission.csv`
one `Patient_Week` row per held-out patient and week of the test set's week range, and the answers
(`prepared/private/test.csv`) that grid with the FVC measured (NaN elsewhere); the CT scans lie in
`train/<Patient>/` and `test/<Patient>/`.

The unit HCE splits is the patient, kept whole, for the same reason: a patient's measurements are one
time series. A hidden patient (D_search, D_val or the test set) appears in the agent's `test.csv` by
its first measurement, with an opaque id, its scans in `test/<opaque id>/`, and its weeks as
`<opaque id>_<week>` over one week range shared by every hidden patient (so the range says nothing
about the split). A week measured twice is answered by the mean of its FVCs.
"""

from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from evaluation._opaque import opaque_ids, opaque_key
from evaluation.grading import numeric_answer_columns, read_sample
from evaluation.hce import HiddenConsistentEvaluation, typed_answers
from evaluation.row_files import RowFiles, place_row_files
from evaluation.scoring import SCORED_SPLITS
from evaluation.split_store import saved_split
from evaluation.splits import hce_split
from evaluation.task import Task, TaskError

PATIENT, WEEKS, FVC, CONFIDENCE, PATIENT_WEEK = "Patient", "Weeks", "FVC", "Confidence", "Patient_Week"
SCANS = RowFiles(train=["train/{Patient}"], test=["test/{Patient}"])

_NOTE = """

## Note on this copy of the task

`train.csv` holds every measurement of the patients available to you, their scans in `train/`.
`test.csv` holds the first measurement of each patient to predict, under an opaque id, their scans in
`test/<id>/`; forecast every `<id>_<week>` of `sample_submission.csv`, with exactly its columns.
"""


def _read(path: Path, columns: list[str]) -> pd.DataFrame:
    table = pd.read_csv(path, dtype={PATIENT: str})
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise TaskError(
            f"{path} lacks the column(s) {missing} that osic-pulmonary-fibrosis-progression's prepare.py "
            "writes; prepare it again with `mlebench prepare -c osic-pulmonary-fibrosis-progression`"
        )
    return table


def week_grid(patients: pd.DataFrame, weeks: range) -> pd.DataFrame:
    """Patient, Patient_Week, FVC (mean per measured week, NaN elsewhere), Confidence 100 for every
    patient of `patients` (its measurements) and every week of `weeks`, as prepare.py's answers."""
    measured = patients.groupby([PATIENT, WEEKS])[FVC].mean()
    grid = pd.MultiIndex.from_product([list(dict.fromkeys(patients[PATIENT])), list(weeks)])
    fvc = measured.reindex(grid)
    return pd.DataFrame(
        {
            PATIENT: grid.get_level_values(0),
            PATIENT_WEEK: [f"{p}_{w}" for p, w in grid],
            FVC: fvc.to_numpy(dtype=float),
            CONFIDENCE: 100.0,
        }
    )


class OsicFibrosisHCE(HiddenConsistentEvaluation):
    """HCE whose unit is a patient of train.csv and whose scored rows are the patient's weeks."""

    folds_hidden = True  # hce.enabled=false: its copy is written from _split alone

    def __init__(
        self, task: Task, split_seed: int, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    ) -> None:
        self._start(task, split_seed, fractions)
        spec = task.spec
        self._train = _read(task.train_csv, [PATIENT, WEEKS, FVC])
        self._test = _read(task.test_csv, [PATIENT, WEEKS])
        answers = _read(task.answers_csv, [PATIENT, WEEKS, PATIENT_WEEK, FVC])
        patients = list(dict.fromkeys(self._train[PATIENT]))
        self._split = saved_split(task, split_seed, fractions, lambda: self._split_patients(patients))
        self._split["test"] = list(dict.fromkeys(self._test[PATIENT]))
        unanswered = set(self._split["test"]) - set(answers[PATIENT])
        if unanswered:
            raise TaskError(f"{task.answers_csv} has no week of test patient(s) {sorted(unanswered)[:3]}")
        hidden = self._train[self._train[PATIENT].isin(set(self._split["search"]) | set(self._split["val"]))]
        all_weeks = pd.concat([hidden[WEEKS], answers[WEEKS]]).astype(int)
        self._weeks = range(int(all_weeks.min()), int(all_weeks.max()) + 1)
        self._sample = read_sample(task.sample_submission_csv, self._id, self.metric)
        typed = numeric_answer_columns(spec, self.metric)
        measured = {"search": self._train, "val": self._train, "test": answers.dropna(subset=[FVC])}
        self._answers = {
            name: typed_answers(
                week_grid(rows[rows[PATIENT].isin(set(self._split[name]))], self._weeks), typed
            )
            for name, rows in measured.items()
        }
        units = [(name, p) for name in SCORED_SPLITS for p in self._split[name]]
        self._unit_opaque = opaque_ids(opaque_key(split_seed, task.answers_csv), units)
        self._opaque = {
            (name, f"{p}_{w}"): f"{self._unit_opaque[(name, p)]}_{w}"
            for name, p in units
            for w in self._weeks
        }
        self._scorer = None

    def _split_patients(self, patients: list[str]) -> dict[str, list[str]]:
        try:
            return hce_split(patients, None, self.split_seed, self.fractions)
        except ValueError as e:
            raise TaskError(f"{self.task.train_csv}: {e}") from None

    def _first_measurements(self) -> pd.DataFrame:
        """Each hidden patient's first measurement (the test set's from test.csv), opaque ids, sorted."""
        parts = []
        for name in SCORED_SPLITS:
            source = self._test if name == "test" else self._train
            rows = source[source[PATIENT].isin(set(self._split[name]))]
            first = rows.sort_values(WEEKS, kind="stable").groupby(PATIENT, sort=False).head(1).copy()
            first[PATIENT] = [self._unit_opaque[(name, p)] for p in first[PATIENT]]
            parts.append(first[list(self._test.columns)])
        return pd.concat(parts).sort_values(PATIENT).reset_index(drop=True)

    def _hidden_patients(self) -> Iterator[tuple[bool, dict[str, str], str]]:
        for name in SCORED_SPLITS:
            for p in self._split[name]:
                yield name == "test", {PATIENT: p}, self._unit_opaque[(name, p)]

    def write_public(self, dest: Path) -> None:
        """The agent's copy as prepare.py lays it out: train.csv and train/<Patient>/ of D_train, the
        hidden patients' first measurements in test.csv and scans in test/<opaque id>/, and
        sample_submission.csv over their weeks."""
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        description = self.task.description_md.read_text(encoding="utf-8").rstrip()
        (dest / "description.md").write_text(description + _NOTE, encoding="utf-8")
        train = self._train[self._train[PATIENT].isin(set(self._split["train"]))]
        train.to_csv(dest / "train.csv", index=False)
        test = self._first_measurements()
        test.to_csv(dest / "test.csv", index=False)
        first = self._sample.iloc[0]
        ids = [f"{p}_{w}" for p in test[PATIENT] for w in self._weeks]
        sample = pd.DataFrame({self._id: ids, **{c: first[c] for c in self._targets}})
        sample.to_csv(dest / "sample_submission.csv", index=False)
        train_patients = ({PATIENT: p} for p in self._split["train"])
        place_row_files(SCANS, self.task.public_dir, dest, PATIENT, train_patients, self._hidden_patients())

    def write_refit(self, dest: Path) -> None:
        """The refit's copy: every labelled patient in train.csv and train/, the D_test patients in
        test.csv and test/ (their opaque ids) and the sample over their weeks."""
        self._write_folded(dest)
