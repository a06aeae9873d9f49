"""HCE for mlsp-2013-birds: bird species in audio recordings, labels in a text file, scored per pair.

mle-bench's prepare.py writes `essential_data/` with `CVfolds_2.txt` (rec_id, fold: 1 for its test
recordings), `rec_id2filename.txt` (rec_id, filename), `rec_labels_test_hidden.txt` (one line per
recording: `rec_id,species,...`, `rec_id` alone for none, `rec_id,?` for a test one),
`species_list.txt` and `src_wavs/<filename>.wav`; `supplemental_data/` with four folders of
`<filename>.bmp` spectrograms and segmentations, two overview images and three tables whose lines
start with a rec_id (`histogram_of_segments.txt`, `segment_features.txt`, `segment_rectangles.txt`).
A submission row is a (recording, species) pair: `Id` = rec_id * 100 + species, `Probability`; the
answers `prepared/private/answers.csv` hold 0 or 1 per pair of each test recording.

The unit HCE splits is the recording (its 19 pairs stay together). The agent's copy has the same files:
D_train's recordings keep their filenames, labels and features; every hidden recording (D_search,
D_val, D_test) is marked `?`, has fold 1, and its files and table lines are under an opaque filename
(`r` + 10 hex digits, in place of the site and time the real names carry). Recordings are numbered
afresh: D_train's first in their order, then the hidden ones in the order of a keyed hash, so a number
says nothing of a hidden recording's split or origin.
"""

import shutil
from pathlib import Path

import pandas as pd

from evaluation._opaque import opaque_ids, opaque_key
from evaluation.grading import read_sample
from evaluation.hce import HiddenConsistentEvaluation
from evaluation.row_files import copy_public_files
from evaluation.scoring import SCORED_SPLITS
from evaluation.split_store import saved_split
from evaluation.splits import hce_split
from evaluation.task import Task, TaskError

SPECIES = 19
ESSENTIAL, SUPPLEMENTAL = "essential_data", "supplemental_data"
FOLDS, NAMES, LABELS = "CVfolds_2.txt", "rec_id2filename.txt", "rec_labels_test_hidden.txt"
TABLES = ("histogram_of_segments.txt", "segment_features.txt", "segment_rectangles.txt")
IMAGE_FOLDERS = ("filtered_spectrograms", "segmentation_examples", "spectrograms", "supervised_segmentation")
OVERVIEWS = ("segment_clusters.bmp", "segment_mosaic.bmp")

_NOTE = """

## Note on this copy of the task

The labels of the recordings marked `?` in `essential_data/rec_labels_test_hidden.txt` (fold 1 in
`CVfolds_2.txt`) are hidden and their filenames are opaque. Predict every `Id` (rec_id * 100 +
species) of `sample_submission.csv` and write a submission with exactly its columns.
"""


