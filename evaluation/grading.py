"""Grading answers and a submission aligned row for row: the task's row filter, then its metric."""

import math
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.bootstrap import auc_of_resamples, bootstrap_se, bootstrap_se_of_sums
from evaluation.metrics import Metric, get_metric
from evaluation.task import TaskSpec


def _equals(cells: pd.Series, wanted: str | int | float) -> pd.Series:
    """Which cells hold `wanted`: compared as numbers when both sides are numbers, else as text."""
    numbers = pd.to_numeric(cells, errors="coerce")
    if isinstance(wanted, int | float) and numbers.notna().all():
        return numbers == wanted
    return cells.astype(str) == str(wanted)


def scored_rows(spec: TaskSpec, answers: pd.DataFrame) -> pd.Series:
    """Which answer rows count: those whose `score_where` columns hold the given values and whose
    `skip_where` columns do not (all rows when the task sets neither)."""
    keep = pd.Series(True, index=answers.index)
    for column, wanted in spec.score_where.items():
        keep &= _equals(answers[column], wanted)
    for column, unwanted in spec.skip_where.items():
        keep &= ~_equals(answers[column], unwanted)
    return keep


def _scored(
    spec: TaskSpec, answers: pd.DataFrame, aligned: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """The scored rows of both frames, and which rows those were; ValueError when there are none."""
    keep = scored_rows(spec, answers).to_numpy()
    if not keep.all():
        if not keep.any():
            raise ValueError(
                f"no row of the answers is scored (score_where {spec.score_where}, "
                f"skip_where {spec.skip_where})"
            )
        answers = answers[keep].reset_index(drop=True)
        aligned = aligned[keep].reset_index(drop=True)
    return answers, aligned, keep


def _finite(metric: Metric, value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{metric.name} is {value}")
    return value


def grade_aligned(
    spec: TaskSpec, answers: pd.DataFrame, aligned: pd.DataFrame, metric: Metric | None = None
) -> float:
    """`metric` (the task's by default) on the scored rows of `answers` and `aligned` (same ids and order).

    Raises ValueError when no row is scored or the metric is not a finite number.
    """
    answers, aligned, _ = _scored(spec, answers, aligned)
    metric = metric or get_metric(spec.metric)
    columns = list(spec.scored_columns or spec.target_columns)
    return _finite(metric, float(metric.fn(answers, aligned, columns)))


def grade_with_se(
    spec: TaskSpec,
    answers: pd.DataFrame,
    aligned: pd.DataFrame,
    metric: Metric,
    groups: np.ndarray | None = None,
) -> tuple[float, float | None]:
    """`grade_aligned` and its bootstrap standard error (evaluation/bootstrap.py) over the scored rows,
    whole groups resampled when `groups` (one label per answer row) is given."""
    answers, aligned, keep = _scored(spec, answers, aligned)
    targets = list(spec.scored_columns or spec.target_columns)
    value = _finite(metric, float(metric.fn(answers, aligned, targets)))

    def grade(rows: np.ndarray) -> float:
        truth, guess = (frame.iloc[rows].reset_index(drop=True) for frame in (answers, aligned))
        return float(metric.fn(truth, guess, targets))

    kept_groups = None if groups is None else groups[keep]
    if metric.sums is not None and (kept_groups is not None or not metric.sums.grouped_only):
        # Each unit's statistics summed once, not every resample regraded.
        stats = metric.sums.row_stats(answers, aligned, targets)
        return value, bootstrap_se_of_sums(stats, metric.sums.from_sums, kept_groups)
    grade_all = None
    if metric.name == "auc-roc":
        truth, guess = (frame[targets].to_numpy(dtype=float) for frame in (answers, aligned))
        grade_all = auc_of_resamples(truth, guess)
    return value, bootstrap_se(grade, len(answers), kept_groups, grade_all=grade_all)


def read_sample(path: Path, id_column: str, metric: Metric) -> pd.DataFrame:
    """The sample submission, typed so a submission's column must be numeric wherever the sample's is;
    all text when the metric compares the targets as written strings."""
    return pd.read_csv(path, dtype=str if metric.exact_text else {id_column: str}, keep_default_na=False)


def numeric_answer_columns(spec: TaskSpec, metric: Metric) -> list[str]:
    """The answer columns to read as numbers when every cell is one (the targets unless the metric
    compares them as written strings)."""
    targets = [] if metric.exact_text else spec.answer_targets
    return [*targets, *spec.hidden_columns]
