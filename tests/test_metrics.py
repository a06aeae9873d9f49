"""Each metric against an independent computation (sklearn.metrics or numpy by hand)."""

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score, root_mean_squared_error

from evaluation.metrics import UnknownMetricError, get_metric, metric_names

RNG = np.random.default_rng(0)


def test_known_metrics_and_directions() -> None:
    assert metric_names() == ["accuracy", "auc-roc", "multi-class-log-loss", "root-mean-squared-error"]
    assert not get_metric("accuracy").lower_is_better
    assert not get_metric("auc-roc").lower_is_better
    assert get_metric("root-mean-squared-error").lower_is_better
    assert get_metric("multi-class-log-loss").lower_is_better
    assert get_metric("auc-roc").wants_probabilities
    assert not get_metric("accuracy").wants_probabilities


def test_unknown_metric_lists_known_names() -> None:
    with pytest.raises(UnknownMetricError) as err:
        get_metric("f1")
    message = str(err.value)
    assert "'f1'" in message
    for name in metric_names():
        assert name in message


def test_accuracy_matches_sklearn() -> None:
    truth = RNG.integers(0, 5, 200)
    guess = np.where(RNG.random(200) < 0.7, truth, RNG.integers(0, 5, 200))
    answers, submission = pd.DataFrame({"y": truth}), pd.DataFrame({"y": guess.astype(float)})
    assert get_metric("accuracy").fn(answers, submission, ["y"]) == pytest.approx(
        accuracy_score(truth, guess)
    )


def test_accuracy_several_columns_needs_all_to_match() -> None:
    answers = pd.DataFrame({"a": [1, 2, 3, 4], "b": ["x", "y", "z", "w"]})
    submission = pd.DataFrame({"a": [1, 2, 0, 4], "b": ["x", "q", "z", "w"]})
    # Row 1 misses b, row 2 misses a: 2 of 4 rows match entirely.
    assert get_metric("accuracy").fn(answers, submission, ["a", "b"]) == 0.5


def test_accuracy_treats_ints_floats_and_their_strings_alike() -> None:
    answers = pd.DataFrame({"y": [3, 4, 5]})
    assert get_metric("accuracy").fn(answers, pd.DataFrame({"y": [3.0, 4.0, 5.5]}), ["y"]) == pytest.approx(
        2 / 3
    )
    assert get_metric("accuracy").fn(answers, pd.DataFrame({"y": ["3", "4.0", "x"]}), ["y"]) == pytest.approx(
        2 / 3
    )


def test_accuracy_on_string_labels() -> None:
    answers = pd.DataFrame({"y": ["cat", "dog", "cat"]})
    submission = pd.DataFrame({"y": ["cat", "cat", "cat"]})
    assert get_metric("accuracy").fn(answers, submission, ["y"]) == pytest.approx(2 / 3)


def test_auc_roc_one_column_matches_sklearn() -> None:
    truth = RNG.integers(0, 2, 300)
    score = truth * 0.3 + RNG.random(300)
    answers, submission = pd.DataFrame({"y": truth}), pd.DataFrame({"y": score})
    assert get_metric("auc-roc").fn(answers, submission, ["y"]) == pytest.approx(roc_auc_score(truth, score))


def test_auc_roc_several_columns_is_the_mean() -> None:
    truth = RNG.integers(0, 2, (300, 3))
    score = truth * 0.5 + RNG.random((300, 3))
    columns = ["a", "b", "c"]
    answers, submission = pd.DataFrame(truth, columns=columns), pd.DataFrame(score, columns=columns)
    expected = np.mean([roc_auc_score(truth[:, i], score[:, i]) for i in range(3)])
    assert get_metric("auc-roc").fn(answers, submission, columns) == pytest.approx(expected)


def test_auc_roc_undefined_with_a_single_class() -> None:
    with pytest.raises(ValueError, match="single class"):
        get_metric("auc-roc").fn(pd.DataFrame({"y": [1, 1]}), pd.DataFrame({"y": [0.2, 0.9]}), ["y"])


def test_rmse_matches_sklearn_and_numpy() -> None:
    truth, guess = RNG.normal(size=100), RNG.normal(size=100)
    answers, submission = pd.DataFrame({"y": truth}), pd.DataFrame({"y": guess})
    value = get_metric("root-mean-squared-error").fn(answers, submission, ["y"])
    assert value == pytest.approx(root_mean_squared_error(truth, guess))
    truth2, guess2 = RNG.normal(size=(50, 2)), RNG.normal(size=(50, 2))
    value2 = get_metric("root-mean-squared-error").fn(
        pd.DataFrame(truth2, columns=["a", "b"]), pd.DataFrame(guess2, columns=["a", "b"]), ["a", "b"]
    )
    assert value2 == pytest.approx(math.sqrt(((truth2 - guess2) ** 2).mean()))


def test_log_loss_one_hot_matches_sklearn() -> None:
    labels = RNG.integers(0, 4, 150)
    labels[:4] = [0, 1, 2, 3]
    probabilities = RNG.dirichlet(np.ones(4), size=150)
    columns = ["c0", "c1", "c2", "c3"]
    answers = pd.DataFrame(np.eye(4)[labels], columns=columns)
    submission = pd.DataFrame(probabilities, columns=columns)
    value = get_metric("multi-class-log-loss").fn(answers, submission, columns)
    assert value == pytest.approx(log_loss(labels, probabilities, labels=[0, 1, 2, 3]))


def test_log_loss_clips_and_renormalises_like_kaggle() -> None:
    columns = ["a", "b", "c"]
    answers = pd.DataFrame([[1, 0, 0], [0, 1, 0], [0, 0, 1]], columns=columns)
    # Rows that do not sum to one, and a zero probability for the true class in the last row.
    raw = np.array([[2.0, 1.0, 1.0], [0.1, 0.1, 0.0], [1.0, 0.0, 0.0]])
    clipped = np.clip(raw, 1e-15, 1 - 1e-15)
    normalised = clipped / clipped.sum(axis=1, keepdims=True)
    expected = -np.mean(np.log([normalised[0, 0], normalised[1, 1], normalised[2, 2]]))
    value = get_metric("multi-class-log-loss").fn(answers, pd.DataFrame(raw, columns=columns), columns)
    assert value == pytest.approx(expected)
    assert value > 10  # the confident miss costs about -log(1e-15) / 3


def test_log_loss_label_column_with_probability_columns_per_class() -> None:
    answers = pd.DataFrame({"id": ["1", "2", "3"], "author": ["EAP", "HPL", "MWS"]})
    submission = pd.DataFrame(
        {"id": ["1", "2", "3"], "EAP": [0.8, 0.1, 0.2], "HPL": [0.1, 0.7, 0.2], "MWS": [0.1, 0.2, 0.6]}
    )
    expected = log_loss(
        ["EAP", "HPL", "MWS"], submission[["EAP", "HPL", "MWS"]].to_numpy(), labels=["EAP", "HPL", "MWS"]
    )
    assert get_metric("multi-class-log-loss").fn(answers, submission, ["author"]) == pytest.approx(expected)


def test_log_loss_label_layout_names_a_missing_class_column() -> None:
    answers = pd.DataFrame({"id": ["1"], "author": ["XYZ"]})
    submission = pd.DataFrame({"id": ["1"], "EAP": [1.0]})
    with pytest.raises(ValueError, match="XYZ"):
        get_metric("multi-class-log-loss").fn(answers, submission, ["author"])
