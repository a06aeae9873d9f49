"""Competitions of MLE-bench Lite whose labelled rows are files named by their label, laid out as
mle-bench's prepare.py writes them (data made here, shaped like the real files): dogs-vs-cats-redux
(`cat.<k>.jpg` in train/ and train.zip, test images `<id>.jpg`) and the-icml-2013-whale-challenge-
right-whale-redux (AIFF clips `..._TRAIN<k>_<label>.aif` in train2.zip, test clips in test2.zip)."""

import io
import math
import struct
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.metrics import log_loss, roc_auc_score

from evaluation.file_labels import FileLabelsHCE
from evaluation.layouts import hidden_consistent_evaluation
from evaluation.mlebench import COVERED, NOT_YET, grade_on_answers
from evaluation.task import TaskError
from tests.test_mlebench_lite_text import folders, load, write_config
from tests.test_mlebench_presets import SEED, to_bytes

DOGS = "dogs-vs-cats-redux-kernels-edition"
WHALE = "the-icml-2013-whale-challenge-right-whale-redux"


def jpeg(dog: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (8, 8), 40 + 160 * int(dog)).save(out, format="JPEG")
    return out.getvalue()


def is_dog(data: bytes) -> int:
    with Image.open(io.BytesIO(data)) as image:
        return int(float(np.mean(np.asarray(image))) > 120)


def dogs(tmp_path: Path, n: int = 120, n_test: int = 20) -> dict[str, int]:
    """prepare.py: train/ and train.zip (top-level members) of cat.<k>.jpg and dog.<k>.jpg, test/ and
    test.zip of <id>.jpg with ids 1..n_test, answers.csv (id, label 1 for a dog), sample 0.5."""
    rng = np.random.default_rng(8)
    is_a_dog = rng.integers(0, 2, n)
    public, private = folders(tmp_path, DOGS)
    counters = {0: 0, 1: 0}
    labels: dict[str, int] = {}
    for folder in ("train", "test"):
        (public / folder).mkdir()
    with (
        zipfile.ZipFile(public / "train.zip", "w") as train_zip,
        zipfile.ZipFile(public / "test.zip", "w") as test_zip,
    ):
        for k, dog in enumerate(is_a_dog):
            if k < n - n_test:
                name = f"{'dog' if dog else 'cat'}.{counters[dog]}.jpg"
                counters[dog] += 1
                (public / "train" / name).write_bytes(jpeg(dog))
                train_zip.writestr(name, jpeg(dog))
                labels[name[:-4]] = int(dog)
            else:
                name = f"{k - (n - n_test) + 1}.jpg"
                (public / "test" / name).write_bytes(jpeg(dog))
                test_zip.writestr(name, jpeg(dog))
                labels[name[:-4]] = int(dog)
    ids = list(range(1, n_test + 1))
    pd.DataFrame({"id": ids, "label": is_a_dog[n - n_test :]}).to_csv(private / "answers.csv", index=False)
    pd.DataFrame({"id": ids, "label": 0.5}).to_csv(public / "sample_submission.csv", index=False)
    write_config(tmp_path / "repo", DOGS, "log-loss", "answers.csv")
    return labels