def _lines(path: Path) -> tuple[str, list[str]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise TaskError(
            f"{path} is not readable ({e}); prepare mlsp-2013-birds again with mlebench"
        ) from None
    if not lines:
        raise TaskError(f"{path} is empty")
    return lines[0], [line for line in lines[1:] if line.strip()]


def _first(line: str) -> str:
    return line.split(",", 1)[0].strip()


class MlspBirdsHCE(HiddenConsistentEvaluation):
    """HCE whose unit is a recording and whose scored rows are its 19 (recording, species) pairs."""

    folds_hidden = True  # hce.enabled=false: its copy is written from _split alone

    def __init__(
        self, task: Task, split_seed: int, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    ) -> None:
        self._start(task, split_seed, fractions)
        essential = task.public_dir / ESSENTIAL
        folds = pd.read_csv(essential / FOLDS, dtype=str)
        names = pd.read_csv(essential / NAMES, dtype=str)
        if list(folds.columns) != ["rec_id", "fold"] or list(names.columns) != ["rec_id", "filename"]:
            raise TaskError(
                f"{essential}: {FOLDS} and {NAMES} must have the columns rec_id,fold and rec_id,filename"
            )
        self._filename = dict(zip(names["rec_id"], names["filename"], strict=True))
        self._labels_header, label_lines = _lines(essential / LABELS)
        labels: dict[str, set[int]] = {}
        for line in label_lines:
            rec, *species = [part.strip() for part in line.split(",")]
            if species != ["?"]:
                labels[rec] = {int(s) for s in species if s}
        test = [rec for rec, fold in zip(folds["rec_id"], folds["fold"], strict=True) if fold.strip() == "1"]
        labelled = [rec for rec in folds["rec_id"] if rec in labels]
        missing = [rec for rec in [*labelled, *test] if rec not in self._filename]
        if missing:
            raise TaskError(f"{essential / NAMES} has no filename for rec_id {missing[0]}")
        self._order = list(folds["rec_id"])
        self._split = saved_split(task, split_seed, fractions, lambda: self._recording_split(labelled))
        self._split["test"] = test
        self._sample = read_sample(task.sample_submission_csv, self._id, self.metric)
        self._sample_text = pd.read_csv(task.sample_submission_csv, dtype=str, keep_default_na=False)
        answers = pd.read_csv(task.answers_csv, dtype=str)
        self._answers = {
            "test": answers.assign(**{self._targets[0]: pd.to_numeric(answers[self._targets[0]])})
        }
        for name in ("search", "val"):
            pairs = [
                (int(rec) * 100 + s, int(s in labels[rec]))
                for rec in self._split[name]
                for s in range(SPECIES)
            ]
            self._answers[name] = pd.DataFrame(
                {self._id: [str(i) for i, _ in pairs], self._targets[0]: [y for _, y in pairs]}
            )
        self._number_recordings()
        expected = {original for (name, original) in self._opaque if name == "test"}
        if set(self._answers["test"][self._id]) != expected:
            raise TaskError(
                f"{task.answers_csv} does not hold exactly the 19 pairs of each fold-1 recording of {FOLDS}"
            )
        self._labels = labels
        self._scorer = None

    def _number_recordings(self) -> None:
        """Each recording's number and name in the copies: D_train's keep their order and come first,
        the hidden ones follow in keyed order, under opaque names."""
        units = [(name, rec) for name in SCORED_SPLITS for rec in self._split[name]]
        keyed = opaque_ids(opaque_key(self.split_seed, self.task.answers_csv), units)
        self._number = {rec: str(k) for k, rec in enumerate(self._split["train"])}
        start = len(self._split["train"])
        self._unit_opaque = {u: str(start + k) for k, u in enumerate(sorted(units, key=keyed.__getitem__))}
        self._hidden_name = {u: keyed[u] for u in units}
        self._opaque = {
            (name, str(int(rec) * 100 + s)): str(int(self._unit_opaque[(name, rec)]) * 100 + s)
            for name, rec in units
            for s in range(SPECIES)
        }

    def fold_hidden_into_train(self) -> None:
        """hce.enabled=false: every labelled recording is D_train's, under its own number and name;
        the test recordings are numbered after them."""
        super().fold_hidden_into_train()
        self._number_recordings()

    def _recording_split(self, recordings: list[str]) -> dict[str, list[str]]:
        try:
            return hce_split(recordings, None, self.split_seed, self.fractions)
        except ValueError as e:
            raise TaskError(f"{self.task.public_dir / ESSENTIAL / LABELS}: {e}") from None

    def _write(self, dest: Path, splits: tuple[str, ...], labelled: tuple[str, ...]) -> None:
        """The copy with the recordings of `splits`, the labels of those of `labelled` shown. A
        recording has one number and name in every copy: D_train's its own, the others opaque."""
        dest = Path(dest)
        public = self.task.public_dir
        number: dict[str, str] = {}
        name: dict[str, str] = {}
        for split in splits:
            for rec in self._split[split]:
                unit = (split, rec)
                number[rec] = self._number[rec] if split == "train" else self._unit_opaque[unit]
                name[rec] = self._filename[rec] if split == "train" else self._hidden_name[unit]
        shown = sorted(number, key=lambda r: int(number[r]))
        is_train = {rec for split in labelled for rec in self._split[split]}
        ordered = [(split, rec) for split in splits if split not in labelled for rec in self._split[split]]
        ordered.sort(key=lambda u: int(number[u[1]]))
        (dest / ESSENTIAL).mkdir(parents=True, exist_ok=True)
        (dest / SUPPLEMENTAL).mkdir(parents=True, exist_ok=True)
        description = self.task.description_md.read_text(encoding="utf-8").rstrip()
        (dest / "description.md").write_text(description + _NOTE, encoding="utf-8")
        folds = pd.DataFrame(
            {"rec_id": [number[r] for r in shown], "fold": [0 if r in is_train else 1 for r in shown]}
        )
        folds.to_csv(dest / ESSENTIAL / FOLDS, index=False)
        pd.DataFrame({"rec_id": [number[r] for r in shown], "filename": [name[r] for r in shown]}).to_csv(
            dest / ESSENTIAL / NAMES, index=False
        )
        lines = [self._labels_header]
        for rec in shown:
            if rec not in is_train:
                lines.append(f"{number[rec]},?")
            else:
                species = ",".join(str(s) for s in sorted(self._labels[rec]))
                lines.append(f"{number[rec]},{species}" if species else number[rec])
        (dest / ESSENTIAL / LABELS).write_text("\n".join(lines) + "\n", encoding="utf-8")
        copy_public_files(
            [f"{ESSENTIAL}/species_list.txt", *(f"{SUPPLEMENTAL}/{o}" for o in OVERVIEWS)], public, dest
        )
        for table in TABLES:
            header, rows = _lines(public / SUPPLEMENTAL / table)
            kept = [f"{number[_first(r)]},{r.split(',', 1)[1]}" for r in rows if _first(r) in number]
            (dest / SUPPLEMENTAL / table).write_text("\n".join([header, *kept]) + "\n", encoding="utf-8")
        for rec in shown:
            self._link(
                public / ESSENTIAL / "src_wavs" / f"{self._filename[rec]}.wav",
                dest / ESSENTIAL / "src_wavs" / f"{name[rec]}.wav",
                True,
            )
            for folder in IMAGE_FOLDERS:
                source = public / SUPPLEMENTAL / folder / f"{self._filename[rec]}.bmp"
                # segmentation_examples has a few recordings only, as in the competition.
                self._link(
                    source,
                    dest / SUPPLEMENTAL / folder / f"{name[rec]}.bmp",
                    folder != "segmentation_examples",
                )
        ids = [str(int(number[rec]) * 100 + s) for _, rec in ordered for s in range(SPECIES)]
        self._write_sample(dest, pd.DataFrame({self._id: ids}))

    @staticmethod
    def _link(source: Path, target: Path, required: bool) -> None:
        if not source.is_file():
            if required:
                raise TaskError(f"{source} is missing; prepare mlsp-2013-birds again with mlebench")
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        try:
            target.hardlink_to(source)
        except OSError:
            shutil.copyfile(source, target)

    def write_public(self, dest: Path) -> None:
        """The agent's copy as prepare.py lays it out: D_train's recordings as they are, every hidden
        one marked `?` under an opaque filename and a fresh number."""
        self._write(dest, ("train", *SCORED_SPLITS), ("train",))

    def write_refit(self, dest: Path) -> None:
        """The refit's copy: every labelled recording with its labels, the D_test ones hidden."""
        self._write(dest, ("train", *SCORED_SPLITS), ("train", "search", "val"))
