"""multi-modal-gesture-recognition laid out as mle-bench's prepare.py writes it (data made here, shaped
like the real files): a zip per recorded sample in .tar.gz archives, each with its videos, audio and a
`_data.mat` whose `Video.Labels` names the gestures; mle-bench's test.tar.gz is the labelled training4."""

import io
import random
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.io import loadmat, savemat

from evaluation import gesture_archives
from evaluation.gesture_archives import GestureArchivesHCE
from evaluation.layouts import hidden_consistent_evaluation
from evaluation.mlebench import COVERED, NOT_YET, grade_on_answers
from evaluation.task import TaskError
from tests.test_mlebench_medical import folders
from tests.test_mlebench_presets import SEED, load, to_bytes, write_config

GESTURE = "multi-modal-gesture-recognition"
ARCHIVES = {
    "training1.tar.gz": range(1, 8),
    "training2.tar.gz": range(8, 14),
    "training3.tar.gz": range(14, 20),
}
TEST_SAMPLES = range(300, 304)  # training4, mle-bench's test set
VALIDATION = range(410, 413)  # unlabelled, as the competition gave them


def gestures(number: int) -> list[int]:
    rng = random.Random(number)
    return [rng.randint(1, 20) for _ in range(2 + number % 3)]


def sample_zip(number: int, labelled: bool = True) -> bytes:
    """Sample0XXXX.zip: the "videos" show the gestures (so a predictor can read them off the copy)."""
    stem = f"Sample0{number:04d}"
    shown = " ".join(map(str, gestures(number)))
    names = [f"vieniqui{g}" for g in gestures(number)] if labelled else []
    labels = np.zeros((1, len(names)), dtype=[("Name", object), ("Begin", object), ("End", object)])
    for k, name in enumerate(names):
        labels[0, k] = (name, 10 * k + 1, 10 * k + 8)
    video = np.zeros((1, 1), dtype=[("NumFrames", object), ("FrameRate", object), ("Labels", object)])
    video[0, 0] = (40, 20, labels)
    mat = io.BytesIO()
    savemat(mat, {"Video": video})
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for part in ("color.mp4", "depth.mp4", "user.mp4", "audio.wav"):
            z.writestr(f"{stem}_{part}", f"{part} of a recording: gestures {shown}")
        z.writestr(f"{stem}_data.mat", mat.getvalue())
    return out.getvalue()