def test_dogs_vs_cats_labels_come_from_file_names_and_no_hidden_name_tells_the_class(tmp_path: Path) -> None:
    labels = dogs(tmp_path)
    assert DOGS in COVERED and DOGS not in NOT_YET
    task = load(tmp_path, DOGS)
    hce = hidden_consistent_evaluation(task, SEED)
    assert isinstance(hce, FileLabelsHCE)
    split = hce.split_ids()
    assert len(split["train"]) + len(split["search"]) + len(split["val"]) == 100 and len(split["test"]) == 20
    public = tmp_path / "public"
    hce.write_public(public)
    assert sorted(p.name for p in public.iterdir()) == [
        "description.md",
        "sample_submission.csv",
        "test",
        "test.zip",
        "train",
        "train.zip",
    ]
    sample = pd.read_csv(public / "sample_submission.csv", dtype={"id": str})
    # D_train's images under their own names, in the folder and the archive alike.
    train_names = sorted(p.name for p in (public / "train").iterdir())
    assert train_names == sorted(f"{i}.jpg" for i in split["train"])
    assert sorted(zipfile.ZipFile(public / "train.zip").namelist()) == train_names
    # Every hidden image (D_search, D_val, D_test) under an opaque name: none says cat or dog.
    test_names = sorted(p.name for p in (public / "test").iterdir())
    assert (
        test_names
        == sorted(f"{i}.jpg" for i in sample["id"])
        == sorted(zipfile.ZipFile(public / "test.zip").namelist())
    )
    assert len(test_names) == 100 - len(split["train"]) + 20
    assert not any("cat" in n or "dog" in n for n in test_names)
    assert "their names are opaque" in (public / "description.md").read_text()

    # A model that looks at each image: its class comes through under the opaque name.
    guess = {i: is_dog((public / "test" / f"{i}.jpg").read_bytes()) for i in sample["id"]}
    sure = sample.assign(label=[0.98 if guess[i] else 0.02 for i in sample["id"]])
    scores = hce.score(to_bytes(sure))
    assert scores.valid
    for name in ("search", "val", "test"):
        assert getattr(scores, name) == pytest.approx(-math.log(0.98), abs=1e-9)
    coin = sample.assign(label=0.5)
    assert hce.score(to_bytes(coin)).test == pytest.approx(math.log(2))
    bad = hce.score(to_bytes(sure.iloc[:-1]))
    assert not bad.valid and "missing" in str(bad.reason)
    # The competition's own grader on its answers.
    answers = pd.read_csv(task.answers_csv)
    guess_test = answers.assign(label=np.where(answers["label"] == 1, 0.9, 0.3))
    guess_test.to_csv(tmp_path / "sub.csv", index=False)
    assert grade_on_answers(task, tmp_path / "sub.csv") == pytest.approx(
        log_loss(answers["label"], guess_test["label"])
    )
    assert sum(labels.values()) > 0
    # The refit's copy: every labelled image under its name, the 20 test images under opaque names.
    refit = tmp_path / "refit"
    hce.write_refit(refit)
    assert len(list((refit / "train").iterdir())) == 100 and len(list((refit / "test").iterdir())) == 20
    assert not (refit / "train.csv").exists() and len(pd.read_csv(refit / "sample_submission.csv")) == 20


def test_a_file_the_pattern_does_not_name_is_refused(tmp_path: Path) -> None:
    dogs(tmp_path)
    public = tmp_path / "data" / DOGS / "prepared" / "public"
    with zipfile.ZipFile(public / "train.zip", "a") as z:
        z.writestr("horse.1.jpg", jpeg(0))
    with pytest.raises(TaskError, match=r"'horse\.1\.jpg' does not match file_labels\.pattern"):
        hidden_consistent_evaluation(load(tmp_path, DOGS), SEED)


RATE_2000_HZ = bytes.fromhex("400afa00000000000000")  # 2000 as an 80-bit IEEE extended float


def aiff(whale: int, k: int) -> bytes:
    """A tiny mono 16-bit AIFF clip: a whale up-call is loud, noise is quiet."""
    t = np.arange(400)
    samples = (np.sin(t * (0.05 + 0.001 * k)) * (12000 if whale else 300)).astype(">i2").tobytes()
    comm = struct.pack(">hLh", 1, 400, 16) + RATE_2000_HZ
    ssnd = struct.pack(">LL", 0, 0) + samples
    body = (
        b"AIFF"
        + b"COMM"
        + struct.pack(">L", len(comm))
        + comm
        + b"SSND"
        + struct.pack(">L", len(ssnd))
        + ssnd
    )
    return b"FORM" + struct.pack(">L", len(body)) + body


def loudness(data: bytes) -> float:
    start = data.index(b"SSND") + 16
    return float(np.abs(np.frombuffer(data[start:], dtype=">i2")).mean())


