"""HCE for multi-modal-gesture-recognition: Kinect recordings in archives, a gesture sequence per sample.

mle-bench's prepare.py writes, under prepared/public, `training.csv` (Id, Sequence: the sample's
gestures, numbers 1-20 separated by spaces; Id the last four digits of the sample's name, `0300` for
`Sample00300`),
`training1.tar.gz` to `training3.tar.gz` (the labelled samples, one `Sample00300.zip` each, holding
`Sample00300_color.mp4`, `_depth.mp4`, `_user.mp4`, `_audio.wav` and `_data.mat`), `test.tar.gz` (the
test samples: the original training4.tar.gz), `test.csv` (Id), `randomPredictions.csv` (the sample
submission) and, as they are, the unlabelled validation archives and the other files; the answers
`prepared/private/test.csv` hold the test samples' sequences.

A sample's `_data.mat` holds a structure `Video` whose field `Labels` names every gesture with its
first and last frame: the answer itself. The competition gives it empty in its validation and test
samples; mle-bench's test.tar.gz is the labelled training4 unchanged, so its test labels are in the
agent's copy (openai/mle-bench#77). Here every hidden sample (D_search, D_val, D_test) has `Labels`
emptied (a 1x0 structure with the same fields), is renamed to a fresh number `Sample0NNNN` (above every
real sample number, and at least 1000, clear of the validation samples' numbers), inside its zip too,
and is packed into the copy's test.tar.gz; the training archives keep D_train's samples only. The
unit is the sample (a recording); the grade is the sum of the edit distances over the number of true
gestures.
"""

import contextlib
import functools
import gzip
import io
import re
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation._opaque import opaque_ids, opaque_key
from evaluation.grading import read_sample
from evaluation.hce import HiddenConsistentEvaluation, _read_text
from evaluation.prepared_tables import read_prepared
from evaluation.row_files import place_file
from evaluation.scoring import SCORED_SPLITS
from evaluation.split_store import saved_listing
from evaluation.splits import hce_split
from evaluation.task import Task, TaskError

ID, SEQUENCE = "Id", "Sequence"
TEST_ARCHIVE = "test.tar.gz"
TRAINING_ARCHIVE = re.compile(r"training\d+\.tar\.gz")
SAMPLE = re.compile(r"Sample0*(?P<number>\d{1,4})\.zip")
# Files of the agent's copy written here; every other file of prepared/public is copied as it is.
_WRITTEN = {"description.md", "training.csv", "test.csv", TEST_ARCHIVE}
FIRST_FRESH = 1000
# Compression of the rewritten archives: their videos are compressed already; level 1 is 5x faster.
_GZIP_LEVEL = 1

_NOTE = """

## Note on this copy of the task

`training.csv` and the `training*.tar.gz` archives hold the labelled samples available to you. The
sequences of the samples of `test.csv` are hidden: their zips are in `test.tar.gz` under new sample
numbers, and the `Labels` field of their `Video` structure is empty, as the competition gives it for
its validation and test samples. Predict `Sequence` (the gesture numbers in order, separated by
spaces) for every `Id` of `test.csv` and write a submission with exactly the columns of
`randomPredictions.csv`.
"""


def sample_name(number: str) -> str:
    """The zip's stem of a sample Id (`0300` -> `Sample00300`)."""
    return f"Sample0{int(number):04d}"


def empty_labels(mat: bytes) -> bytes:
    """The `_data.mat` with `Video.Labels` emptied (a 1x0 structure with its fields); ValueError if it
    has no such field, since then where its labels are is unknown."""
    from scipy.io import loadmat, savemat  # SciPy only where gesture archives are written

    data = {k: v for k, v in loadmat(io.BytesIO(mat)).items() if not k.startswith("__")}
    video = data.get("Video")
    if not isinstance(video, np.ndarray) or video.dtype.names is None or "Labels" not in video.dtype.names:
        raise ValueError("its _data.mat has no structure Video with a field Labels")
    video = video.copy()
    for index in np.ndindex(video.shape):
        labels = video["Labels"][index]
        fields = labels.dtype.names if isinstance(labels, np.ndarray) and labels.dtype.names else ("Name",)
        video["Labels"][index] = np.zeros((1, 0), dtype=[(f, object) for f in fields])
    data["Video"] = video
    out = io.BytesIO()
    savemat(out, data, do_compression=True)
    return out.getvalue()


