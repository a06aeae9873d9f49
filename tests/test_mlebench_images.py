"""Image competitions (a folder of images plus a labels CSV) under HCE, each laid out as its mle-bench
prepare.py writes prepared/public and prepared/private: same file and folder names, columns, id formats
and file types (tiny PNG, JPEG and TIFF images written here, each encoding its row's class as a grey
level, so a submission read off the agent's copy of the images is right exactly when every hidden row's
image sits under that row's opaque id)."""

import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from evaluation.hce import HiddenConsistentEvaluation
from evaluation.mlebench import COVERED, NOT_YET, grade_on_answers, load_mlebench_task
from evaluation.row_files import fill
from tests.test_mlebench_presets import copy_rows

SEED = 2603
N_LABELLED, N_TEST = 100, 24


def write_image(path: Path, k: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (8, 8), 30 + 60 * k).save(path)


def read_class(path: Path | IO[bytes]) -> int:
    with Image.open(path) as image:
        return round((float(np.mean(np.asarray(image.convert("L")))) - 30) / 60)


def hex_ids(rng: np.random.Generator, n: int, digits: int, suffix: str = "") -> list[str]:
    return [f"{k:0{digits}x}{suffix}" for k in rng.choice(16**8, n, replace=False) * 7919]


@dataclass
class Competition:
    """One competition's layout, read off its prepare.py, and how its classes become submission cells."""

    name: str
    grader: str
    ids: Callable[[np.random.Generator], list[str]]
    train_file: str
    answers_file: str
    public_test: bool
    train_image: str  # the pattern of a labelled row's image, over {id}
    test_image: str
    train_columns: Callable[[np.ndarray], dict[str, object]]  # the labels CSV's label columns
    answer_columns: Callable[[np.ndarray], dict[str, object]]  # the answers' and submission's columns
    sample_columns: dict[str, object]
    perfect: float
    classes: int = 4
    extra: Callable[[Path, list[str], np.ndarray], None] = field(default=lambda public, ids, k: None)
    # The answers' columns when they differ from a perfect submission's (one hotel, five guesses).
    truth_columns: Callable[[np.ndarray], dict[str, object]] | None = None


def one_hot(names: list[str]) -> Callable[[np.ndarray], dict[str, object]]:
    return lambda k: {name: (k == i).astype(int) for i, name in enumerate(names)}


PATHOLOGY_2021 = ["healthy", "scab", "rust frog_eye_leaf_spot", "complex powdery_mildew"]
PATHOLOGY_2020 = ["healthy", "multiple_diseases", "rust", "scab"]
BREEDS = ["affenpinscher", "beagle", "boxer", "chow"]
PET_COLUMNS = ["Subject Focus", "Eyes", "Face", "Near", "Action", "Accessory", "Group", "Collage"]
PET_COLUMNS += ["Human", "Occlusion", "Info", "Blur"]


INCHI = ["InChI=1S/H2O/h1H2", "InChI=1S/CH4/h1H4", "InChI=1S/C2H6O/c1-2-3/h3H,2H2,1H3", "InChI=1S/O2/c1-2"]
IMET = ["13 405", "51", "813 1092 147", "189"]


def imet_extra(public: Path, ids: list[str], k: np.ndarray) -> None:
    names = {"attribute_id": [13, 51, 147, 189, 405, 813, 1092], "attribute_name": list("abcdefg")}
    pd.DataFrame(names).to_csv(public / "labels.csv", index=False)


def hotel_columns(k: np.ndarray) -> dict[str, object]:
    return {"chain": k % 3, "hotel_id": 36000 + k, "timestamp": "2018-04-20 21:17:33"}


def cassava_extra(public: Path, ids: list[str], k: np.ndarray) -> None:
    (public / "label_num_to_disease_map.json").write_text(json.dumps({"0": "CBB", "1": "CBSD", "2": "CGM"}))
    # TFRecords hold every image with its name and label: the hidden rows' too.
    for folder, part in (
        ("train_tfrecords", slice(0, N_LABELLED)),
        ("test_tfrecords", slice(N_LABELLED, None)),
    ):
        (public / folder).mkdir()
        payload = "".join(f"{i}:{c};" for i, c in zip(ids[part], k[part], strict=True))
        (public / folder / f"ld_{folder[:-10]}00-{len(ids[part])}.tfrec").write_text(payload)


