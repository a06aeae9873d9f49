"""MLE-bench's modified-laplace-log-likelihood (osic-pulmonary-fibrosis-progression): a forced vital
capacity (FVC) forecast with a confidence, scored on each patient's last three measured weeks."""

import math

import numpy as np
import pandas as pd

from evaluation.metric_inputs import require_columns

PATIENT, PATIENT_WEEK, FVC, CONFIDENCE = "Patient", "Patient_Week", "FVC", "Confidence"
SIGMA_FLOOR, ERROR_CAP, LAST_WEEKS = 70.0, 1000.0, 3


def laplace_log_likelihood(truth: np.ndarray, predicted: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """Per row -sqrt(2) x delta / sigma - ln(sqrt(2) x sigma), sigma = max(confidence, 70) and
    delta = min(|truth - predicted|, 1000)."""
    sigma = np.maximum(confidence, SIGMA_FLOOR)
    delta = np.minimum(np.abs(truth - predicted), ERROR_CAP)
    return np.asarray(-math.sqrt(2) * delta / sigma - np.log(math.sqrt(2) * sigma))


def _weeks(patient_weeks: pd.Series, metric: str) -> np.ndarray:
    """The week number after the last "_" of each Patient_Week (e.g. "ID0001_-4" is week -4)."""
    weeks = pd.to_numeric(patient_weeks.astype(str).str.rsplit("_", n=1).str[-1], errors="coerce")
    bad = weeks.isna() | (weeks != weeks.round())
    if bad.any():
        raise ValueError(
            f"{metric}: the answers' {PATIENT_WEEK!r} must end in _<week number>; "
            f"{patient_weeks[bad].iloc[0]!r} does not"
        )
    return weeks.to_numpy(dtype=float)


def modified_laplace_log_likelihood(
    answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]
) -> float:
    """Mean `laplace_log_likelihood` over each patient's three latest weeks with a measured FVC; higher
    is better.

    The answers give `Patient`, `Patient_Week` (whose suffix is the week) and `FVC`; rows whose FVC is
    NaN (mle-bench's padding of unmeasured weeks) are dropped first. The submission gives `FVC` and
    `Confidence` (the target columns); a NaN confidence counts as 0, so as the floor 70. Weeks tied at
    the cut keep their answer-row order.
    """
    metric = "modified-laplace-log-likelihood"
    require_columns(answers, [PATIENT, PATIENT_WEEK, FVC], metric, "answers")
    require_columns(submission, [FVC, CONFIDENCE], metric, "submission")
    truth = pd.to_numeric(answers[FVC], errors="coerce").to_numpy(dtype=float)
    measured = ~np.isnan(truth)
    if not measured.any():
        raise ValueError(f"{metric}: no answer row has a measured {FVC}")
    try:
        predicted = submission[FVC].to_numpy(dtype=float)
        confidence = np.nan_to_num(submission[CONFIDENCE].to_numpy(dtype=float), nan=0.0)
    except (TypeError, ValueError):
        raise ValueError(f"{metric}: the submitted {FVC} and {CONFIDENCE} must be numbers") from None
    rows = pd.DataFrame(
        {"patient": answers[PATIENT].astype(str).to_numpy(), "week": _weeks(answers[PATIENT_WEEK], metric)}
    )[measured]
    latest = rows.sort_values(["patient", "week"], kind="stable").groupby("patient").tail(LAST_WEEKS).index
    scored = np.sort(latest.to_numpy())
    if np.isnan(predicted[scored]).any():
        raise ValueError(f"{metric}: the submitted {FVC} has NaN on scored weeks; predict every week")
    return float(np.mean(laplace_log_likelihood(truth[scored], predicted[scored], confidence[scored])))