def pack(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def gesture(tmp_path: Path) -> None:
    public, private = folders(tmp_path, GESTURE)
    for name, numbers in ARCHIVES.items():
        pack(public / name, {f"Sample0{n:04d}.zip": sample_zip(n) for n in numbers})
    pack(public / "test.tar.gz", {f"Sample0{n:04d}.zip": sample_zip(n) for n in TEST_SAMPLES})  # labels kept
    pack(public / "validation1.tar.gz", {f"Sample0{n:04d}.zip": sample_zip(n, False) for n in VALIDATION})
    (public / "devel01-40.7z").write_bytes(b"7z\xbc\xaf\x27\x1c other data")
    labelled = [n for numbers in ARCHIVES.values() for n in numbers]
    row = lambda n: {"Id": f"{n:04d}", "Sequence": " ".join(map(str, gestures(n)))}  # noqa: E731
    pd.DataFrame([row(n) for n in labelled]).to_csv(public / "training.csv", index=False)
    pd.DataFrame([row(n) for n in TEST_SAMPLES]).to_csv(private / "test.csv", index=False)
    pd.DataFrame({"Id": [f"{n:04d}" for n in TEST_SAMPLES]}).to_csv(public / "test.csv", index=False)
    shuffled = " ".join(str(x) for x in random.Random(0).sample(range(1, 21), 20))
    pd.DataFrame({"Id": [f"{n:04d}" for n in TEST_SAMPLES], "Sequence": shuffled}).to_csv(
        public / "randomPredictions.csv", index=False
    )
    write_config(tmp_path / "repo", GESTURE, "final-edit-distance", "test.csv")


def unpack(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers()}  # type: ignore[union-attr]


def read_gestures(data: bytes) -> tuple[str, str, list[object]]:
    """(the sample's stem from its members' names, the sequence its videos show, the .mat's labels)."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        (color,) = [n for n in z.namelist() if n.endswith("_color.mp4")]
        (mat,) = [n for n in z.namelist() if n.endswith("_data.mat")]
        stems = {n.rsplit("_", 1)[0] for n in z.namelist()}
        assert stems == {color.removesuffix("_color.mp4")}  # every member renamed alike
        shown = z.read(color).decode().split("gestures ")[1]
        labels = loadmat(io.BytesIO(z.read(mat)))["Video"]["Labels"][0, 0]
        return color.removesuffix("_color.mp4"), shown, list(labels.ravel())


def predict(copy: Path) -> pd.DataFrame:
    """A sequence per test Id, read off the sample's videos in the copy's test.tar.gz."""
    rows = []
    for name, data in unpack(copy / "test.tar.gz").items():
        stem, shown, _ = read_gestures(data)
        assert name == f"{stem}.zip"
        rows.append({"Id": stem[-4:], "Sequence": shown})
    test = pd.read_csv(copy / "test.csv", dtype=str)
    return test.merge(pd.DataFrame(rows), on="Id", how="left")


def test_gesture_hides_samples_renamed_and_unlabelled_in_test_archive(tmp_path: Path) -> None:
    gesture(tmp_path)
    assert GESTURE in COVERED and GESTURE not in NOT_YET
    task = load(tmp_path, GESTURE)
    hce = hidden_consistent_evaluation(task, SEED)
    assert isinstance(hce, GestureArchivesHCE)
    split = hce.split_ids()
    assert split["search"] and split["val"] and split["test"] == [f"{n:04d}" for n in TEST_SAMPLES]

    copy = tmp_path / "public"
    hce.write_public(copy)
    training = pd.read_csv(copy / "training.csv", dtype=str)
    assert sorted(training["Id"]) == sorted(split["train"])
    in_archives = {n[len("Sample0") : -len(".zip")] for a in ARCHIVES for n in unpack(copy / a)}
    assert in_archives == set(split["train"])
    for archive in ARCHIVES:
        for data in unpack(copy / archive).values():
            assert read_gestures(data)[2]  # D_train's labels kept
    hidden = [i for name in ("search", "val", "test") for i in split[name]]
    test = pd.read_csv(copy / "test.csv", dtype=str)
    assert len(test) == len(hidden) and set(test["Id"]).isdisjoint(hidden)
    assert min(int(i) for i in test["Id"]) >= 1000  # above every real number, validation's too
    packed = unpack(copy / "test.tar.gz")
    assert sorted(packed) == sorted(f"Sample0{i}.zip" for i in test["Id"])
    for data in packed.values():
        assert read_gestures(data)[2] == []  # Labels emptied, as the competition's test samples have it
    assert (copy / "validation1.tar.gz").read_bytes() == (task.public_dir / "validation1.tar.gz").read_bytes()
    assert (copy / "devel01-40.7z").is_file()
    sample = pd.read_csv(copy / "randomPredictions.csv", dtype=str)
    assert list(sample.columns) == ["Id", "Sequence"] and list(sample["Id"]) == list(test["Id"])

    right = predict(copy)
    scores = hce.score(to_bytes(right))
    assert scores.valid and (scores.search, scores.val, scores.test) == (0.0, 0.0, 0.0)
    # One gesture dropped on each D_test sample: the errors over the true gestures, as grade.py counts.
    answers = pd.read_csv(task.answers_csv, dtype=str)
    dropped = right.assign(Sequence=right["Sequence"].str.split().str[1:].str.join(" "))
    total = sum(len(s.split()) for s in answers["Sequence"])
    assert hce.score(to_bytes(dropped)).test == pytest.approx(len(answers) / total)
    words = hce.score(to_bytes(right.assign(Sequence="vieniqui")))
    assert not words.valid

    refit = tmp_path / "refit"
    hce.write_refit(refit)
    labelled = {i for name in ("train", "search", "val") for i in split[name]}
    assert set(pd.read_csv(refit / "training.csv", dtype=str)["Id"]) == labelled
    assert {n[7:11] for a in ARCHIVES for n in unpack(refit / a)} == labelled
    assert hce.scorer().score_refit(to_bytes(predict(refit))).test == 0.0

    # mle-bench's own test set, graded by its Ids.
    submission = tmp_path / "submission.csv"
    answers.to_csv(submission, index=False)
    assert grade_on_answers(task, submission) == 0.0


def test_gesture_broken_layouts_are_named(tmp_path: Path) -> None:
    gesture(tmp_path)
    public = tmp_path / "data" / GESTURE / "prepared" / "public"
    pack(public / "training3.tar.gz", {f"Sample0{n:04d}.zip": sample_zip(n) for n in range(14, 19)})
    with pytest.raises(TaskError, match=r"training\.csv has Id '0019' .* with no Sample00019\.zip"):
        hidden_consistent_evaluation(load(tmp_path, GESTURE), SEED)

    gesture(tmp_path / "torn")
    (tmp_path / "torn" / "data" / GESTURE / "prepared" / "public" / "training2.tar.gz").write_bytes(
        b"\x1f\x8b torn"
    )
    with pytest.raises(TaskError, match=r"training2\.tar\.gz is not a readable \.tar\.gz"):
        hidden_consistent_evaluation(load(tmp_path / "torn", GESTURE), SEED)


def test_a_second_evaluator_reuses_the_archives_listings_until_one_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listing a .tar.gz decompresses it whole: a restarted (or another seed's) evaluator reads the
    saved listing instead, and lists an archive again once its size or time changed."""
    gesture(tmp_path)
    task = load(tmp_path, GESTURE)
    first = hidden_consistent_evaluation(task, SEED).split_ids()
    saved = sorted(p.name for p in (task.root / "hce_splits").glob("listing_*.json"))
    assert saved == sorted(f"listing_{name}.json" for name in [*ARCHIVES, "test.tar.gz"])

    def listed_again(path: Path) -> None:
        raise AssertionError(f"{path} was listed again")

    with monkeypatch.context() as patch:
        patch.setattr(gesture_archives, "archive_samples", listed_again)
        assert hidden_consistent_evaluation(task, SEED).split_ids() == first
    public = tmp_path / "data" / GESTURE / "prepared" / "public"
    pack(public / "training3.tar.gz", {f"Sample0{n:04d}.zip": sample_zip(n) for n in range(14, 19)})
    with pytest.raises(TaskError, match=r"training\.csv has Id '0019' .* with no Sample00019\.zip"):
        hidden_consistent_evaluation(task, SEED)