COMPETITIONS = [
    Competition(
        "aptos2019-blindness-detection",
        "quadratic-weighted-kappa",
        lambda rng: hex_ids(rng, N_LABELLED + N_TEST, 12),
        "train.csv",
        "test.csv",
        True,
        "train_images/{id}.png",
        "test_images/{id}.png",
        lambda k: {"diagnosis": k},
        lambda k: {"diagnosis": k},
        {"diagnosis": 0},
        1.0,
    ),
    Competition(
        "cassava-leaf-disease-classification",
        "accuracy",
        lambda rng: [f"{n}.jpg" for n in rng.choice(10**9, N_LABELLED + N_TEST, replace=False) + 10**9],
        "train.csv",
        "test.csv",
        False,
        "train_images/{id}",
        "test_images/{id}",
        lambda k: {"label": k},
        lambda k: {"label": k},
        {"label": 4},
        1.0,
        extra=cassava_extra,
    ),
    Competition(
        "plant-pathology-2021-fgvc8",
        "micro-f1-score",
        lambda rng: hex_ids(rng, N_LABELLED + N_TEST, 16, ".jpg"),
        "train.csv",
        "answers.csv",
        False,
        "train_images/{id}",
        "test_images/{id}",
        lambda k: {"labels": [PATHOLOGY_2021[c] for c in k]},
        lambda k: {"labels": [PATHOLOGY_2021[c] for c in k]},
        {"labels": "healthy"},
        1.0,
    ),
    Competition(
        "petfinder-pawpularity-score",
        "root-mean-squared-error",
        lambda rng: hex_ids(rng, N_LABELLED + N_TEST, 32),
        "train.csv",
        "test.csv",
        True,
        "train/{id}.jpg",
        "test/{id}.jpg",
        lambda k: {**{c: (k + i) % 2 for i, c in enumerate(PET_COLUMNS)}, "Pawpularity": 10 + 25 * k},
        lambda k: {"Pawpularity": 10 + 25 * k},
        {"Pawpularity": 42.17},
        0.0,
    ),
    Competition(
        "plant-pathology-2020-fgvc7",
        "mean-column-wise-roc-auc",
        lambda rng: [f"Train_{i}" for i in range(N_LABELLED)] + [f"Test_{i}" for i in range(N_TEST)],
        "train.csv",
        "test.csv",
        True,
        "images/{id}.jpg",
        "images/{id}.jpg",
        one_hot(PATHOLOGY_2020),
        one_hot(PATHOLOGY_2020),
        dict.fromkeys(PATHOLOGY_2020, 0.25),
        1.0,
    ),
    Competition(
        "histopathologic-cancer-detection",
        "auc-roc",
        lambda rng: hex_ids(rng, N_LABELLED + N_TEST, 40),
        "train_labels.csv",
        "answers.csv",
        False,
        "train/{id}.tif",
        "test/{id}.tif",
        lambda k: {"label": k},
        lambda k: {"label": k},
        {"label": 0},
        1.0,
        classes=2,
    ),
    Competition(
        "imet-2020-fgvc7",
        "micro-f1-score",
        lambda rng: hex_ids(rng, N_LABELLED + N_TEST, 16),
        "train.csv",
        "answers.csv",
        False,
        "train/{id}.png",
        "test/{id}.png",
        lambda k: {"attribute_ids": [IMET[c] for c in k]},
        lambda k: {"attribute_ids": [IMET[c] for c in k]},
        {"attribute_ids": "0 1 2"},
        1.0,
        extra=imet_extra,
    ),
    Competition(
        "hotel-id-2021-fgvc8",
        "map-at-5",
        lambda rng: hex_ids(rng, N_LABELLED + N_TEST, 16, ".jpg"),
        "train.csv",
        "test.csv",
        False,
        "train_images/{chain}/{id}",
        "test_images/{id}",
        hotel_columns,
        lambda k: {"hotel_id": [f"{36000 + c} 1 2 3 4" for c in k]},
        {"hotel_id": "36363 53586 18807 64314 60181"},
        1.0,
        truth_columns=hotel_columns,  # prepare.py's answers: the test rows of train.csv
    ),
    Competition(
        "bms-molecular-translation",
        "levenshtein-distance",
        lambda rng: hex_ids(rng, N_LABELLED + N_TEST, 12),
        "train_labels.csv",
        "test.csv",
        False,
        "train/{id[0]}/{id[1]}/{id[2]}/{id}.png",
        "test/{id[0]}/{id[1]}/{id[2]}/{id}.png",
        lambda k: {"InChI": [INCHI[c] for c in k]},
        lambda k: {"InChI": [INCHI[c] for c in k]},
        {"InChI": "InChI=1S/H2O/h1H2"},
        0.0,
        extra=lambda public, ids, k: pd.DataFrame({"InChI": INCHI}).to_csv(
            public / "extra_approved_InChIs.csv", index=False
        ),
    ),
    Competition(
        "dog-breed-identification",
        "multi-class-log-loss",
        lambda rng: hex_ids(rng, N_LABELLED + N_TEST, 32),
        "labels.csv",
        "test.csv",
        False,
        "train/{id}.jpg",
        "test/{id}.jpg",
        lambda k: {"breed": [BREEDS[c] for c in k]},
        one_hot(BREEDS),
        dict.fromkeys(BREEDS, 1 / len(BREEDS)),
        0.0,
    ),
]

