"""mlsp-2013-birds laid out as mle-bench's prepare.py writes it (data made here, shaped like the real
files): recordings with their species in a text file, WAVs and spectrogram images named by the
recording's filename, feature tables keyed by rec_id, a submission row per (recording, species)."""

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.io import wavfile
from sklearn.metrics import roc_auc_score

from evaluation.layouts import hidden_consistent_evaluation
from evaluation.mlebench import COVERED, NOT_YET, grade_on_answers
from evaluation.mlsp_birds import MlspBirdsHCE
from tests.test_mlebench_lite_text import folders, load, write_config
from tests.test_mlebench_presets import SEED, to_bytes

MLSP = "mlsp-2013-birds"
N, N_TEST = 80, 16


def wav(species: set[int]) -> bytes:
    """A clip whose tones are its species: a tone at 100 Hz * (s + 1) for each."""
    t = np.arange(1600) / 8000
    signal = sum((np.sin(2 * np.pi * 100 * (s + 1) * t) for s in species), np.zeros_like(t))
    out = io.BytesIO()
    wavfile.write(out, 8000, (signal * 3000).astype(np.int16))
    return out.getvalue()


def species_in(data: bytes) -> set[int]:
    _, signal = wavfile.read(io.BytesIO(data))
    power = np.abs(np.fft.rfft(signal.astype(float)))
    return {s for s in range(19) if power[int(100 * (s + 1) * 1600 / 8000)] > 1e5}


def mlsp(tmp_path: Path) -> dict[str, set[int]]:
    rng = np.random.default_rng(13)
    public, private = folders(tmp_path, MLSP)
    essential, supplemental = public / "essential_data", public / "supplemental_data"
    for folder in (
        essential / "src_wavs",
        *(
            supplemental / f
            for f in (
                "filtered_spectrograms",
                "segmentation_examples",
                "spectrograms",
                "supervised_segmentation",
            )
        ),
    ):
        folder.mkdir(parents=True)
    test = set(rng.choice(N, N_TEST, replace=False))
    labels = {r: {int(s) for s in rng.choice(19, int(rng.integers(0, 3)), replace=False)} for r in range(N)}
    names = {r: f"PC{r % 13 + 1}_200906{r % 28 + 1:02d}_0{r:05d}_0010" for r in range(N)}
    pd.DataFrame({"rec_id": range(N), "fold": [int(r in test) for r in range(N)]}).to_csv(
        essential / "CVfolds_2.txt", index=False
    )
    pd.DataFrame({"rec_id": range(N), "filename": [names[r] for r in range(N)]}).to_csv(
        essential / "rec_id2filename.txt", index=False
    )
    lines = ["rec_id,[labels]"]
    for r in range(N):
        species = ",".join(map(str, sorted(labels[r])))
        lines.append(f"{r},?" if r in test else (f"{r},{species}" if species else f"{r}"))
    (essential / "rec_labels_test_hidden.txt").write_text("\n".join(lines) + "\n")
    (essential / "species_list.txt").write_text("class_id,code,species\n0,BRCR,Brown Creeper\n")
    for r in range(N):
        (essential / "src_wavs" / f"{names[r]}.wav").write_bytes(wav(labels[r]))
        images = ["filtered_spectrograms", "spectrograms", "supervised_segmentation"]
        for image_folder in images + (["segmentation_examples"] if r % 10 == 0 else []):
            (supplemental / image_folder / f"{names[r]}.bmp").write_bytes(b"BM" + bytes([r]))
    (supplemental / "segment_clusters.bmp").write_bytes(b"BM0")
    (supplemental / "segment_mosaic.bmp").write_bytes(b"BM1")
    for table in ("histogram_of_segments.txt", "segment_features.txt", "segment_rectangles.txt"):
        rows = [f"{r},{k},{0.5 * r:.3f}" for r in range(N) for k in range(r % 3)]
        (supplemental / table).write_text("\n".join(["rec_id,[histogram of segment features]", *rows]) + "\n")
    held = sorted(test)
    pairs = pd.DataFrame(
        {
            "Id": [r * 100 + s for r in held for s in range(19)],
            "Probability": [int(s in labels[r]) for r in held for s in range(19)],
        }
    )
    pairs.to_csv(private / "answers.csv", index=False)
    pairs.assign(Probability=0).to_csv(public / "sample_submission.csv", index=False)
    write_config(tmp_path / "repo", MLSP, "auc-roc", "answers.csv")
    return {names[r]: labels[r] for r in range(N)}


