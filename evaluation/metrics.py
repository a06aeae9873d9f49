"""Metrics by MLE-bench grader name, computed on answers and a submission already aligned by id."""

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pandas as pd

from evaluation.bias_metrics import jigsaw_bias_score
from evaluation.clinical_metrics import modified_laplace_log_likelihood
from evaluation.location_metrics import average_haversine_distance, kuzushiji_f1
from evaluation.mask_metrics import dice_hausdorff_combo, mean_dice_of_rle_masks
from evaluation.metric_sums import (
    DICE_HAUSDORFF,
    GESTURE_EDIT,
    JACCARD,
    KUZUSHIJI_F1,
    LEVENSHTEIN,
    MAP_AT_5,
    MAP_AT_12,
    MATTHEWS,
    MEAN_ABSOLUTE,
    MEAN_DICE,
    MICRO_F1,
    ROOT_MEAN_SQUARED,
    Sums,
    confusion_counts,
    matthews_of_counts,
)
from evaluation.qa_metrics import question_answering_f1
from evaluation.text_metrics import (
    gesture_edit_distance,
    jaccard_similarity,
    levenshtein_distance,
    map_at_k,
    micro_f1,
)

MetricFn = Callable[[pd.DataFrame, pd.DataFrame, list[str]], float]

# Kaggle's and sklearn's clipping for log loss: a confident wrong answer costs ~34.5, not infinity.
_LOG_LOSS_EPS = 1e-15


class UnknownMetricError(ValueError):
    """A metric name this project cannot score; the message lists the names it can."""


class Metric(NamedTuple):
    """A metric: its MLE-bench grader name, direction, input kind and scoring function.

    `accepts_empty`: an empty submitted cell is an answer (an empty span, no labels), not a missing one.
    `exact_text`: the targets are compared as the strings written ("01" is not "1"), never as numbers.
    """

    name: str
    lower_is_better: bool
    wants_probabilities: bool
    fn: MetricFn
    accepts_empty: bool = False
    exact_text: bool = False
    sums: Sums | None = None  # a function of summed per-row statistics (fast bootstrap errors)


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


def exact_accuracy(answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]) -> float:
    """Fraction of rows whose target strings all equal the answers' character for character.

    text-normalization-challenge scores the normalised token as text: "01" and "1" differ.
    """
    all_match = np.ones(len(answers), dtype=bool)
    for column in target_columns:
        truth = answers[column].astype(str).to_numpy()
        guess = submission[column].astype(str).to_numpy()
        all_match &= truth == guess
    return float(all_match.mean())


def auc_roc(answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]) -> float:
    """ROC AUC of one 0/1 target column, or the mean of the column-wise AUCs for several."""
    from sklearn.metrics import roc_auc_score  # scikit-learn only where a metric needs it

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


def _floats(frame: pd.DataFrame, target_columns: list[str]) -> np.ndarray:
    return frame[target_columns].to_numpy(dtype=float)


def binary_log_loss(answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]) -> float:
    """Mean binary log loss of the submitted probabilities of class 1, clipped like Kaggle's."""
    truth = _floats(answers, target_columns)
    p = np.clip(_floats(submission, target_columns), _LOG_LOSS_EPS, 1 - _LOG_LOSS_EPS)
    return float(-np.mean(truth * np.log(p) + (1 - truth) * np.log(1 - p)))


def mean_absolute_error(answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]) -> float:
    """Mean absolute error over every target cell."""
    return float(np.mean(np.abs(_floats(answers, target_columns) - _floats(submission, target_columns))))


def _rmsle(truth: np.ndarray, guess: np.ndarray) -> float:
    if (guess <= -1).any() or (truth <= -1).any():
        raise ValueError("RMSLE needs values above -1 (log(1 + x)); predict non-negative numbers")
    return float(np.sqrt(np.mean((np.log1p(guess) - np.log1p(truth)) ** 2)))


def root_mean_squared_log_error(
    answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]
) -> float:
    """RMSLE over every target cell: sqrt(mean((log(1 + p) - log(1 + a))^2))."""
    return _rmsle(_floats(answers, target_columns), _floats(submission, target_columns))


def mean_column_wise_rmsle(
    answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]
) -> float:
    """The mean over target columns of each column's RMSLE."""
    return float(np.mean([_rmsle(_floats(answers, [c]), _floats(submission, [c])) for c in target_columns]))


# The group column of log-MAE: champs-scalar-coupling scores each coupling type separately.
LOG_MAE_GROUP_COLUMN = "type"


def log_mean_absolute_error(
    answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]
) -> float:
    """Mean over groups (the answers' `type` column, else one group) of log(MAE), MAE floored at 1e-9."""
    errors = np.abs(_floats(answers, target_columns) - _floats(submission, target_columns)).mean(axis=1)
    if LOG_MAE_GROUP_COLUMN in answers.columns:
        groups = answers[LOG_MAE_GROUP_COLUMN].astype(str).to_numpy()
    else:
        groups = np.zeros(len(errors), dtype=str)
    logs = [np.log(max(errors[groups == g].mean(), 1e-9)) for g in np.unique(groups)]
    return float(np.mean(logs))


