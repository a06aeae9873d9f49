"""freesound-audio-tagging-2019 under HCE, laid out as its prepare.py leaves prepared/public (Kaggle's
files as they are: train_curated.csv with comma-separated labels, train_noisy.csv, the clips in
train_curated.zip, train_noisy.zip and test.zip) and prepared/private/test.csv (one 0/1 column per
class). Each tiny WAV written here carries its classes in its first samples."""

import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.io import wavfile
from sklearn.metrics import label_ranking_average_precision_score

from evaluation.hce import HiddenConsistentEvaluation
from evaluation.mlebench import grade_on_answers, load_mlebench_task
from tests.image_files import SEED, hex_ids, mentions
from tests.test_mlebench_presets import copy_rows

NAME = "freesound-audio-tagging-2019"
CLASSES = ["Accelerating_and_revving_and_vroom", "Bark", "Purr", "Hiss", "Gurgle", "Zipper_(clothing)"]


def wav(held: np.ndarray) -> bytes:
    samples = np.zeros(64, dtype=np.int16)
    samples[: len(held)] = 1000 * held
    out = io.BytesIO()
    wavfile.write(out, 44100, samples)
    return out.getvalue()


def classes_in(data: bytes) -> np.ndarray:
    return (wavfile.read(io.BytesIO(data))[1][: len(CLASSES)] > 0).astype(int)


def lay_out(tmp_path: Path) -> pd.DataFrame:
    rng = np.random.default_rng(13)
    n_curated, n_noisy, n_test = 150, 20, 30
    names = hex_ids(rng, n_curated + n_noisy + n_test, 8, ".wav")
    held = rng.random((len(names), len(CLASSES))) < 0.3
    held[np.arange(len(names)), rng.integers(0, len(CLASSES), len(names))] = True  # one class at least
    labels = [",".join(c for c, h in zip(CLASSES, row, strict=True) if h) for row in held]
    public = tmp_path / "data" / NAME / "prepared" / "public"
    private = tmp_path / "data" / NAME / "prepared" / "private"
    public.mkdir(parents=True)
    private.mkdir(parents=True)
    parts = {
        "train_curated": slice(0, n_curated),
        "train_noisy": slice(n_curated, n_curated + n_noisy),
        "test": slice(n_curated + n_noisy, None),
    }
    for part, rows in parts.items():
        with zipfile.ZipFile(public / f"{part}.zip", "w") as archive:
            for name, row in zip(names[rows], held[rows], strict=True):
                archive.writestr(name, wav(row.astype(int)))
        if part != "test":
            pd.DataFrame({"fname": names[rows], "labels": labels[rows]}).to_csv(
                public / f"{part}.csv", index=False
            )
    test = parts["test"]
    answers = pd.DataFrame(
        {"fname": names[test], **{c: held[test, i].astype(int) for i, c in enumerate(CLASSES)}}
    )
    answers.to_csv(private / "test.csv", index=False)
    answers.assign(**dict.fromkeys(CLASSES, 0)).to_csv(public / "sample_submission.csv", index=False)
    (public / "description.md").write_text(f"# {NAME}\n")
    config = tmp_path / "repo" / "mlebench" / "competitions" / NAME
    config.mkdir(parents=True)
    (config / "config.yaml").write_text(f"id: {NAME}\ngrader:\n  name: label-ranking-average-precision\n")
    return pd.DataFrame({"fname": names, "labels": labels})


def test_freesound_clips_in_zips_multi_hot_labels_and_lwlrap(tmp_path: Path) -> None:
    everything = lay_out(tmp_path)
    task = load_mlebench_task(tmp_path / "data", NAME, tmp_path / "repo", tmp_path / "cache")
    assert task.spec.metric == "label-weighted-lrap" and task.spec.label_separator == ","
    hce = HiddenConsistentEvaluation(task, split_seed=SEED)
    split = hce.split_ids()
    copy = tmp_path / "copy"
    hce.write_public(copy)
    test_copy = copy_rows(hce, copy, dtype=str)[1]
    with zipfile.ZipFile(copy / "train_curated.zip") as archive:
        assert sorted(archive.namelist()) == sorted(split["train"])
    with zipfile.ZipFile(copy / "test.zip") as archive:
        assert sorted(archive.namelist()) == sorted(test_copy["fname"])
        predicted = np.array([classes_in(archive.read(f)) for f in test_copy["fname"]])
        members = archive.namelist()
    hidden = [i for s in ("search", "val", "test") for i in split[s]]
    files = [p for p in copy.rglob("*") if p.is_file()]
    assert not [p for p in files if p.is_symlink()]
    blob = b"\n".join([*(p.read_bytes() for p in files if p.suffix != ".zip"), *map(str.encode, members)])
    assert not [i for i in hidden if mentions(blob, i)]
    # The noisy set is another set of clips: kept as it is.
    assert (copy / "train_noisy.zip").read_bytes() == (task.public_dir / "train_noisy.zip").read_bytes()
    assert copy_rows(hce, copy)[0]["labels"].str.contains(",").any()

    # Scores that rank each clip's classes by the truth plus noise: lwlrap on each split, by sklearn.
    rng = np.random.default_rng(0)
    noisy = predicted + rng.random(predicted.shape) * 1.2
    submission = pd.DataFrame(
        {"fname": test_copy["fname"], **{c: noisy[:, i] for i, c in enumerate(CLASSES)}}
    )
    scores = hce.score(submission.to_csv(index=False).encode())
    assert scores.valid, scores.reason
    truth = {
        str(f): np.array([c in str(labels).split(",") for c in CLASSES]).astype(int)
        for f, labels in zip(everything["fname"], everything["labels"], strict=True)
    }
    answers = pd.read_csv(task.answers_csv)
    truth |= {f: answers.loc[answers["fname"] == f, CLASSES].to_numpy()[0] for f in answers["fname"]}
    given = dict(zip(test_copy["fname"], noisy, strict=True))
    by_original = {original: given[opaque] for (_, original), opaque in hce._opaque.items()}
    for name in ("search", "val", "test"):
        t = np.array([truth[i] for i in split[name]])
        p = np.array([by_original[i] for i in split[name]])
        expected = label_ranking_average_precision_score(t, p, sample_weight=t.sum(axis=1))
        assert getattr(scores, name) == pytest.approx(expected)
    bad = submission.assign(Bark="loud")
    assert "must hold numbers" in str(hce.score(bad.to_csv(index=False).encode()).reason)
    pd.read_csv(task.answers_csv).to_csv(tmp_path / "gold.csv", index=False)
    assert grade_on_answers(task, tmp_path / "gold.csv") == pytest.approx(1.0)