def renamed_zip(data: bytes, old: str, new: str, hidden: bool) -> bytes:
    """A sample's zip with every member named `old...` renamed `new...` and, for a hidden sample, the
    labels of its `_data.mat` emptied."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            body = source.read(info)
            name = info.filename
            base = name.rsplit("/", 1)[-1]
            if base.startswith(old):
                name = name[: len(name) - len(base)] + new + base[len(old) :]
            if hidden and base.endswith(".mat"):
                body = empty_labels(body)
            target.writestr(zipfile.ZipInfo(name, info.date_time), body, compress_type=info.compress_type)
    return out.getvalue()


def sample_id(member: tarfile.TarInfo) -> str | None:
    """The Id of an archive member that is a sample's zip (`Sample00300.zip` -> `0300`), else None."""
    found = SAMPLE.fullmatch(member.name.rsplit("/", 1)[-1])
    return f"{int(found['number']):04d}" if member.isfile() and found is not None else None


def archive_samples(path: Path) -> Iterator[str]:
    """The Id of every sample zip of a .tar.gz, streamed."""
    with tarfile.open(path, "r|gz") as archive:
        for member in archive:
            sample = sample_id(member)
            if sample is not None:
                yield sample


def _listing(path: Path) -> list[str]:
    return list(archive_samples(path))


def _read_table(path: Path, columns: list[str]) -> pd.DataFrame:
    return read_prepared(path, columns, "multi-modal-gesture-recognition")


