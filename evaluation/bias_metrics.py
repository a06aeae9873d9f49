"""MLE-bench's jigsaw-unintended-bias-in-toxicity-classification-score: overall ROC AUC blended with
power means of per-identity bias AUCs (subgroup, BPSN, BNSP)."""

import numpy as np
import pandas as pd

from evaluation.metric_inputs import require_columns, single_target

TOXICITY = "toxicity"
IDENTITY_COLUMNS = (
    "male",
    "female",
    "homosexual_gay_or_lesbian",
    "christian",
    "jewish",
    "muslim",
    "black",
    "white",
    "psychiatric_or_mental_illness",
)
POWER, WEIGHT, THRESHOLD = -5.0, 0.25, 0.5


def rank_auc(positive: np.ndarray, scores: np.ndarray, subset: str) -> float:
    """ROC AUC as the Mann-Whitney statistic: the chance a positive outscores a negative, ties half.

    ValueError naming `subset` when it holds a single class (mle-bench's roc_auc_score raises too).
    """
    n_positive = int(positive.sum())
    n_negative = len(positive) - n_positive
    if n_positive == 0 or n_negative == 0:
        raise ValueError(f"ROC AUC is undefined on {subset}: it holds a single class")
    from scipy.stats import rankdata  # SciPy only where this metric is computed

    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_positive * (n_positive + 1) / 2) / (n_positive * n_negative))


def power_mean(values: list[float], p: float) -> float:
    """(mean of v^p)^(1/p); 0 when a value is 0 and p < 0."""
    array = np.asarray(values, dtype=float)
    if p < 0 and (array == 0).any():
        return 0.0
    return float(np.mean(array**p) ** (1 / p))


def jigsaw_bias_score(answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]) -> float:
    """0.25 x overall AUC + 0.25 x each power mean (p = -5) over the 9 identities of the subgroup, BPSN
    and BNSP AUCs.

    Like mle-bench's grader, every input is binarised at >= 0.5 first (NaN counts as 0): the answers'
    `toxicity` and identity columns AND the submitted scores (the target column, `prediction`), so the
    AUCs are of 0/1 predictions and only which side of 0.5 a score falls on matters. Subgroup: rows
    mentioning the identity; BPSN: non-toxic rows mentioning it and toxic rows not mentioning it; BNSP:
    toxic rows mentioning it and non-toxic rows not mentioning it.
    """
    metric = "jigsaw-unintended-bias-in-toxicity-classification-score"
    column = single_target(target_columns, metric)
    require_columns(answers, [TOXICITY, *IDENTITY_COLUMNS], metric, "answers")
    require_columns(submission, [column], metric, "submission")

    def binary(frame: pd.DataFrame, name: str, side: str) -> np.ndarray:
        values = pd.to_numeric(frame[name], errors="coerce")
        if values.isna().sum() > frame[name].isna().sum():
            raise ValueError(f"{metric}: the {side}' {name!r} must hold numbers")
        return np.asarray(values.to_numpy(dtype=float) >= THRESHOLD)

    toxic = binary(answers, TOXICITY, "answers")
    scores = binary(submission, column, "submission").astype(float)
    overall = rank_auc(toxic, scores, "all rows")
    subgroup: list[float] = []
    bpsn: list[float] = []
    bnsp: list[float] = []
    for identity in IDENTITY_COLUMNS:
        mentioned = binary(answers, identity, "answers")
        for aucs, rows, name in (
            (subgroup, mentioned, "subgroup"),
            (bpsn, (~toxic & mentioned) | (toxic & ~mentioned), "BPSN"),
            (bnsp, (toxic & mentioned) | (~toxic & ~mentioned), "BNSP"),
        ):
            aucs.append(rank_auc(toxic[rows], scores[rows], f"the {name} rows of {identity!r}"))
    bias = [power_mean(aucs, POWER) for aucs in (subgroup, bpsn, bnsp)]
    return WEIGHT * overall + WEIGHT * sum(bias)
