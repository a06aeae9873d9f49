"""HCE for smartphone-decimeter-2022: a phone's positions over a drive, from its raw GNSS and IMU logs.

mle-bench's prepare.py writes, under prepared/public, a folder per trip
`{train,test}/<drive>/<phone>/` (device_gnss.csv, device_imu.csv, supplemental/...; a drive is
`<YYYY-MM-DD>-<route>`, e.g. `2020-05-15-US-MTV-1`), `ground_truth.csv` (UnixTimeMillis,
LatitudeDegrees, LongitudeDegrees, ...) in the train trips only, `metadata/`, and
`sample_submission.csv` (tripId = `<drive>-<phone>`, UnixTimeMillis, LatitudeDegrees,
LongitudeDegrees: a row per reference epoch of a test trip); the answers `prepared/private/test.csv`
hold the test trips' reference positions in those columns.

The unit HCE splits is the date of a drive, as prepare.py split its test set (10% of the dates, every
drive and phone of one in one split): phones on one drive, and drives on one day, share a route and
a sky. A hidden trip keeps its folder's name: its logs carry the absolute time of every epoch, so
the date could not be hidden, and D_search and D_val are whole dates drawn by the evaluator's
secret, so the name does not tell them apart. A hidden trip's folder is copied without its reference
positions: `ground_truth.csv` and `supplemental/span_log.nmea`, the reference receiver's own log
(mle-bench's test folders keep the latter, which makes a perfect score trivial: openai/mle-bench#93).
Rows are keyed by (tripId, UnixTimeMillis) (`key_columns`); the grade is the competition's mean over
trips of the 50th and 95th percentile haversine errors; standard errors resample whole trips.
"""

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation._opaque import split_key
from evaluation.grading import read_sample
from evaluation.hce import HiddenConsistentEvaluation, typed_answers
from evaluation.prepared_tables import read_prepared
from evaluation.row_files import place_file
from evaluation.scoring import SCORED_SPLITS
from evaluation.splits import group_split
from evaluation.task import Task, TaskError

TRIP, TIME, LATITUDE, LONGITUDE = "tripId", "UnixTimeMillis", "LatitudeDegrees", "LongitudeDegrees"
COLUMNS = [TRIP, TIME, LATITUDE, LONGITUDE]
GROUND_TRUTH = "ground_truth.csv"
# The files of a trip that hold its reference positions, never in a hidden trip's folder (by name,
# in any case, anywhere in the folder).
REFERENCE_FILES = frozenset({GROUND_TRUTH, "span_log.nmea"})
DATE = re.compile(r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})(-|$)")

_NOTE = """

## Note on this copy of the task

`train/<drive>/<phone>/` holds the trips available to you, each with its reference positions in
`ground_truth.csv`. The positions of the trips in `test/<drive>/<phone>/` are hidden: their
`ground_truth.csv` and `supplemental/span_log.nmea` (the reference receiver's log) are not in this
copy. Predict `LatitudeDegrees` and `LongitudeDegrees` for every (`tripId`, `UnixTimeMillis`) row of
`sample_submission.csv` (`tripId` is `<drive>-<phone>`; write `UnixTimeMillis` as the integers given
there) and write a submission with exactly its columns.
"""


def drive_date(drive: str) -> str:
    """A drive's date, YYYY-MM-DD, as prepare.py reads it off the drive's name."""
    found = DATE.match(drive)
    if found is None:
        raise ValueError(f"drive {drive!r} does not start with a date YYYY-MM-DD")
    return f"{found['year']}-{int(found['month']):02d}-{int(found['day']):02d}"


def index_trips(folder: Path) -> dict[str, Path]:
    """The folder of each trip `<drive>-<phone>` under `folder` (`<drive>/<phone>/`)."""
    trips: dict[str, Path] = {}
    drives = sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    for drive in drives:
        for phone in sorted(p for p in drive.iterdir() if p.is_dir()):
            trips[f"{drive.name}-{phone.name}"] = phone
    return trips


def trip_files(trip: Path, hidden: bool) -> list[Path]:
    """A trip's files, relative to its folder; a hidden trip's without its reference positions."""
    files = []
    for root, _, names in os.walk(trip):
        for name in sorted(names):
            if not (hidden and name.lower() in REFERENCE_FILES):
                files.append((Path(root) / name).relative_to(trip))
    return sorted(files)


def _read_table(path: Path, columns: list[str]) -> pd.DataFrame:
    return read_prepared(path, columns, "smartphone-decimeter-2022")