def quadratic_weighted_kappa(
    answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]
) -> float:
    """Cohen's kappa with quadratic weights between integer ratings (one target column)."""
    from sklearn.metrics import cohen_kappa_score  # scikit-learn only where a metric needs it

    if len(target_columns) != 1:
        raise ValueError(f"quadratic-weighted-kappa scores one rating column, got {target_columns}")
    truth = answers[target_columns[0]].to_numpy(dtype=float)
    guess = submission[target_columns[0]].to_numpy(dtype=float)
    if not (np.all(truth == np.round(truth)) and np.all(guess == np.round(guess))):
        raise ValueError("quadratic-weighted-kappa needs integer ratings; round the predictions")
    return float(cohen_kappa_score(truth.astype(int), guess.astype(int), weights="quadratic"))


def pearson_correlation(answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]) -> float:
    """Pearson correlation between answers and predictions, over all target cells."""
    truth = _floats(answers, target_columns).ravel()
    guess = _floats(submission, target_columns).ravel()
    # Equal values, not a zero standard deviation: rounding leaves ~1e-17 for a constant column.
    if np.ptp(truth) == 0 or np.ptp(guess) == 0:
        raise ValueError("Pearson correlation is undefined when the answers or predictions are constant")
    return float(np.corrcoef(truth, guess)[0, 1])


def matthews_correlation(answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]) -> float:
    """Matthews correlation coefficient of 0/1 labels over all target cells (0 when undefined); a
    prediction other than 0 or 1 (a probability) is an error, as in sklearn's, which mle-bench calls."""
    predicted = _floats(submission, target_columns).ravel()
    odd = ~np.isin(predicted, (0.0, 1.0))
    if odd.any():
        raise ValueError(
            f"predictions must be 0 or 1 (labels, not probabilities), got {float(predicted[odd][0])!r}"
        )
    counts = confusion_counts(answers, submission, target_columns).sum(axis=0, keepdims=True)
    return float(matthews_of_counts(counts)[0])


# mle-bench's hms grader accepts a row of probabilities when its sum rounds to 1 at 5 decimals.
_ROW_SUM_DECIMALS = 5


def kl_divergence(answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]) -> float:
    """Mean over rows of KL(answers || submission); answer rows normalised to sum 1 (vote shares).

    Predictions are clipped to [1e-15, 1 - 1e-15] like Kaggle's metric. A predicted row whose sum is 1
    within mle-bench's tolerance is scored as given; any other row is rescaled to sum 1 (where
    mle-bench would refuse the whole submission).
    """
    truth = _floats(answers, target_columns)
    truth = truth / truth.sum(axis=1, keepdims=True)
    raw = _floats(submission, target_columns)
    sums = raw.sum(axis=1, keepdims=True)
    guess = np.clip(raw, _LOG_LOSS_EPS, 1 - _LOG_LOSS_EPS)
    off = np.round(sums, _ROW_SUM_DECIMALS) != 1
    if off.any():
        rescaled = np.clip(raw, _LOG_LOSS_EPS, None)
        rescaled = rescaled / rescaled.sum(axis=1, keepdims=True)
        guess = np.where(off, rescaled, guess)
    terms = np.where(truth > 0, truth * np.log(np.where(truth > 0, truth, 1) / guess), 0.0)
    return float(np.mean(terms.sum(axis=1)))


def label_ranking_average_precision(
    answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]
) -> float:
    """Label-ranking average precision: answers are 0/1 per label column, predictions are scores."""
    from sklearn.metrics import label_ranking_average_precision_score  # scikit-learn only here

    return float(
        label_ranking_average_precision_score(
            _floats(answers, target_columns), _floats(submission, target_columns)
        )
    )


def label_weighted_lrap(answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]) -> float:
    """Label-weighted LRAP (freesound-audio-tagging-2019): the mean over every (clip, true label) pair
    of the precision at that label's rank, so a clip with two labels weighs twice. Clips without a
    label are left out."""
    truth = _floats(answers, target_columns) > 0
    scores = _floats(submission, target_columns)
    precisions = []
    for labels, row in zip(truth, scores, strict=True):
        for label in np.flatnonzero(labels):
            # Ties ranked pessimistically, as sklearn's LRAP does.
            at_or_above = row >= row[label]
            precisions.append(np.sum(at_or_above & labels) / np.sum(at_or_above))
    if not precisions:
        raise ValueError("label-weighted LRAP is undefined: no answer row holds a label")
    return float(np.mean(precisions))


