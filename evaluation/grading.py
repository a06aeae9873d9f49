"""Grading answers and a submission aligned row for row: the task's row filter, then its metric."""

import math
from pathlib import Path

import pandas as pd

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


def grade_aligned(
    spec: TaskSpec, answers: pd.DataFrame, aligned: pd.DataFrame, metric: Metric | None = None
) -> float:
    """`metric` (the task's by default) on the scored rows of `answers` and `aligned` (same ids and order).

    Raises ValueError when no row is scored or the metric is not a finite number.
    """
    keep = scored_rows(spec, answers).to_numpy()
    if not keep.all():
        if not keep.any():
            raise ValueError(
                f"no row of the answers is scored (score_where {spec.score_where}, "
                f"skip_where {spec.skip_where})"
            )
        answers = answers[keep].reset_index(drop=True)
        aligned = aligned[keep].reset_index(drop=True)
    metric = metric or get_metric(spec.metric)
    value = float(metric.fn(answers, aligned, list(spec.scored_columns or spec.target_columns)))
    if not math.isfinite(value):
        raise ValueError(f"{metric.name} is {value}")
    return value


def read_sample(path: Path, id_column: str, metric: Metric) -> pd.DataFrame:
    """The sample submission, typed so a submission's column must be numeric wherever the sample's is;
    all text when the metric compares the targets as written strings."""
    return pd.read_csv(path, dtype=str if metric.exact_text else {id_column: str}, keep_default_na=False)


def numeric_answer_columns(spec: TaskSpec, metric: Metric) -> list[str]:
    """The answer columns to read as numbers when every cell is one (the targets unless the metric
    compares them as written strings)."""
    targets = [] if metric.exact_text else spec.answer_targets
    return [*targets, *spec.hidden_columns]
