"""OSIC's modified Laplace log likelihood, by hand."""

import math

import numpy as np
import pandas as pd
import pytest

from evaluation.metrics import get_metric

RNG = np.random.default_rng(7)


def laplace_by_hand(fvc: float, guess: float, confidence: float) -> float:
    sigma = max(confidence, 70.0)
    delta = min(abs(fvc - guess), 1000.0)
    return -math.sqrt(2) * delta / sigma - math.log(math.sqrt(2) * sigma)


def osic(answers: pd.DataFrame, submission: pd.DataFrame) -> float:
    return get_metric("modified-laplace-log-likelihood").fn(answers, submission, ["FVC", "Confidence"])


def osic_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    # Patient P: measured weeks 0, 9, 10, 100 (week 101 unmeasured); the latest three are 9, 10, 100
    # (numerically: as text, "9" would sort last). Patient Q: weeks -4 and 2 only.
    rows = [
        ("P", 10, 2100.0, 2150.0, 100.0),
        ("P", 0, 2000.0, 0.0, 0.0),
        ("P", 101, np.nan, 9999.0, 1.0),
        ("P", 9, 2050.0, 3500.0, 300.0),  # error 1450 capped at 1000
        ("P", 100, 2300.0, 2300.0, np.nan),  # NaN confidence: 0, so 70
        ("Q", -4, 3000.0, 2980.0, 50.0),  # confidence below the floor: 70
        ("Q", 2, 2900.0, 3000.0, 200.0),
    ]
    answers = pd.DataFrame(
        {
            "Patient": [r[0] for r in rows],
            "Weeks": [r[1] for r in rows],
            "FVC": [r[2] for r in rows],
            "Patient_Week": [f"{r[0]}_{r[1]}" for r in rows],
            "Confidence": 100,
        }
    )
    submission = pd.DataFrame(
        {
            "Patient_Week": answers["Patient_Week"],
            "FVC": [r[3] for r in rows],
            "Confidence": [r[4] for r in rows],
        }
    )
    return answers, submission


def test_laplace_log_likelihood_by_hand() -> None:
    answers, submission = osic_frames()
    expected = np.mean(
        [
            laplace_by_hand(2050, 3500, 300),
            laplace_by_hand(2100, 2150, 100),
            laplace_by_hand(2300, 2300, 0),
            laplace_by_hand(3000, 2980, 50),
            laplace_by_hand(2900, 3000, 200),
        ]
    )
    assert osic(answers, submission) == pytest.approx(expected)


def test_laplace_log_likelihood_is_best_for_exact_forecasts_at_the_floor() -> None:
    answers, submission = osic_frames()
    perfect = submission.assign(FVC=answers["FVC"].fillna(0.0), Confidence=70.0)
    best = osic(answers, perfect)
    assert best == pytest.approx(-math.log(math.sqrt(2) * 70))
    assert osic(answers, submission) < best
    assert osic(answers, perfect.assign(Confidence=200.0)) < best


def test_laplace_log_likelihood_errors() -> None:
    answers, submission = osic_frames()
    with pytest.raises(ValueError, match="'Patient'"):
        osic(answers.drop(columns=["Patient"]), submission)
    with pytest.raises(ValueError, match="_<week number>"):
        osic(answers.assign(Patient_Week="P-week-x"), submission)