def mean_column_wise_rmse(
    answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]
) -> float:
    """MCRMSE: the mean over target columns of each column's RMSE (stanford-covid-vaccine)."""
    truth, guess = _floats(answers, target_columns), _floats(submission, target_columns)
    return float(np.mean(np.sqrt(np.mean((truth - guess) ** 2, axis=0))))


def _metric(
    name: str,
    lower: bool,
    probabilities: bool,
    fn: MetricFn,
    accepts_empty: bool = False,
    exact_text: bool = False,
    sums: Sums | None = None,
) -> Metric:
    return Metric(name, lower, probabilities, fn, accepts_empty, exact_text, sums)


_METRICS = {
    m.name: m
    for m in (
        _metric("accuracy", False, False, accuracy),
        # Strings as written: "NaN" or "null" is a token, an empty cell a wrong answer.
        _metric("exact-accuracy", False, False, exact_accuracy, accepts_empty=True, exact_text=True),
        _metric("auc-roc", False, True, auc_roc),
        _metric("log-loss", True, True, binary_log_loss),
        _metric("multi-class-log-loss", True, True, multi_class_log_loss),
        _metric("root-mean-squared-error", True, False, root_mean_squared_error, sums=ROOT_MEAN_SQUARED),
        _metric("root-mean-squared-log-error", True, False, root_mean_squared_log_error),
        _metric("mean-column-wise-rmsle", True, False, mean_column_wise_rmsle),
        _metric("mean-absolute-error", True, False, mean_absolute_error, sums=MEAN_ABSOLUTE),
        _metric("log-mean-absolute-error", True, False, log_mean_absolute_error),
        _metric("quadratic-weighted-kappa", False, False, quadratic_weighted_kappa),
        _metric("pearson-correlation-coefficient", False, False, pearson_correlation),
        _metric("matthews-correlation-coefficient", False, False, matthews_correlation, sums=MATTHEWS),
        _metric("kl-divergence", True, True, kl_divergence),
        _metric("label-ranking-average-precision", False, True, label_ranking_average_precision),
        _metric("label-weighted-lrap", False, True, label_weighted_lrap),
        _metric("mean-column-wise-rmse", True, False, mean_column_wise_rmse),
        _metric("levenshtein-distance", True, False, levenshtein_distance, sums=LEVENSHTEIN),
        _metric(
            "gesture-edit-distance", True, False, gesture_edit_distance, accepts_empty=True, sums=GESTURE_EDIT
        ),
        _metric("jaccard-similarity", False, False, jaccard_similarity, accepts_empty=True, sums=JACCARD),
        _metric("micro-f1-score", False, False, micro_f1, accepts_empty=True, sums=MICRO_F1),
        _metric("map-at-5", False, False, map_at_k(5), accepts_empty=True, sums=MAP_AT_5),
        _metric("map-at-12", False, False, map_at_k(12), accepts_empty=True, sums=MAP_AT_12),
        _metric("question-answering-f1", False, False, question_answering_f1, accepts_empty=True),
        # An empty RLE is the empty mask, a prediction like any other (mle-bench reads it as "").
        _metric("dice-coefficient", False, False, mean_dice_of_rle_masks, accepts_empty=True, sums=MEAN_DICE),
        _metric(
            "dice-hausdorff-combo",
            False,
            False,
            dice_hausdorff_combo,
            accepts_empty=True,
            sums=DICE_HAUSDORFF,
        ),
        _metric("average-haversine-distance", True, False, average_haversine_distance),
        # An empty cell is a page without characters.
        _metric("f1-score", False, False, kuzushiji_f1, accepts_empty=True, sums=KUZUSHIJI_F1),
        _metric("modified-laplace-log-likelihood", False, False, modified_laplace_log_likelihood),
        _metric("jigsaw-unintended-bias-in-toxicity-classification-score", False, True, jigsaw_bias_score),
    )
}

# Other spellings of the same graders in mle-bench's competition configs (typos included).
ALIASES = {
    "column-wise ROC AUC": "auc-roc",
    "mean-column-wise-roc-auc": "auc-roc",
    "root_mean_squared_error": "root-mean-squared-error",
    "multi-class-classification-accuracy": "accuracy",
    "MAP@5": "map-at-5",
    "MAP@12": "map-at-12",
    "KL-divergence": "kl-divergence",
    "levenhstein-distance": "levenshtein-distance",
}


def metric_names() -> list[str]:
    """The grader names this project can score (aliases excluded), sorted."""
    return sorted(_METRICS)


def get_metric(name: str) -> Metric:
    """The metric with this MLE-bench grader name or alias; UnknownMetricError naming the known ones."""
    canonical = ALIASES.get(name, name)
    if canonical not in _METRICS:
        raise UnknownMetricError(
            f"unknown metric {name!r}: known metrics are {', '.join(metric_names())} "
            f"(MLE-bench grader names); set `metric` to one of them"
        )
    return _METRICS[canonical]