class GestureArchivesHCE(HiddenConsistentEvaluation):
    """HCE whose unit is a recorded sample, hidden samples renamed and unlabelled in test.tar.gz."""

    folds_hidden = True  # hce.enabled=false: its copy is written from _split alone

    def __init__(
        self, task: Task, split_seed: int, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    ) -> None:
        self._start(task, split_seed, fractions)
        public = task.public_dir
        training = _read_table(task.train_csv, [ID, SEQUENCE])
        test = _read_table(task.test_csv, [ID])
        answers = _read_table(task.answers_csv, [ID, SEQUENCE])
        archives = sorted(p for p in public.iterdir() if TRAINING_ARCHIVE.fullmatch(p.name))
        if not archives:
            raise TaskError(f"{public} has no training<k>.tar.gz; prepare.py writes training1-3.tar.gz")
        # Where each sample's zip is: its archive (each archive streamed once, its listing saved).
        self._archive_of: dict[str, Path] = {}
        for archive in [*archives, public / TEST_ARCHIVE]:
            if not archive.is_file():
                raise TaskError(
                    f"{archive} is missing; multi-modal-gesture-recognition's prepare.py writes it"
                )
            try:
                for sample in saved_listing(task, archive, functools.partial(_listing, archive)):
                    self._archive_of[sample] = archive
            except (tarfile.TarError, OSError, EOFError) as e:
                raise TaskError(f"{archive} is not a readable .tar.gz ({e})") from None
        for path, table in ((task.train_csv, training), (task.test_csv, test), (task.answers_csv, answers)):
            table[ID] = [f"{int(i):04d}" if i.isdigit() else i for i in table[ID]]
            bad = [i for i in table[ID] if not i.isdigit()]
            if bad:
                raise TaskError(
                    f"{path}: Id {bad[0]!r} is not a sample number (the last 4 digits of a sample's name, "
                    "0300 for Sample00300)"
                )
            if table[ID].duplicated().any():
                raise TaskError(f"{path} has the Id {table[ID][table[ID].duplicated()].iloc[0]!r} twice")
        for path, table, side in ((task.train_csv, training, "training"), (task.test_csv, test, "test")):
            unpacked = [i for i in table[ID] if i not in self._archive_of]
            if unpacked:
                raise TaskError(
                    f"{path} has Id {unpacked[0]!r} (and {len(unpacked) - 1} more) with no "
                    f"{sample_name(unpacked[0])}.zip in the {side} archives of {public}"
                )
        if set(test[ID]) != set(answers[ID]):
            raise TaskError(
                f"{task.answers_csv} and {task.test_csv} disagree on their Ids; every test row needs one"
            )
        self._training = training.set_index(ID, drop=False)
        try:
            self._split = hce_split(list(training[ID]), None, split_seed, fractions)
        except ValueError as e:
            raise TaskError(f"{task.train_csv}: {e}") from None
        self._split["test"] = list(test[ID])
        self._sample_text = _read_text(task.sample_submission_csv)
        self._sample = read_sample(task.sample_submission_csv, self._id, self.metric)
        self._answers = {
            name: self._training.loc[self._split[name], [ID, SEQUENCE]].reset_index(drop=True)
            for name in ("search", "val")
        }
        self._answers["test"] = answers[[ID, SEQUENCE]].reset_index(drop=True)
        rows = [(name, i) for name in SCORED_SPLITS for i in self._split[name]]
        keyed = opaque_ids(opaque_key(split_seed, task.answers_csv), rows)
        first = max(FIRST_FRESH, 1 + max(int(i) for i in self._archive_of))
        self._opaque = {row: f"{first + k:04d}" for k, row in enumerate(sorted(rows, key=keyed.__getitem__))}
        self._scorer = None

    def _pack(self, dest: Path, labelled: set[str], hidden: tuple[str, ...]) -> None:
        """The training archives with the `labelled` samples, and test.tar.gz with the hidden ones."""
        renamed = {i: (name, self._opaque[(name, i)]) for name in hidden for i in self._split[name]}
        with contextlib.ExitStack() as stack:

            def output(name: str) -> tarfile.TarFile:
                # gzip's header time 0, not the clock's: the same split writes the same bytes.
                raw = stack.enter_context(gzip.GzipFile(dest / name, "wb", _GZIP_LEVEL, mtime=0))
                return stack.enter_context(tarfile.open(fileobj=raw, mode="w"))

            test_output = output(TEST_ARCHIVE)
            for archive in sorted(set(self._archive_of.values())):
                test_side = archive.name == TEST_ARCHIVE
                target = test_output if test_side else output(archive.name)
                with tarfile.open(archive, "r|gz") as source:
                    for member in source:
                        sample = sample_id(member)
                        if sample is None:
                            continue
                        if not test_side and sample in labelled:
                            self._add(target, member.name, source.extractfile(member).read())  # type: ignore[union-attr]
                        elif sample in renamed and (renamed[sample][0] == "test") == test_side:
                            data = source.extractfile(member).read()  # type: ignore[union-attr]
                            new = sample_name(renamed[sample][1])
                            try:
                                data = renamed_zip(data, sample_name(sample), new, hidden=True)
                            except (ValueError, NotImplementedError, zipfile.BadZipFile) as e:
                                raise TaskError(f"{archive}: {member.name} cannot be hidden ({e})") from None
                            self._add(test_output, f"{new}.zip", data)

    @staticmethod
    def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), 0o644
        archive.addfile(info, io.BytesIO(data))

    def _write(self, dest: Path, labelled: list[str], hidden: tuple[str, ...]) -> None:
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        description = self.task.description_md.read_text(encoding="utf-8").rstrip()
        (dest / "description.md").write_text(description + _NOTE, encoding="utf-8")
        self._training.loc[labelled].to_csv(dest / self.task.spec.train_file, index=False)
        ids = sorted(self._opaque[(name, i)] for name in hidden for i in self._split[name])
        pd.DataFrame({ID: ids}).to_csv(dest / self.task.spec.test_file, index=False)
        first = self._sample_text[SEQUENCE].iloc[0] if len(self._sample_text) else "1"
        pd.DataFrame({ID: ids, SEQUENCE: first}).to_csv(dest / self.task.spec.sample_file, index=False)
        self._pack(dest, set(labelled), hidden)
        public = self.task.public_dir
        written = {*_WRITTEN, self.task.spec.sample_file, *(a.name for a in self._archive_of.values())}
        for path in sorted(public.iterdir()):
            if path.is_file() and path.name not in written:
                place_file(path, dest / path.name)

    def write_public(self, dest: Path) -> None:
        """The agent's copy as prepare.py lays it out: D_train's samples in training.csv and the
        training archives, every hidden sample renamed and unlabelled in test.tar.gz and test.csv."""
        self._write(dest, self._split["train"], SCORED_SPLITS)

    def write_refit(self, dest: Path) -> None:
        """The refit's copy: every labelled sample in training.csv and the training archives, the
        D_test samples in test.tar.gz."""
        labelled = [i for name in ("train", "search", "val") for i in self._split[name]]
        self._write(dest, labelled, ("test",))