def test_mlsp_hides_whole_recordings_under_opaque_names_and_fresh_numbers(tmp_path: Path) -> None:
    truth = mlsp(tmp_path)
    assert MLSP in COVERED and MLSP not in NOT_YET
    task = load(tmp_path, MLSP)
    hce = hidden_consistent_evaluation(task, SEED)
    assert isinstance(hce, MlspBirdsHCE)
    split = hce.split_ids()
    assert (
        len(split["test"]) == N_TEST
        and len(split["train"]) + len(split["search"]) + len(split["val"]) == N - N_TEST
    )
    public = tmp_path / "public"
    hce.write_public(public)
    essential, supplemental = public / "essential_data", public / "supplemental_data"
    folds = pd.read_csv(essential / "CVfolds_2.txt")
    names = pd.read_csv(essential / "rec_id2filename.txt")
    n_train = len(split["train"])
    assert list(folds["rec_id"]) == list(range(N)) and list(folds["fold"]) == [0] * n_train + [1] * (
        N - n_train
    )
    hidden_names = list(names["filename"].iloc[n_train:])
    assert all(n.startswith("r") and len(n) == 11 for n in hidden_names)
    assert set(names["filename"].iloc[:n_train]) <= set(truth)
    labels = (essential / "rec_labels_test_hidden.txt").read_text().splitlines()
    assert labels[0] == "rec_id,[labels]" and all(line.endswith(",?") for line in labels[1 + n_train :])
    # No original filename of a hidden recording anywhere, under any file.
    original_hidden = set(truth) - set(names["filename"])
    every = " ".join(str(p.relative_to(public)) for p in public.rglob("*"))
    assert not any(n in every for n in original_hidden)
    for table in ("histogram_of_segments.txt", "segment_features.txt"):
        ids = {int(line.split(",")[0]) for line in (supplemental / table).read_text().splitlines()[1:]}
        assert ids <= set(range(N))
    sample = pd.read_csv(public / "sample_submission.csv")
    assert len(sample) == 19 * (N - n_train) and set(sample["Id"] // 100) == set(range(n_train, N))

    heard = {}
    for rec, filename in zip(names["rec_id"], names["filename"], strict=True):
        heard[rec] = species_in((essential / "src_wavs" / f"{filename}.wav").read_bytes())
    right = sample.assign(Probability=[float(i % 100 in heard[i // 100]) for i in sample["Id"]])
    scores = hce.score(to_bytes(right))
    assert scores.valid and (scores.search, scores.val, scores.test) == (1.0, 1.0, 1.0)
    noisy = right.assign(
        Probability=np.where(sample.index % 5 == 0, 1 - right["Probability"], right["Probability"])
    )
    assert (hce.score(to_bytes(noisy)).test or 1.0) < 1.0
    bad = hce.score(to_bytes(right.iloc[19:]))
    assert not bad.valid and "missing" in str(bad.reason)

    answers = pd.read_csv(task.answers_csv)
    guess = answers.assign(Probability=np.linspace(0, 1, len(answers)))
    guess.to_csv(tmp_path / "sub.csv", index=False)
    assert grade_on_answers(task, tmp_path / "sub.csv") == pytest.approx(
        roc_auc_score(answers["Probability"], guess["Probability"])
    )

    refit = tmp_path / "refit"
    hce.write_refit(refit)
    refit_sample = pd.read_csv(refit / "sample_submission.csv")
    assert len(refit_sample) == 19 * N_TEST
    assert set(refit_sample["Id"]) <= set(sample["Id"])  # the D_test pairs under the ids the agent saw


def test_answers_that_miss_a_test_recording_are_refused(tmp_path: Path) -> None:
    from evaluation.task import TaskError

    mlsp(tmp_path)
    answers = tmp_path / "data" / MLSP / "prepared" / "private" / "answers.csv"
    pd.read_csv(answers).iloc[19:].to_csv(answers, index=False)
    with pytest.raises(TaskError, match="does not hold exactly the 19 pairs of each fold-1 recording"):
        hidden_consistent_evaluation(load(tmp_path, MLSP), SEED)
