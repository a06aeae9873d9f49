"""Building a table-shaped offline task (one id column, target columns) and its reference ladder.

A task is a pair of labelled tables (train rows, test rows) from data a pip package ships. The build
writes the MLE-bench layout, and a leaderboard made of simple baselines trained on fractions of the
public train.csv and scored with the task's own metric on the hidden test rows. Every model and every
split is seeded, so two builds write identical bytes.
"""

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.decomposition import TruncatedSVD
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.multioutput import MultiOutputRegressor
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from evaluation.bundled.lagged_inputs import lagged_target_inputs
from evaluation.bundled.provenance import PackageData
from evaluation.metrics import get_metric

TRAIN_FRACTIONS = (0.05, 0.1, 0.25, 0.5, 1.0)
# The smallest training subset of the ladder: enough rows for k = 15 neighbours and every class.
MIN_SUBSET_ROWS = 30
MAX_CATEGORIES = 50
TEXT_COMPONENTS = 50
_SEED = 0

Problem = Literal["classification", "regression"]


@dataclass(frozen=True)
class TableTask:
    """An offline task: what to load, what to predict, how it is scored, and how to describe it."""

    name: str
    version: int
    title: str
    metric: str
    problem: Problem
    target_columns: tuple[str, ...]
    overview: str
    source: str
    # (train rows, test rows), both with the target columns and without an id.
    load: Callable[[], tuple[pd.DataFrame, pd.DataFrame]]
    id_prefix: str
    # The package files `load` reads: masked in sandboxes, since they hold every label.
    provenance: tuple[PackageData, ...]
    text_column: str | None = None
    # A time-ordered task (the test rows after the training rows): the column of each row's time,
    # task.yaml's `time_column`, so that HCE splits the labelled rows in time too.
    time_column: str | None = None


def _scaled(model: Callable[[], Any]) -> Callable[[], Any]:
    return lambda: make_pipeline(StandardScaler(), model())


def _classifiers() -> list[tuple[str, Callable[[], Any]]]:
    models: list[tuple[str, Callable[[], Any]]] = [
        ("constant prior", partial(DummyClassifier, strategy="prior")),
        ("gaussian-nb", GaussianNB),
    ]
    models += [
        (f"logreg C={c}", _scaled(partial(LogisticRegression, C=c, max_iter=2000)))
        for c in (0.001, 0.01, 0.1, 1.0)
    ]
    models += [
        (f"tree depth={d}", partial(DecisionTreeClassifier, max_depth=d, random_state=_SEED))
        for d in (2, 4, 8)
    ]
    models += [(f"knn k={k}", _scaled(partial(KNeighborsClassifier, n_neighbors=k))) for k in (1, 5, 15)]
    models += [
        (f"random-forest trees={n}", partial(RandomForestClassifier, n_estimators=n, random_state=_SEED))
        for n in (10, 100)
    ]
    models.append(("hist-gradient-boosting", partial(HistGradientBoostingClassifier, random_state=_SEED)))
    return models


def _regressors(multi_target: bool) -> list[tuple[str, Callable[[], Any]]]:
    models: list[tuple[str, Callable[[], Any]]] = [
        ("constant mean", partial(DummyRegressor, strategy="mean")),
        ("constant median", partial(DummyRegressor, strategy="median")),
    ]
    models += [(f"ridge alpha={a}", _scaled(partial(Ridge, alpha=a))) for a in (0.1, 1.0, 10.0, 100.0)]
    models += [
        (f"tree depth={d}", partial(DecisionTreeRegressor, max_depth=d, random_state=_SEED))
        for d in (2, 4, 8)
    ]
    models += [(f"knn k={k}", _scaled(partial(KNeighborsRegressor, n_neighbors=k))) for k in (1, 5, 15)]
    models += [
        (f"random-forest trees={n}", partial(RandomForestRegressor, n_estimators=n, random_state=_SEED))
        for n in (10, 100)
    ]
    hgb = partial(HistGradientBoostingRegressor, random_state=_SEED)
    # Gradient boosting predicts one target at a time; one model per target column.
    models.append(("hist-gradient-boosting", (lambda: MultiOutputRegressor(hgb())) if multi_target else hgb))
    return models