ID_COLUMNS = {
    "aptos2019-blindness-detection": "id_code",
    "cassava-leaf-disease-classification": "image_id",
    "plant-pathology-2021-fgvc8": "image",
    "petfinder-pawpularity-score": "Id",
    "plant-pathology-2020-fgvc7": "image_id",
    "histopathologic-cancer-detection": "id",
    "dog-breed-identification": "id",
    "imet-2020-fgvc7": "id",
    "hotel-id-2021-fgvc8": "image",
    "bms-molecular-translation": "image_id",
}


def prepare(c: Competition, data: Path, repo: Path) -> tuple[str, dict[str, int]]:
    """Write prepared/public and prepared/private as the competition's prepare.py does."""
    rng = np.random.default_rng(len(c.name))
    ids = c.ids(rng)
    k = np.arange(N_LABELLED + N_TEST) % c.classes
    rng.shuffle(k)
    id_column = ID_COLUMNS[c.name]
    public, private = data / c.name / "prepared" / "public", data / c.name / "prepared" / "private"
    public.mkdir(parents=True)
    private.mkdir(parents=True)
    labelled, test = slice(0, N_LABELLED), slice(N_LABELLED, None)
    train = pd.DataFrame({id_column: ids[labelled], **c.train_columns(k[labelled])})
    train.to_csv(public / c.train_file, index=False)
    truth = (c.truth_columns or c.answer_columns)(k[test])
    answers = pd.DataFrame({id_column: ids[test], **truth})
    answers.to_csv(private / c.answers_file, index=False)
    if c.public_test:
        inputs = pd.DataFrame({id_column: ids[test], **c.train_columns(k[test])})
        inputs[[col for col in inputs.columns if col not in answers.columns or col == id_column]].to_csv(
            public / "test.csv", index=False
        )
    sample = pd.DataFrame(
        {id_column: ids[test], **{col: [v] * N_TEST for col, v in c.sample_columns.items()}}
    )
    sample.to_csv(public / "sample_submission.csv", index=False)
    for row, label in zip(records(train), k[labelled], strict=True):
        write_image(public / c.train_image.format(**{**row, "id": row[id_column]}), int(label))
    for row_id, label in zip(ids[test], k[test], strict=True):
        write_image(public / c.test_image.format(id=row_id), int(label))
    c.extra(public, ids, k)
    (public / "description.md").write_text(f"# {c.name}\n")
    config = repo / "mlebench" / "competitions" / c.name
    config.mkdir(parents=True)
    (config / "config.yaml").write_text(
        f"id: {c.name}\ndataset:\n  answers: {c.name}/prepared/private/{c.answers_file}\n"
        f"grader:\n  name: {c.grader}\n"
    )
    return id_column, dict(zip(ids, map(int, k), strict=True))


