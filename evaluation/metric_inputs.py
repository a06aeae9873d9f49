"""Checks shared by the competition graders: required columns, a single target, missing cells."""

import math

import pandas as pd


def require_columns(frame: pd.DataFrame, columns: list[str], metric: str, side: str) -> None:
    """Raise ValueError naming the columns of `frame` (the `side`: answers or submission) that lack."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{metric} needs the {side} column(s) {', '.join(map(repr, missing))} "
            f"(the {side} have {', '.join(map(repr, list(frame.columns)[:12]))})"
        )


def single_target(target_columns: list[str], metric: str) -> str:
    """The one target column of a grader that scores exactly one; ValueError otherwise."""
    if len(target_columns) != 1:
        raise ValueError(f"{metric} scores one target column, got {target_columns}")
    return target_columns[0]


def is_missing(value: object) -> bool:
    """True for None, pandas' NA and a float NaN: an empty CSV cell as pandas reads it."""
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def excerpt(text: str, limit: int = 60) -> str:
    """The text quoted, cut to `limit` characters, for an error message."""
    return repr(text if len(text) <= limit else text[:limit] + "...")