def whales(tmp_path: Path) -> dict[str, int]:
    """prepare.py: train2.zip holds train2/<date>_<time>_<offset>_TRAIN<k>_<label>.aif (two days),
    test2.zip test2/<date>_<time>_<offset>_Test<k>.aif (two other days), private/test.csv clip,
    probability, sampleSubmission.csv. Each recording (date and time) is cut into several clips."""
    rng = np.random.default_rng(9)
    public, private = folders(tmp_path, WHALE)
    labels: dict[str, int] = {}
    answers = []
    with (
        zipfile.ZipFile(public / "train2.zip", "w") as train,
        zipfile.ZipFile(public / "test2.zip", "w") as test,
    ):
        train.writestr("train2/", b"")
        k_train = k_test = 0
        for day in ("20090328", "20090329", "20090330", "20090331"):
            for hour in range(6):
                for offset in range(5):
                    whale = int(rng.integers(0, 2))
                    stem = f"{day}_{hour:02d}0000_{offset * 2:03d}s{offset}ms"
                    if day < "20090330":
                        name = f"{stem}_TRAIN{k_train}_{whale}.aif"
                        train.writestr(f"train2/{name}", aiff(whale, k_train))
                        k_train += 1
                    else:
                        name = f"{stem}_Test{k_test}.aif"
                        test.writestr(f"test2/{name}", aiff(whale, k_test))
                        answers.append({"clip": name, "probability": whale})
                        k_test += 1
                    labels[name] = whale
    table = pd.DataFrame(answers)
    table.to_csv(private / "test.csv", index=False)
    table.assign(probability=0).to_csv(public / "sampleSubmission.csv", index=False)
    write_config(tmp_path / "repo", WHALE, "auc-roc", "test.csv")
    return labels


def test_whale_clips_are_labelled_by_name_and_recordings_stay_whole(tmp_path: Path) -> None:
    labels = whales(tmp_path)
    assert WHALE in COVERED and WHALE not in NOT_YET
    task = load(tmp_path, WHALE)
    assert task.sample_submission_csv.name == "sampleSubmission.csv"
    hce = hidden_consistent_evaluation(task, SEED)
    split = hce.split_ids()
    recording = {name: name[:15] for name in labels}
    sides = {s: {recording[c] for c in split[s]} for s in ("train", "search", "val")}
    assert not (
        sides["train"] & sides["search"] or sides["train"] & sides["val"] or sides["search"] & sides["val"]
    )
    public = tmp_path / "public"
    hce.write_public(public)
    assert sorted(p.name for p in public.iterdir()) == [
        "description.md",
        "sampleSubmission.csv",
        "test2.zip",
        "train2.zip",
    ]
    sample = pd.read_csv(public / "sampleSubmission.csv")
    train_members = zipfile.ZipFile(public / "train2.zip").namelist()
    assert sorted(train_members) == sorted(f"train2/{c}" for c in split["train"])
    test_zip = zipfile.ZipFile(public / "test2.zip")
    assert sorted(test_zip.namelist()) == sorted(f"test2/{c}" for c in sample["clip"])
    # No hidden clip's name: neither its label, nor its date and time.
    assert all(c.startswith("r") and c.endswith(".aif") and "_" not in c for c in sample["clip"])

    heard = sample.assign(probability=[loudness(test_zip.read(f"test2/{c}")) / 12000 for c in sample["clip"]])
    scores = hce.score(to_bytes(heard))
    assert scores.valid and (scores.search, scores.val, scores.test) == (1.0, 1.0, 1.0)
    flipped = hce.score(to_bytes(heard.assign(probability=1 - heard["probability"])))
    assert flipped.valid and flipped.test == 0.0
    wrong_column = hce.score(to_bytes(heard.rename(columns={"probability": "whale"})))
    assert not wrong_column.valid and "probability" in str(wrong_column.reason)

    answers = pd.read_csv(task.answers_csv)
    guess = answers.assign(probability=np.linspace(0, 1, len(answers)))
    guess.to_csv(tmp_path / "sub.csv", index=False)
    expected = roc_auc_score(answers["probability"], guess["probability"])
    assert grade_on_answers(task, tmp_path / "sub.csv") == pytest.approx(expected)