def records(table: pd.DataFrame) -> list[dict[str, str]]:
    return [{str(c): str(v) for c, v in row.items()} for _, row in table.iterrows()]


def mentions(blob: bytes, row_id: str) -> bool:
    """Whether the id occurs as a whole token (Train_6 is not in Train_60)."""
    return (
        re.search(rb"(?<![A-Za-z0-9])" + re.escape(row_id.encode()) + rb"(?![A-Za-z0-9])", blob) is not None
    )


def every_file(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink())


@pytest.mark.parametrize("competition", COMPETITIONS, ids=lambda c: c.name)
def test_an_image_competition_runs_under_hce(competition: Competition, tmp_path: Path) -> None:
    c = competition
    assert c.name in COVERED and c.name not in NOT_YET
    id_column, truth = prepare(c, tmp_path / "data", tmp_path / "repo")
    task = load_mlebench_task(tmp_path / "data", c.name, tmp_path / "repo", tmp_path / "cache")
    assert task.spec.row_files is not None
    hce = HiddenConsistentEvaluation(task, split_seed=SEED)
    split = hce.split_ids()
    assert len(split["test"]) == N_TEST and sum(len(v) for v in split.values()) == N_LABELLED + N_TEST
    public = tmp_path / "public"
    hce.write_public(public)

    # The agent's copy: no symlink, no original id of a hidden row in any name or any file's bytes.
    files = every_file(public)
    assert not [p for p in files if p.is_symlink()]
    hidden = [i for name in ("search", "val", "test") for i in split[name]]
    names = "\n".join(str(p.relative_to(public)) for p in files)
    assert not [i for i in hidden if mentions(names.encode(), i)]
    blob = b"\n".join(p.read_bytes() for p in files)
    assert not [i for i in hidden if mentions(blob, i)]
    # D_train's images under their own names; every hidden row's image where the test images live.
    pattern_train, pattern_test = task.spec.row_files.train[0], task.spec.row_files.test[0]
    train_copy, test_copy = copy_rows(hce, public, dtype={id_column: str})
    assert sorted(train_copy[id_column]) == sorted(split["train"])
    train_rows = records(train_copy)
    expected = {fill(pattern_train, row) for row in train_rows}
    expected |= {fill(pattern_test, {id_column: i}) for i in test_copy[id_column]}
    images = {str(p.relative_to(public)) for p in files if p.suffix in (".png", ".jpg", ".tif")}
    assert images == expected and len(test_copy) == len(hidden)
    # No label of a hidden row: test.csv has no label column, the TFRecords stay out.
    labels = set(task.spec.target_columns) | {task.spec.label_column} - {None}
    assert labels.isdisjoint(test_copy.columns)
    assert not [p for p in files if "tfrec" in p.name]
    for name in task.spec.public_files:
        assert (public / name).read_bytes() == (task.public_dir / name).read_bytes()
    # Each image in the copy shows the class of the row it belongs to.
    for row in train_rows[:10]:
        assert read_class(public / fill(pattern_train, row)) == truth[row[id_column]]

    # A valid submission, read off the copy's images: scored on all three splits by the grader.
    predicted = np.array(
        [read_class(public / fill(pattern_test, {id_column: i})) for i in test_copy[id_column]]
    )
    submission = pd.DataFrame({id_column: test_copy[id_column], **c.answer_columns(predicted)})
    sample_columns = list(pd.read_csv(public / "sample_submission.csv", nrows=0).columns)
    assert list(submission.columns) == sample_columns
    scores = hce.score(submission.to_csv(index=False).encode())
    assert scores.valid, scores.reason
    assert [scores.search, scores.val, scores.test] == pytest.approx([c.perfect] * 3, abs=1e-9)
    # A wrong one scores worse on every split.
    wrong = pd.DataFrame({id_column: test_copy[id_column], **c.answer_columns((predicted + 1) % c.classes)})
    worse = hce.score(wrong.to_csv(index=False).encode())
    assert worse.valid, worse.reason
    lower = task.lower_is_better
    for value in (worse.search, worse.val, worse.test):
        assert value is not None and (value > c.perfect if lower else value < c.perfect)
    # An invalid one: a row left out, with the reason.
    scores = hce.score(submission.iloc[1:].to_csv(index=False).encode())
    assert not scores.valid and "missing 1 id" in str(scores.reason)
    # The competition's own answers graded on its own test set, as mle-bench grades them.
    answers = tmp_path / "answers.csv"
    pd.read_csv(task.answers_csv)[sample_columns].to_csv(answers, index=False)
    assert grade_on_answers(task, answers) == pytest.approx(c.perfect, abs=1e-9)


