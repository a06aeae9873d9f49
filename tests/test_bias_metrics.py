"""The Jigsaw unintended-bias score against sklearn's AUC on explicitly filtered subsets."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from evaluation.bias_metrics import IDENTITY_COLUMNS, rank_auc
from evaluation.metrics import get_metric

RNG = np.random.default_rng(7)


def jigsaw_frames(n: int = 3000) -> tuple[pd.DataFrame, pd.DataFrame]:
    toxicity = np.clip(RNG.beta(0.6, 2.0, n), 0, 1)
    answers = pd.DataFrame({"id": np.arange(n), "toxicity": toxicity})
    for column in IDENTITY_COLUMNS:
        values = np.where(RNG.random(n) < 0.15, RNG.random(n) * 0.4 + 0.4, RNG.random(n) * 0.3)
        values[RNG.random(n) < 0.3] = np.nan  # unannotated rows
        answers[column] = values
    prediction = np.clip(toxicity + RNG.normal(scale=0.25, size=n), 0, 1)
    return answers, pd.DataFrame({"id": answers["id"], "prediction": prediction})


def jigsaw(answers: pd.DataFrame, submission: pd.DataFrame) -> float:
    name = "jigsaw-unintended-bias-in-toxicity-classification-score"
    return get_metric(name).fn(answers, submission, ["prediction"])


def jigsaw_by_hand(answers: pd.DataFrame, submission: pd.DataFrame) -> float:
    """mle-bench's recipe with sklearn on explicitly filtered frames, the submission binarised at 0.5."""
    toxic = (answers["toxicity"] >= 0.5).astype(int)
    hard = (submission["prediction"] >= 0.5).astype(int)
    overall = roc_auc_score(toxic, hard)
    means = []
    for kind in ("subgroup", "bpsn", "bnsp"):
        aucs = []
        for column in IDENTITY_COLUMNS:
            mentioned = (answers[column] >= 0.5).astype(int)  # NaN >= 0.5 is False
            if kind == "subgroup":
                keep = mentioned == 1
            elif kind == "bpsn":
                keep = ((toxic == 0) & (mentioned == 1)) | ((toxic == 1) & (mentioned == 0))
            else:
                keep = ((toxic == 1) & (mentioned == 1)) | ((toxic == 0) & (mentioned == 0))
            aucs.append(roc_auc_score(toxic[keep], hard[keep]))
        means.append((sum(a**-5 for a in aucs) / len(aucs)) ** (1 / -5))
    return float(0.25 * overall + 0.25 * sum(means))


def test_jigsaw_matches_sklearn_on_filtered_subsets() -> None:
    answers, submission = jigsaw_frames()
    assert jigsaw(answers, submission) == pytest.approx(jigsaw_by_hand(answers, submission))


def test_jigsaw_binarises_the_submission_like_mle_bench() -> None:
    answers, submission = jigsaw_frames()
    # Squaring keeps the ranking (so a continuous AUC) but moves rows below 0.5: the score changes.
    squared = submission.assign(prediction=submission["prediction"] ** 2)
    assert jigsaw(answers, squared) != pytest.approx(jigsaw(answers, submission))
    assert jigsaw(answers, squared) == pytest.approx(jigsaw_by_hand(answers, squared))
    rounded = submission.assign(prediction=(submission["prediction"] >= 0.5).astype(float))
    assert jigsaw(answers, rounded) == pytest.approx(jigsaw(answers, submission))
    assert jigsaw(answers, submission.assign(prediction=answers["toxicity"])) == pytest.approx(1.0)


def test_rank_auc_matches_sklearn_with_ties() -> None:
    labels = RNG.integers(0, 2, 500).astype(bool)
    scores = np.round(RNG.random(500) + 0.3 * labels, 1)
    assert rank_auc(labels, scores, "test") == pytest.approx(roc_auc_score(labels, scores))


def test_jigsaw_errors() -> None:
    answers, submission = jigsaw_frames(200)
    with pytest.raises(ValueError, match="'muslim'"):
        jigsaw(answers.drop(columns=["muslim"]), submission)
    with pytest.raises(ValueError, match="single class"):
        jigsaw(answers.assign(toxicity=0.0), submission)
