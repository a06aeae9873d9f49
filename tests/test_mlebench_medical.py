"""Medical image competitions of MLE-bench Lite, laid out as their prepare.py writes them: SIIM-ISIC (a
DICOM and a JPEG per image, patients kept whole, TFRecords left out) and RANZCR CLiP (catheter
annotations of the labelled images only, patients kept whole); and osic-pulmonary-fibrosis-progression
of MLE-bench-30 (patients kept whole, their CT folders, a forecast row per patient and week)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from evaluation.hce import HiddenConsistentEvaluation
from evaluation.layouts import hidden_consistent_evaluation
from evaluation.mlebench import grade_on_answers, load_mlebench_task
from evaluation.osic_fibrosis import OsicFibrosisHCE
from evaluation.task import Task
from tests.image_files import SEED, every_file, mentions, read_class, write_image
from tests.test_mlebench_presets import copy_rows


def config(repo: Path, name: str, grader: str) -> None:
    folder = repo / "mlebench" / "competitions" / name
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(f"id: {name}\ngrader:\n  name: {grader}\n")


def folders(tmp_path: Path, name: str) -> tuple[Path, Path]:
    public = tmp_path / "data" / name / "prepared" / "public"
    private = tmp_path / "data" / name / "prepared" / "private"
    public.mkdir(parents=True)
    private.mkdir(parents=True)
    (public / "description.md").write_text(f"# {name}\n")
    return public, private


def check_copy(hce: HiddenConsistentEvaluation, copy: Path, group: str) -> pd.DataFrame:
    """The agent's copy has no symlink and no original id of a hidden row; patients stay whole."""
    hce.write_public(copy)
    split = hce.split_ids()
    files = every_file(copy)
    assert not [p for p in files if p.is_symlink()]
    hidden = [i for s in ("search", "val", "test") for i in split[s]]
    blob = b"\n".join([*(p.read_bytes() for p in files), *(str(p.relative_to(copy)).encode() for p in files)])
    assert not [i for i in hidden if mentions(blob, i)]
    train = pd.read_csv(hce.task.train_csv, dtype=str).set_index(hce.task.spec.id_column)[group]
    place = {i: s for s in ("train", "search", "val") for i in split[s]}
    patients = pd.DataFrame({"patient": train, "split": [place[i] for i in train.index]})
    assert (patients.groupby("patient")["split"].nunique() == 1).all()
    train_copy, test_copy = copy_rows(hce, copy, dtype=str)
    assert sorted(train_copy[hce.task.spec.id_column]) == sorted(split["train"])
    return test_copy


def score_three(hce: HiddenConsistentEvaluation, submission: pd.DataFrame) -> list[float | None]:
    scores = hce.score(submission.to_csv(index=False).encode())
    assert scores.valid, scores.reason
    return [scores.search, scores.val, scores.test]


