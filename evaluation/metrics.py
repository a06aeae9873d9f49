"""Metrics by MLE-bench grader name, computed on answers and a submission already aligned by id."""

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

MetricFn = Callable[[pd.DataFrame, pd.DataFrame, list[str]], float]

# Kaggle's and sklearn's clipping for log loss: a confident wrong answer costs ~34.5, not infinity.
_LOG_LOSS_EPS = 1e-15


class UnknownMetricError(ValueError):
    """A metric name this project cannot score; the message lists the names it can."""


class Metric(NamedTuple):
    """A metric: its MLE-bench grader name, direction, input kind and scoring function."""

    name: str
    lower_is_better: bool
    wants_probabilities: bool
    fn: MetricFn


def _canonical(value: object) -> str:
    """One spelling per value, so that 3, 3.0, "3" and "3.0" all compare equal as labels."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
    elif isinstance(value, float | np.floating):
        number = float(value)
    else:
        return str(value)
    return str(int(number)) if number.is_integer() else repr(number)


def accuracy(answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]) -> float:
    """Fraction of rows whose target values all equal the answers (numbers compared as numbers)."""
    all_match = np.ones(len(answers), dtype=bool)
    for column in target_columns:
        truth, guess = answers[column], submission[column]
        if pd.api.types.is_numeric_dtype(truth) and pd.api.types.is_numeric_dtype(guess):
            match = truth.to_numpy(dtype=float) == guess.to_numpy(dtype=float)
        else:
            match = np.array([_canonical(a) == _canonical(b) for a, b in zip(truth, guess, strict=True)])
        all_match &= match
    return float(all_match.mean())


def auc_roc(answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]) -> float:
    """ROC AUC of one 0/1 target column, or the mean of the column-wise AUCs for several."""
    aucs = []
    for column in target_columns:
        truth = answers[column].to_numpy(dtype=float)
        if len(np.unique(truth)) < 2:
            raise ValueError(f"auc-roc is undefined for column {column!r}: its answers hold a single class")
        aucs.append(roc_auc_score(truth, submission[column].to_numpy(dtype=float)))
    return float(np.mean(aucs))


def root_mean_squared_error(
    answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]
) -> float:
    """Root of the mean squared error over every target cell."""
    truth = answers[target_columns].to_numpy(dtype=float)
    guess = submission[target_columns].to_numpy(dtype=float)
    return float(np.sqrt(np.mean((truth - guess) ** 2)))


def multi_class_log_loss(answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]) -> float:
    """Mean negative log-probability of the true class, after clipping and renormalising each row.

    Two layouts: (a) one column per class holding one-hot answers and submitted probabilities;
    (b) a single label column in the answers, and one probability column per class in the submission,
    named by the class label (every submission column that the answers lack is a class column).
    """
    if len(target_columns) == 1 and target_columns[0] not in submission.columns:
        truth, probabilities = _one_hot_from_labels(answers[target_columns[0]], submission, answers.columns)
    else:
        truth = answers[target_columns].to_numpy(dtype=float)
        probabilities = submission[target_columns].to_numpy(dtype=float)
    probabilities = np.clip(probabilities, _LOG_LOSS_EPS, 1 - _LOG_LOSS_EPS)
    probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)
    return float(-np.mean(np.sum(truth * np.log(probabilities), axis=1)))


def _one_hot_from_labels(
    labels: pd.Series, submission: pd.DataFrame, answer_columns: pd.Index
) -> tuple[np.ndarray, np.ndarray]:
    class_columns = [str(c) for c in submission.columns if c not in answer_columns]
    position = {name: i for i, name in enumerate(class_columns)}
    unknown = sorted({_canonical(v) for v in labels} - set(position))
    if unknown:
        raise ValueError(
            f"multi-class-log-loss: the submission has no probability column for the classes {unknown[:5]}; "
            f"add one column per class named by its label"
        )
    truth = np.zeros((len(labels), len(class_columns)))
    truth[np.arange(len(labels)), [position[_canonical(v)] for v in labels]] = 1.0
    probabilities = submission[[c for c in submission.columns if c not in answer_columns]]
    return truth, probabilities.to_numpy(dtype=float)


_METRICS = {
    m.name: m
    for m in (
        Metric("accuracy", lower_is_better=False, wants_probabilities=False, fn=accuracy),
        Metric("auc-roc", lower_is_better=False, wants_probabilities=True, fn=auc_roc),
        Metric(
            "root-mean-squared-error",
            lower_is_better=True,
            wants_probabilities=False,
            fn=root_mean_squared_error,
        ),
        Metric(
            "multi-class-log-loss", lower_is_better=True, wants_probabilities=True, fn=multi_class_log_loss
        ),
    )
}


def metric_names() -> list[str]:
    """The grader names this project can score, sorted."""
    return sorted(_METRICS)


def get_metric(name: str) -> Metric:
    """The metric with this MLE-bench grader name; UnknownMetricError naming the known ones otherwise."""
    if name not in _METRICS:
        raise UnknownMetricError(
            f"unknown metric {name!r}: known metrics are {', '.join(metric_names())} "
            f"(MLE-bench grader names); set `metric` to one of them"
        )
    return _METRICS[name]