def test_whales_no_training_image_shows_are_scored_as_new_whale(tmp_path: Path) -> None:
    name = "whale-categorization-playground"
    rng = np.random.default_rng(8)
    # 10 whales with several images, 50 with one (too many classes to stratify, as in the real data):
    # a singleton is new to D_train wherever the split puts it outside D_train.
    whales = [f"w_{k:07x}" for k in rng.choice(16**7, 60, replace=False)]
    index = np.concatenate([np.repeat(np.arange(10), 7), np.arange(10, 60)])
    rng.shuffle(index)
    images = hex_ids(rng, len(index), 8, ".jpg")
    labelled = len(index) - 15
    public, private = (
        tmp_path / "data" / name / "prepared" / "public",
        tmp_path / "data" / name / "prepared" / "private",
    )
    public.mkdir(parents=True)
    private.mkdir(parents=True)
    train = pd.DataFrame({"Image": images[:labelled], "Id": [whales[i] for i in index[:labelled]]})
    train.to_csv(public / "train.csv", index=False)
    answers = pd.DataFrame({"Image": images[labelled:], "Id": [whales[i] for i in index[labelled:]]})
    answers.loc[~answers["Id"].isin(set(train["Id"])), "Id"] = "new_whale"  # as prepare.py does
    answers.to_csv(private / "test.csv", index=False)
    sample = answers.assign(Id="new_whale w_1287fbc w_98baff9 w_7554f44 w_1eafe46")
    sample.to_csv(public / "sample_submission.csv", index=False)
    for k, (image, whale) in enumerate(zip(images, index, strict=True)):
        path = public / ("train" if k < labelled else "test") / image
        path.parent.mkdir(exist_ok=True)
        Image.new("L", (8 + int(whale), 8), 128).save(path)  # the width tells the whale
    (public / "description.md").write_text(f"# {name}\n")
    config = tmp_path / "repo" / "mlebench" / "competitions" / name
    config.mkdir(parents=True)
    (config / "config.yaml").write_text(f"id: {name}\ngrader:\n  name: MAP@5\n")
    task = load_mlebench_task(tmp_path / "data", name, tmp_path / "repo", tmp_path / "cache")
    assert task.spec.unseen_label == "new_whale"
    hce = HiddenConsistentEvaluation(task, split_seed=SEED)
    split = hce.split_ids()
    whale_of = dict(zip(train["Image"], train["Id"], strict=True))
    seen = {whale_of[i] for i in split["train"]}
    unseen_hidden = [i for s in ("search", "val") for i in split[s] if whale_of[i] not in seen]
    assert unseen_hidden, "the fixture must put a whale new to D_train into D_search or D_val"
    copy = tmp_path / "public"
    hce.write_public(copy)
    train_copy, test_copy = copy_rows(hce, copy, dtype=str)
    known = set(train_copy["Id"])

    def whale_in(path: Path) -> str:
        with Image.open(path) as image:
            return whales[image.width - 8]

    guesses = [whale_in(copy / "test" / i) for i in test_copy["Image"]]
    perfect = [g if g in known else "new_whale" for g in guesses]
    submission = pd.DataFrame({"Image": test_copy["Image"], "Id": [f"{p} w_0000000" for p in perfect]})
    scores = hce.score(submission.to_csv(index=False).encode())
    assert scores.valid and [scores.search, scores.val, scores.test] == [1.0, 1.0, 1.0], scores
    # Naming the true whale where it is new to D_train is wrong by the rule: lower where that happens.
    named = hce.score(pd.DataFrame({"Image": test_copy["Image"], "Id": guesses}).to_csv(index=False).encode())
    for s in ("search", "val"):
        relabelled = any(whale_of[i] not in seen for i in split[s])
        assert (getattr(named, s) < 1.0) == relabelled