def test_siim_isic_two_files_per_image_and_patients_whole(tmp_path: Path) -> None:
    name = "siim-isic-melanoma-classification"
    rng = np.random.default_rng(11)
    n_labelled, n_test = 120, 30
    images = [f"ISIC_{k:07d}" for k in rng.choice(10**7, n_labelled + n_test, replace=False)]
    patients = [f"IP_{k:07d}" for k in rng.choice(10**7, 40, replace=False)]
    target = rng.integers(0, 2, len(images))
    table = pd.DataFrame(
        {
            "image_name": images,
            "patient_id": [patients[k % 40] for k in range(len(images))],
            "sex": rng.choice(["male", "female"], len(images)),
            "age_approx": rng.choice([35.0, 50.0, 65.0], len(images)),
            "anatom_site_general_challenge": rng.choice(["torso", "head/neck"], len(images)),
            "diagnosis": np.where(target == 1, "melanoma", "nevus"),
            "benign_malignant": np.where(target == 1, "malignant", "benign"),
            "target": target,
        }
    )
    public, private = folders(tmp_path, name)
    train, test = table.iloc[:n_labelled], table.iloc[n_labelled:]
    train.to_csv(public / "train.csv", index=False)
    inputs = ["image_name", "patient_id", "sex", "age_approx", "anatom_site_general_challenge"]
    test[inputs].to_csv(public / "test.csv", index=False)
    test[["image_name", "target"]].assign(target=0).to_csv(public / "sample_submission.csv", index=False)
    test[["image_name", "target"]].to_csv(private / "test.csv", index=False)
    for part, rows in (("train", train), ("test", test)):
        for image, label in zip(rows["image_name"], rows["target"], strict=True):
            # A DICOM's header names its patient, not its image; the bytes here stand in for one.
            dicom = public / part / f"{image}.dcm"
            dicom.parent.mkdir(exist_ok=True)
            dicom.write_bytes(b"DICM" + bytes([int(label)]) * 64)
            write_image(public / "jpeg" / part / f"{image}.jpg", int(label))
    (public / "tfrecords").mkdir()
    (public / "tfrecords" / "train00-2071.tfrec").write_text(";".join(images))
    config(tmp_path / "repo", name, "auc-roc")
    task = load_mlebench_task(tmp_path / "data", name, tmp_path / "repo", tmp_path / "cache")
    hce = HiddenConsistentEvaluation(task, split_seed=SEED)
    copy = tmp_path / "copy"
    test_copy = check_copy(hce, copy, "patient_id")
    assert not (copy / "tfrecords").exists()
    assert {"sex", "age_approx", "patient_id"} <= set(test_copy.columns)
    assert not {"target", "diagnosis", "benign_malignant"} & set(test_copy.columns)
    # Both files of each hidden row sit under its opaque id and agree.
    from_dicom = [(copy / "test" / f"{i}.dcm").read_bytes()[4] for i in test_copy["image_name"]]
    from_jpeg = [read_class(copy / "jpeg" / "test" / f"{i}.jpg") for i in test_copy["image_name"]]
    assert from_dicom == from_jpeg
    submission = pd.DataFrame({"image_name": test_copy["image_name"], "target": from_jpeg})
    assert score_three(hce, submission) == [1.0, 1.0, 1.0]
    assert score_three(hce, submission.assign(target=1 - submission["target"])) == [0.0, 0.0, 0.0]
    answers = tmp_path / "answers.csv"
    pd.read_csv(task.answers_csv).to_csv(answers, index=False)
    assert grade_on_answers(task, answers) == 1.0


CLASSES = ["ETT - Abnormal", "ETT - Borderline", "ETT - Normal", "NGT - Abnormal", "NGT - Borderline"]
CLASSES += ["NGT - Incompletely Imaged", "NGT - Normal", "CVC - Abnormal", "CVC - Borderline"]
ALL_LABELS = [*CLASSES, "CVC - Normal", "Swan Ganz Catheter Present"]


def ranzcr(tmp_path: Path) -> Task:
    name = "ranzcr-clip-catheter-line-classification"
    rng = np.random.default_rng(12)
    n_labelled, n_test = 450, 45
    uids = [f"1.2.826.0.1.3680043.8.498.{k}" for k in rng.choice(10**11, n_labelled + n_test, replace=False)]
    # Each image has one class of the nine (plus the two unscored labels), shown as its grey level.
    k = np.arange(len(uids)) % 9
    rng.shuffle(k)
    labels = {c: (k == i).astype(int) for i, c in enumerate(CLASSES)}
    labels |= {"CVC - Normal": rng.integers(0, 2, len(uids)), "Swan Ganz Catheter Present": 0}
    patients = [f"ec{p:07x}" for p in rng.choice(16**7, 150, replace=False)]
    table = pd.DataFrame(
        {"StudyInstanceUID": uids, **labels, "PatientID": [patients[i % 150] for i in range(len(uids))]}
    )
    public, private = folders(tmp_path, name)
    train, test = table.iloc[:n_labelled], table.iloc[n_labelled:]
    train.to_csv(public / "train.csv", index=False)
    test.to_csv(private / "test.csv", index=False)
    test[["StudyInstanceUID", *CLASSES]].assign(**dict.fromkeys(CLASSES, 0)).to_csv(
        public / "sample_submission.csv", index=False
    )
    annotations = pd.DataFrame(
        {
            "StudyInstanceUID": np.repeat(train["StudyInstanceUID"].to_numpy(), 2),
            "label": "CVC - Normal",
            "data": "[[1487, 1279], [1477, 1168]]",
        }
    )
    annotations.to_csv(public / "train_annotations.csv", index=False)
    for part, rows, classes in (("train", train, k[:n_labelled]), ("test", test, k[n_labelled:])):
        for uid, c in zip(rows["StudyInstanceUID"], classes, strict=True):
            path = public / part / f"{uid}.jpg"
            path.parent.mkdir(exist_ok=True)
            Image.new("L", (8 + int(c), 8), 128).save(path)  # the width tells the class
    config(tmp_path / "repo", name, "auc-roc")
    return load_mlebench_task(tmp_path / "data", name, tmp_path / "repo", tmp_path / "cache")


