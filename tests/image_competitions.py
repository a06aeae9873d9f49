"""The image competitions of tests/test_mlebench_images.py, each laid out as its mle-bench prepare.py
writes prepared/public and prepared/private: same file and folder names, columns, id formats and file
types (tiny PNG, JPEG and TIFF images, each encoding its row's class as a grey level)."""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tests.image_files import N_LABELLED, N_TEST, hex_ids, records, write_image


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