def test_aerial_cactus_images_in_zip_archives(tmp_path: Path) -> None:
    name = "aerial-cactus-identification"
    rng = np.random.default_rng(9)
    ids = hex_ids(rng, N_LABELLED + N_TEST, 32, ".jpg")
    k = rng.integers(0, 2, len(ids))
    public, private = (
        tmp_path / "data" / name / "prepared" / "public",
        tmp_path / "data" / name / "prepared" / "private",
    )
    public.mkdir(parents=True)
    private.mkdir(parents=True)
    table = pd.DataFrame({"id": ids, "has_cactus": k})
    table.iloc[:N_LABELLED].to_csv(public / "train.csv", index=False)
    table.iloc[N_LABELLED:].to_csv(private / "test.csv", index=False)
    table.iloc[N_LABELLED:].assign(has_cactus=0.5).to_csv(public / "sample_submission.csv", index=False)
    # As prepare.py: the images written to train/ and test/, zipped flat into train.zip and test.zip.
    for part, rows in (("train", table.iloc[:N_LABELLED]), ("test", table.iloc[N_LABELLED:])):
        with zipfile.ZipFile(public / f"{part}.zip", "w", zipfile.ZIP_DEFLATED) as archive:
            for row_id, label in zip(rows["id"], rows["has_cactus"], strict=True):
                image = tmp_path / "raw" / row_id
                write_image(image, int(label))
                archive.write(image, arcname=row_id)
    (public / "description.md").write_text(f"# {name}\n")
    config = tmp_path / "repo" / "mlebench" / "competitions" / name
    config.mkdir(parents=True)
    (config / "config.yaml").write_text(f"id: {name}\ngrader:\n  name: auc-roc\n")
    task = load_mlebench_task(tmp_path / "data", name, tmp_path / "repo", tmp_path / "cache")
    hce = HiddenConsistentEvaluation(task, split_seed=SEED)
    split = hce.split_ids()
    copy = tmp_path / "public"
    hce.write_public(copy)
    test_copy = copy_rows(hce, copy, dtype=str)[1]
    with zipfile.ZipFile(copy / "train.zip") as archive:
        assert sorted(archive.namelist()) == sorted(split["train"])
    with zipfile.ZipFile(copy / "test.zip") as archive:
        assert sorted(archive.namelist()) == sorted(test_copy["id"])
        hidden = [i for s in ("search", "val", "test") for i in split[s]]
        blob = b"\n".join([*(p.read_bytes() for p in every_file(copy)), *map(str.encode, archive.namelist())])
        assert not [i for i in hidden if mentions(blob, i)]

        def cactus(member: str) -> int:
            with archive.open(member) as f:
                return read_class(f)

        predicted = [cactus(i) for i in test_copy["id"]]
    submission = pd.DataFrame({"id": test_copy["id"], "has_cactus": predicted})
    scores = hce.score(submission.to_csv(index=False).encode())
    assert scores.valid and [scores.search, scores.val, scores.test] == [1.0, 1.0, 1.0], scores
    flipped = submission.assign(has_cactus=1 - submission["has_cactus"])
    assert hce.score(flipped.to_csv(index=False).encode()).test == 0.0
    assert "missing 1 id" in str(hce.score(submission.iloc[1:].to_csv(index=False).encode()).reason)
