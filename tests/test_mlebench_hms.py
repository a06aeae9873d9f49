"""hms-harmful-brain-activity-classification laid out as mle-bench's prepare.py writes it (data made
here, shaped like the real files): several labelled windows per EEG (one `label_id` each, the same
`eeg_id`), EEG and spectrogram parquet files, spectrograms kept whole."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.hce import HiddenConsistentEvaluation
from evaluation.mlebench import COVERED, NOT_YET, grade_on_answers
from evaluation.task import TaskError
from tests.test_mlebench_lite_text import folders, load, write_config
from tests.test_mlebench_presets import SEED, to_bytes

HMS = "hms-harmful-brain-activity-classification"
VOTES = ["seizure_vote", "lpd_vote", "gpd_vote", "lrda_vote", "grda_vote", "other_vote"]
COLUMNS = [
    "eeg_id", "eeg_sub_id", "eeg_label_offset_seconds", "spectrogram_id", "spectrogram_sub_id",
    "spectrogram_label_offset_seconds", "label_id", "patient_id", "expert_consensus", *VOTES,
]  # fmt: skip


def eeg_class(path: Path) -> int:
    """The class an EEG shows: this data's stand-in for a model."""
    return int(pd.read_parquet(path)["Fp1"].iloc[0])


def hms(tmp_path: Path) -> pd.DataFrame:
    """prepare.py: train.csv and private/test.csv (15 columns), test.csv (spectrogram_id, eeg_id,
    patient_id: the windows of one EEG are identical rows), sample_submission.csv (eeg_id and the six
    votes, 1/6), example_figures/, {train,test}_eegs/<eeg_id>.parquet and
    {train,test}_spectrograms/<spectrogram_id>.parquet; split by spectrogram."""
    rng = np.random.default_rng(30)
    public, private = folders(tmp_path, HMS)
    rows, label_id = [], 1000
    eegs: dict[int, int] = {}
    for s in range(40):
        spectrogram = 353_733 + 7919 * s
        patient = 20_000 + s % 15
        for e in range(int(rng.integers(1, 3))):
            eeg = 568_657 + 104_729 * (2 * s + e)
            eegs[eeg] = cls = int(rng.integers(0, 6))
            for w in range(int(rng.integers(1, 5))):
                votes = [3 if k == cls else 0 for k in range(6)]
                rows.append(
                    [
                        eeg,
                        w,
                        10.0 * w,
                        spectrogram,
                        w,
                        10.0 * w,
                        label_id,
                        patient,
                        VOTES[cls][:-5].upper(),
                        *votes,
                    ]
                )
                label_id += 37
    table = pd.DataFrame(rows, columns=COLUMNS)
    spectrograms = table["spectrogram_id"].unique()
    held = set(rng.choice(spectrograms, 6, replace=False))
    train, test = table[~table["spectrogram_id"].isin(held)], table[table["spectrogram_id"].isin(held)]
    train.to_csv(public / "train.csv", index=False)
    test.to_csv(private / "test.csv", index=False)
    test[["spectrogram_id", "eeg_id", "patient_id"]].to_csv(public / "test.csv", index=False)
    test[["eeg_id"]].assign(**dict.fromkeys(VOTES, 1 / 6)).to_csv(
        public / "sample_submission.csv", index=False
    )
    (public / "example_figures").mkdir()
    (public / "example_figures" / "Seizure.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    for side, part in (("train", train), ("test", test)):
        (public / f"{side}_eegs").mkdir()
        (public / f"{side}_spectrograms").mkdir()
        for eeg in part["eeg_id"].unique():
            signal = pd.DataFrame({"Fp1": np.full(200, float(eegs[eeg])), "O2": rng.normal(size=200)})
            signal.to_parquet(public / f"{side}_eegs" / f"{eeg}.parquet")
        for spectrogram in part["spectrogram_id"].unique():
            frame = pd.DataFrame({"time": np.arange(4), "LL_0.59": rng.uniform(size=4)})
            frame.to_parquet(public / f"{side}_spectrograms" / f"{spectrogram}.parquet")
    write_config(tmp_path / "repo", HMS, "KL-divergence", "test.csv")
    return table


def test_hms_gives_each_hidden_window_its_own_opaque_eeg_and_keeps_spectrograms_whole(tmp_path: Path) -> None:
    table = hms(tmp_path)
    assert HMS in COVERED and HMS not in NOT_YET
    task = load(tmp_path, HMS)
    assert task.spec.row_key == "label_id"
    hce = HiddenConsistentEvaluation(task, split_seed=SEED)
    split = hce.split_ids()
    spectrogram = dict(zip(table["label_id"].astype(str), table["spectrogram_id"], strict=True))
    sides = {name: {spectrogram[i] for i in split[name]} for name in ("train", "search", "val", "test")}
    for a, b in (("train", "search"), ("train", "val"), ("search", "val"), ("train", "test")):
        assert not sides[a] & sides[b]
    public = tmp_path / "public"
    hce.write_public(public)
    train, test = pd.read_csv(public / "train.csv"), pd.read_csv(public / "test.csv", dtype={"eeg_id": str})
    sample = pd.read_csv(public / "sample_submission.csv", dtype={"eeg_id": str})
    assert list(train.columns) == COLUMNS and sorted(train["label_id"].astype(str)) == sorted(split["train"])
    assert list(test.columns) == ["spectrogram_id", "eeg_id", "patient_id"]
    n_hidden = sum(len(split[n]) for n in ("search", "val", "test"))
    assert (
        len(test) == n_hidden
        and test["eeg_id"].is_unique
        and test["eeg_id"].str.fullmatch(r"r[0-9a-f]{10}").all()
    )
    assert list(sample["eeg_id"]) == list(test["eeg_id"])
    # Files: D_train's EEGs and spectrograms under their ids, one EEG file per hidden window.
    assert {p.stem for p in (public / "train_eegs").iterdir()} == set(train["eeg_id"].astype(str))
    assert {p.stem for p in (public / "test_eegs").iterdir()} == set(test["eeg_id"])
    assert {int(p.stem) for p in (public / "test_spectrograms").iterdir()} == set(test["spectrogram_id"])
    assert (public / "example_figures" / "Seizure.png").is_file()
    hidden_eegs = set(table.loc[~table["label_id"].astype(str).isin(split["train"]), "eeg_id"].astype(str))
    names = " ".join(p.name for p in public.rglob("*"))
    assert not any(eeg in names for eeg in hidden_eegs)

    read = {e: eeg_class(public / "test_eegs" / f"{e}.parquet") for e in test["eeg_id"]}
    sure = sample.copy()
    for k, column in enumerate(VOTES):
        sure[column] = [0.95 if read[e] == k else 0.01 for e in sample["eeg_id"]]
    scores = hce.score(to_bytes(sure))
    assert scores.valid
    for name in ("search", "val", "test"):
        assert getattr(scores, name) == pytest.approx(-np.log(0.95), abs=1e-9)
    assert hce.score(to_bytes(sample)).test == pytest.approx(np.log(6), abs=1e-9)
    # A row that does not sum to 1 is rescaled (the README's departures), so it scores worse.
    unnormalised = hce.score(to_bytes(sure.assign(seizure_vote=sure["seizure_vote"] + 0.5)))
    assert unnormalised.valid and unnormalised.test is not None and scores.test is not None
    assert unnormalised.test > scores.test
    bad = hce.score(to_bytes(sure.iloc[:, :-1]))
    assert not bad.valid and "other_vote" in str(bad.reason)
    with pytest.raises(TaskError, match="graded under HCE"):
        grade_on_answers(task, tmp_path / "any.csv")