def features(task: TableTask, train: pd.DataFrame, test: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Numbers for the ladder's models: numeric columns (NaN -> train median), one-hot categories,
    and for a text column a 50-dimensional TF-IDF + SVD projection. Fitted on train rows only."""
    inputs = [c for c in train.columns if c not in task.target_columns and c != task.text_column]
    numeric = [c for c in inputs if pd.api.types.is_numeric_dtype(train[c])]
    categorical = [c for c in inputs if c not in numeric and train[c].nunique() <= MAX_CATEGORIES]
    medians = train[numeric].median()
    parts_train = [train[numeric].fillna(medians).to_numpy(dtype=float)]
    parts_test = [test[numeric].fillna(medians).to_numpy(dtype=float)]
    for column in categorical:
        levels = sorted(train[column].astype(str).unique())
        parts_train.append(np.stack([(train[column].astype(str) == v).to_numpy(float) for v in levels], 1))
        parts_test.append(np.stack([(test[column].astype(str) == v).to_numpy(float) for v in levels], 1))
    if task.text_column is not None:
        tfidf = TfidfVectorizer(min_df=2, max_features=20000, sublinear_tf=True)
        svd = TruncatedSVD(n_components=TEXT_COMPONENTS, random_state=_SEED)
        parts_train.append(svd.fit_transform(tfidf.fit_transform(train[task.text_column].astype(str))))
        parts_test.append(svd.transform(tfidf.transform(test[task.text_column].astype(str))))
    return np.hstack(parts_train), np.hstack(parts_test)


def _subsets(
    x: np.ndarray, y: np.ndarray, classification: bool
) -> dict[float, tuple[np.ndarray, np.ndarray]]:
    subsets = {}
    for fraction in TRAIN_FRACTIONS:
        size = max(MIN_SUBSET_ROWS, round(fraction * len(y)))
        if size >= len(y):
            subsets[fraction] = (x, y)
            continue
        strata = y if classification and y.ndim == 1 else None
        xs, _, ys, _ = train_test_split(x, y, train_size=size, stratify=strata, random_state=_SEED)
        subsets[fraction] = (xs, ys)
    return subsets


def reference_ladder(task: TableTask, train: pd.DataFrame, test: pd.DataFrame) -> list[tuple[str, float]]:
    """(entry, score) of every baseline at every training fraction, best first by the task's metric."""
    metric = get_metric(task.metric)
    targets = list(task.target_columns)
    x_train, x_test = features(task, train, test)
    classification = task.problem == "classification"
    y_train = train[targets[0]].to_numpy() if len(targets) == 1 else train[targets].to_numpy(dtype=float)
    answers = test[targets].reset_index(drop=True)
    models = _classifiers() if classification else _regressors(len(targets) > 1)
    entries = []
    for name, make in models:
        for fraction, (x, y) in _subsets(x_train, y_train, classification).items():
            model = make()
            # Convergence warnings of the small baselines are expected and say nothing to the user.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(x, y)
                predicted = _predict(model, x_test, task, metric.wants_probabilities)
            score = float(metric.fn(answers, pd.DataFrame(predicted, columns=targets), targets))
            entries.append((f"{name} frac={fraction}", score))
    # Stable sort: ties keep the fixed order of the baseline list.
    return sorted(entries, key=lambda entry: entry[1] if metric.lower_is_better else -entry[1])


def _predict(model: Any, x: np.ndarray, task: TableTask, probabilities: bool) -> np.ndarray:
    if task.problem == "classification" and probabilities:
        # Binary 0/1 target: the probability of class 1 (a subset may lack it: then 0).
        proba = model.predict_proba(x)
        classes = list(model.classes_)
        return proba[:, classes.index(1)] if 1 in classes else np.zeros(len(x))
    predicted = np.asarray(model.predict(x))
    if task.metric in ("root-mean-squared-log-error", "mean-column-wise-rmsle"):
        # RMSLE is undefined below -1; a non-negative target is never predicted negative.
        predicted = np.clip(predicted, 0, None)
    return predicted.reshape(len(x), -1) if predicted.ndim > 1 else predicted


def _with_ids(table: pd.DataFrame, prefix: str, salt: int) -> pd.DataFrame:
    # Ids in a shuffled order, so neither the row order nor the id reveals time or label.
    order = np.random.RandomState(_SEED + salt).permutation(len(table))
    ids = np.empty(len(table), dtype=object)
    ids[order] = [f"{prefix}{i + 1:05d}" for i in range(len(table))]
    out = table.reset_index(drop=True).copy()
    out.insert(0, "id", ids)
    return out.sort_values("id").reset_index(drop=True)


def _task_yaml(task: TableTask) -> str:
    targets = ", ".join(task.target_columns)
    return (
        f"name: {task.name}\nmetric: {task.metric}\nid_column: id\ntarget_columns: [{targets}]\n"
        f"leaderboard: leaderboard.csv\nleaderboard_kind: reference-ladder\ndescription: {task.title}\n"
        + ("" if task.time_column is None else f"time_column: {task.time_column}\n")
    )


def _description(task: TableTask, sample: pd.DataFrame) -> str:
    direction = "Lower" if get_metric(task.metric).lower_is_better else "Higher"
    header = ",".join(sample.columns)
    first = ",".join(str(v) for v in sample.iloc[0])
    return (
        f"# {task.title}\n\n## Overview\n\n{task.overview.strip()}\n\n## Data\n\n"
        "- `train.csv`: the training set, with the target column(s) "
        f"{', '.join(f'`{c}`' for c in task.target_columns)}.\n"
        "- `test.csv`: the test set, the same columns without the targets.\n"
        "- `sample_submission.csv`: a submission in the correct format.\n\n"
        f"Source: {task.source}\n\n## Evaluation\n\nSubmissions are scored by **{task.metric}** "
        f"(MLE-bench grader name). {direction} is better.\n\n## Submission format\n\n"
        f"A CSV file with a header and one row per id of `test.csv`:\n\n```\n{header}\n{first}\n...\n```\n"
    )


def _leaderboard_md(task: TableTask) -> str:
    return (
        f"# Leaderboard of the {task.name} task\n\n`leaderboard.csv` is a **reference ladder of simple "
        "baselines, not a Kaggle leaderboard**: the task never was a competition. Each entry is a standard "
        "model (constant, naive Bayes or ridge, logistic regression, decision trees, k-nearest neighbours, "
        "random forests, histogram gradient boosting) trained on a fraction "
        f"({', '.join(map(str, TRAIN_FRACTIONS))}; at least {MIN_SUBSET_ROWS} rows) of the public "
        f"`train.csv` and scored by {task.metric} on the hidden test set. Medals and percentile ranks "
        'against it mean "better than this share of simple baselines".\n\n'
        f"Ladder version: {task.name}-v{task.version}.\n"
    )


def _refuse_lagged_targets(task: TableTask, time_column: str, rows: pd.DataFrame) -> None:
    """Refuse to build a time-ordered task with an input that is its target shifted in time (or nearly
    so): test.csv holds every hidden row's inputs, so the later rows would give the labels away."""
    # Every row after the first may be hidden (the test rows and, split in time, D_search and D_val).
    found = lagged_target_inputs(rows, time_column, task.target_columns, len(rows) - 1)
    if found:
        raise ValueError(
            f"{task.name}: inputs give the target away across rows: "
            + "; ".join(f"{column} {why}" for column, why in found.items())
        )


def build_table_task(task: TableTask, dest: Path) -> None:
    """Write the task (task.yaml, prepared/, leaderboard) into the empty directory `dest`."""
    raw_train, raw_test = task.load()
    if task.time_column is not None:
        _refuse_lagged_targets(task, task.time_column, pd.concat([raw_train, raw_test], ignore_index=True))
    train = _with_ids(raw_train, task.id_prefix, 1)
    test = _with_ids(raw_test, task.id_prefix + "t", 2)
    targets = list(task.target_columns)
    public = dest / "prepared" / "public"
    private = dest / "prepared" / "private"
    public.mkdir(parents=True)
    private.mkdir(parents=True)
    if get_metric(task.metric).wants_probabilities or task.problem == "regression":
        fill: dict[str, Any] = {c: round(float(train[c].mean()), 6) for c in targets}
    else:
        fill = {c: train[c].mode().iloc[0] for c in targets}
    sample = test[["id"]].assign(**fill)
    (dest / "task.yaml").write_text(_task_yaml(task))
    (public / "description.md").write_text(_description(task, sample))
    train.to_csv(public / "train.csv", index=False)
    test.drop(columns=targets).to_csv(public / "test.csv", index=False)
    test[["id", *targets]].to_csv(private / "test.csv", index=False)
    sample.to_csv(public / "sample_submission.csv", index=False)
    # Trained on train.csv as written (minus the id), so anyone can rebuild the ladder from the task's files.
    ladder = reference_ladder(task, train.drop(columns="id"), test.drop(columns="id"))
    board = pd.DataFrame(
        {
            "rank": range(1, len(ladder) + 1),
            "score": [f"{score:.6f}" for _, score in ladder],
            "entry": [entry for entry, _ in ladder],
        }
    )
    board.to_csv(dest / "leaderboard.csv", index=False)
    (dest / "leaderboard.md").write_text(_leaderboard_md(task))