def test_ranzcr_keeps_only_d_train_annotations_and_patients_whole(tmp_path: Path) -> None:
    task = ranzcr(tmp_path)
    hce = HiddenConsistentEvaluation(task, split_seed=SEED)
    copy = tmp_path / "copy"
    test_copy = check_copy(hce, copy, "PatientID")
    split = hce.split_ids()
    kept = pd.read_csv(copy / "train_annotations.csv", dtype=str)
    assert set(kept["StudyInstanceUID"]) == set(split["train"]) and len(kept) == 2 * len(split["train"])

    def width(uid: str) -> int:
        with Image.open(copy / "test" / f"{uid}.jpg") as image:
            return image.width - 8

    k = np.array([width(u) for u in test_copy["StudyInstanceUID"]])
    submission = pd.DataFrame(
        {
            "StudyInstanceUID": test_copy["StudyInstanceUID"],
            **{c: (k == i).astype(float) for i, c in enumerate(CLASSES)},
        }
    )
    assert score_three(hce, submission) == pytest.approx([1.0, 1.0, 1.0])
    shifted = submission.rename(columns=dict(zip(CLASSES, CLASSES[1:] + CLASSES[:1], strict=True)))
    assert all(s is not None and s < 0.8 for s in score_three(hce, shifted[submission.columns]))
    missing = hce.score(submission.drop(columns=CLASSES[0]).to_csv(index=False).encode())
    assert not missing.valid and "ETT - Abnormal" in str(missing.reason)


OSIC = "osic-pulmonary-fibrosis-progression"


def osic(tmp_path: Path) -> pd.DataFrame:
    """40 patients, 6 to 9 FVC measurements each (one week measured twice), laid out as prepare.py
    does: a tenth of the patients held out, their first measurement public, the answers a grid of
    every patient and week of the held-out range; a folder of CT slices per patient."""
    rng = np.random.default_rng(7)
    rows = []
    for k in range(40):
        patient = f"ID00{rng.integers(10**9, 10**10)}{k:011d}"
        weeks = np.sort(rng.choice(np.arange(-5, 60), rng.integers(6, 10), replace=False))
        fvc = rng.integers(1500, 4000) - 12 * (weeks - weeks[0]) + rng.integers(-80, 80, len(weeks))
        for w, f in zip(weeks, fvc, strict=True):
            rows.append((patient, int(w), int(f), round(f / 40, 3), 50 + k, "Male", "Ex-smoker"))
        if k == 3:  # a week measured twice, as in Kaggle's train.csv
            rows.append((patient, int(weeks[-1]), int(fvc[-1]) + 40, 0.0, 50 + k, "Male", "Ex-smoker"))
    columns = ["Patient", "Weeks", "FVC", "Percent", "Age", "Sex", "SmokingStatus"]
    table = pd.DataFrame(rows, columns=columns)
    public, private = folders(tmp_path, OSIC)
    held = list(pd.unique(table["Patient"]))[-4:]
    train, test = table[~table["Patient"].isin(held)], table[table["Patient"].isin(held)]
    train.to_csv(public / "train.csv", index=False)
    test.sort_values("Weeks").groupby("Patient").first().reset_index().to_csv(
        public / "test.csv", index=False
    )
    grid = pd.DataFrame(
        [(p, w) for p in held for w in range(test["Weeks"].min(), test["Weeks"].max() + 1)],
        columns=["Patient", "Weeks"],
    ).merge(test, on=["Patient", "Weeks"], how="left")
    grid["Patient_Week"] = grid["Patient"] + "_" + grid["Weeks"].astype(str)
    grid["Confidence"] = 100
    grid.to_csv(private / "test.csv", index=False)
    grid[["Patient_Week"]].assign(FVC=2000, Confidence=100).to_csv(
        public / "sample_submission.csv", index=False
    )
    for patient in table["Patient"].unique():
        folder = public / ("test" if patient in held else "train") / patient
        folder.mkdir(parents=True)
        for s in (1, 2):
            (folder / f"{s}.dcm").write_bytes(bytes([s]) * 200)
    config(tmp_path / "repo", OSIC, "modified-laplace-log-likelihood")
    return table