class GnssTripsHCE(HiddenConsistentEvaluation):
    """HCE whose unit is a date of drives and whose rows are (trip, epoch)."""

    folds_hidden = True  # hce.enabled=false: its copy is written from _split alone

    def __init__(
        self, task: Task, split_seed: int, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    ) -> None:
        self._start(task, split_seed, fractions)
        public = task.public_dir
        self._trips = {side: index_trips(public / side) for side in ("train", "test")}
        if not self._trips["train"]:
            raise TaskError(f"{public / 'train'} holds no trip folder <drive>/<phone>/")
        self._labels = pd.concat(
            [self._ground_truth(trip, folder) for trip, folder in self._trips["train"].items()],
            ignore_index=True,
        )
        answers = _read_table(task.answers_csv, COLUMNS)
        sample = _read_table(task.sample_submission_csv, COLUMNS)
        checked = (
            (public / "train", self._labels),
            (task.answers_csv, answers),
            (task.sample_submission_csv, sample),
        )
        for path, table in checked:
            self._check_keys(path, table)
        unanswered = set(zip(sample[TRIP], sample[TIME], strict=True)) ^ set(
            zip(answers[TRIP], answers[TIME], strict=True)
        )
        if unanswered:
            raise TaskError(
                f"{task.answers_csv} and {task.sample_submission_csv} disagree on {len(unanswered)} "
                f"(tripId, UnixTimeMillis) row(s) (e.g. {sorted(unanswered)[0]}); every test row needs "
                "one answer"
            )
        unlogged = sorted(set(answers[TRIP]) - set(self._trips["test"]))
        if unlogged:
            raise TaskError(
                f"{task.answers_csv} has trip {unlogged[0]!r} (and {len(unlogged) - 1} more) with no folder "
                f"test/<drive>/<phone>/ in {public}"
            )
        trips = list(self._trips["train"])
        self._split = self._date_split(trips)
        self._split["test"] = list(pd.unique(answers[TRIP]))
        self._sample_text = sample
        self._sample = read_sample(task.sample_submission_csv, self._id, self.metric)
        self._answers = {
            name: typed_answers(
                self._labels[self._labels[TRIP].isin(set(self._split[name]))], [LATITUDE, LONGITUDE]
            )
            for name in ("search", "val")
        }
        self._answers["test"] = typed_answers(answers[COLUMNS], [LATITUDE, LONGITUDE])
        # A trip keeps its name (see the module's docstring): the opaque id of a row is its tripId.
        self._opaque = {(name, t): t for name in SCORED_SPLITS for t in self._split[name]}
        self._scorer = None

    def _ground_truth(self, trip: str, folder: Path) -> pd.DataFrame:
        path = folder / GROUND_TRUTH
        if not path.is_file():
            raise TaskError(
                f"train trip {trip!r} has no {GROUND_TRUTH} in {folder}; prepare.py keeps one per train trip"
            )
        table = _read_table(path, [TIME, LATITUDE, LONGITUDE])
        return table.assign(**{TRIP: trip})[COLUMNS]

    def _check_keys(self, path: Path, table: pd.DataFrame) -> None:
        repeated = table.duplicated([TRIP, TIME])
        if repeated.any():
            row = table[repeated].iloc[0]
            raise TaskError(
                f"{path} has the row ({row[TRIP]!r}, {row[TIME]!r}) twice; (tripId, UnixTimeMillis) must "
                "be unique"
            )

    def _date_split(self, trips: list[str]) -> dict[str, list[str]]:
        """The trips of D_train, D_search and D_val, every trip of a date in one split."""
        try:
            dates = [drive_date(self._trips["train"][t].parent.name) for t in trips]
            key = split_key(self.split_seed, self.task.answers_csv)
            return group_split(trips, dates, key, self.fractions)
        except ValueError as e:
            raise TaskError(f"{self.task.public_dir / 'train'}: {e}") from None

    def _groups(self) -> dict[str, np.ndarray | None]:
        """Each answer row's trip, so standard errors resample whole trips."""
        return {name: self._answers[name][TRIP].to_numpy() for name in SCORED_SPLITS}

    def _write(self, dest: Path, labelled: list[str], hidden: tuple[str, ...]) -> None:
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        description = self.task.description_md.read_text(encoding="utf-8").rstrip()
        (dest / "description.md").write_text(description + _NOTE, encoding="utf-8")
        public = self.task.public_dir
        for trip in labelled:
            folder = self._trips["train"][trip]
            for name in trip_files(folder, hidden=False):
                place_file(folder / name, dest / folder.relative_to(public) / name)
        rows = []
        for split in hidden:
            side = "test" if split == "test" else "train"
            for trip in self._split[split]:
                folder = self._trips[side][trip]
                target = dest / "test" / folder.parent.name / folder.name
                for name in trip_files(folder, hidden=True):
                    place_file(folder / name, target / name)
            rows.append(self._answers[split][[TRIP, TIME]].astype(str))
        first = self._sample_text.iloc[0] if len(self._sample_text) else None
        sample = pd.concat(rows).sort_values([TRIP], kind="stable")
        for column in (LATITUDE, LONGITUDE):
            sample[column] = "0" if first is None else first[column]
        sample[list(self._sample_text.columns)].to_csv(dest / self.task.spec.sample_file, index=False)
        metadata = public / "metadata"
        for root, _, file_names in os.walk(metadata):
            for file_name in file_names:
                source = Path(root) / file_name
                place_file(source, dest / source.relative_to(public))

    def write_public(self, dest: Path) -> None:
        """The agent's copy as prepare.py lays it out: D_train's trips in train/, every hidden trip in
        test/ without its reference positions, the sample's rows for them, metadata/."""
        self._write(dest, self._split["train"], SCORED_SPLITS)

    def write_refit(self, dest: Path) -> None:
        """The refit's copy: every labelled trip in train/, the D_test trips in test/."""
        labelled = [t for name in ("train", "search", "val") for t in self._split[name]]
        self._write(dest, labelled, ("test",))