def laplace(truth: np.ndarray, guess: np.ndarray, confidence: np.ndarray) -> float:
    """The competition's metric from its definition (Kaggle's evaluation page)."""
    sigma = np.maximum(confidence, 70)
    delta = np.minimum(np.abs(truth - guess), 1000)
    return float(np.mean(-np.sqrt(2) * delta / sigma - np.log(np.sqrt(2) * sigma)))


def test_osic_keeps_patients_whole_and_scores_their_three_latest_weeks(tmp_path: Path) -> None:
    table = osic(tmp_path)
    task = load_mlebench_task(tmp_path / "data", OSIC, tmp_path / "repo", tmp_path / "cache")
    hce = hidden_consistent_evaluation(task, SEED)
    assert isinstance(hce, OsicFibrosisHCE)
    split = hce.split_ids()
    assert sorted(split["train"] + split["search"] + split["val"]) == sorted(table["Patient"].unique()[:36])
    copy = tmp_path / "public"
    hce.write_public(copy)
    files = every_file(copy)
    hidden = [i for s in ("search", "val", "test") for i in split[s]]
    blob = b"\n".join([*(p.read_bytes() for p in files), *(str(p.relative_to(copy)).encode() for p in files)])
    assert not [p for p in files if p.is_symlink()] and not [i for i in hidden if i.encode() in blob]
    seen = pd.read_csv(copy / "train.csv")
    assert set(seen["Patient"]) == set(split["train"])
    assert sorted(p.name for p in (copy / "train").iterdir()) == sorted(split["train"])
    test = pd.read_csv(copy / "test.csv")
    assert list(test.columns) == list(seen.columns) and len(test) == len(hidden)
    assert sorted(p.name for p in (copy / "test").iterdir()) == sorted(test["Patient"])
    sample = pd.read_csv(copy / "sample_submission.csv")
    weeks = sample["Patient_Week"].str.rsplit("_", n=1).str[1].astype(int)
    per_patient = sample.assign(week=weeks).groupby(sample["Patient_Week"].str.rsplit("_", n=1).str[0])[
        "week"
    ]
    assert per_patient.min().nunique() == 1 and per_patient.max().nunique() == 1, "week ranges differ"

    # The forecast: each patient (known by the unique age) measured weeks' FVC plus noise.
    original = dict(
        zip(test["Patient"], table.groupby("Age")["Patient"].first().loc[test["Age"]], strict=True)
    )
    fvc = table.groupby(["Patient", "Weeks"])["FVC"].mean()
    noise = np.random.default_rng(3)
    guess = []
    for pw in sample["Patient_Week"]:
        opaque, week = pw.rsplit("_", 1)
        key = (original[opaque], int(week))
        guess.append(fvc[key] + noise.normal(0, 150) if key in fvc.index else 2500.0)
    submission = sample.assign(FVC=guess, Confidence=180.0)
    scores = score_three(hce, submission)
    by_original = {
        f"{original[pw.rsplit('_', 1)[0]]}_{pw.rsplit('_', 1)[1]}": g
        for pw, g in zip(sample["Patient_Week"], guess, strict=True)
    }
    for name, got in zip(("search", "val", "test"), scores, strict=True):
        latest = fvc.loc[split[name]].groupby(level=0).tail(3)
        mine = np.array([by_original[f"{p}_{w}"] for p, w in latest.index])
        assert got == pytest.approx(laplace(latest.to_numpy(), mine, np.full(len(mine), 180.0))), name
    # The competition's test set from its answers file: exact forecasts score -ln(sqrt(2) x 100).
    answers = pd.read_csv(task.answers_csv)
    exact = answers[["Patient_Week"]].assign(FVC=answers["FVC"].fillna(2000), Confidence=100)
    exact.to_csv(tmp_path / "sub.csv", index=False)
    assert grade_on_answers(task, tmp_path / "sub.csv") == pytest.approx(-np.log(np.sqrt(2) * 100))
    bad = hce.score(submission.drop(columns="Confidence").to_csv(index=False).encode())
    assert not bad.valid and "Confidence" in (bad.reason or ""), bad
