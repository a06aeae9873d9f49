"""Benchmark aggregates as the paper reports them: mean percentile rank and medal rates, with errors."""

import math
from collections.abc import Sequence
from typing import NamedTuple

from pydantic import BaseModel

MEDAL_ORDER = ("bronze", "silver", "gold")


class Estimate(BaseModel):
    """A mean over runs and its standard error (sample standard deviation / sqrt(n); 0 for one run)."""

    mean: float
    stderr: float
    n: int


def mean_with_stderr(values: Sequence[float]) -> Estimate:
    """The mean of `values` and its standard error; ValueError for no values."""
    n = len(values)
    if n == 0:
        raise ValueError("no values to average")
    mean = sum(values) / n
    if n == 1:
        return Estimate(mean=mean, stderr=0.0, n=1)
    variance = sum((v - mean) ** 2 for v in values) / (n - 1)
    return Estimate(mean=mean, stderr=math.sqrt(variance / n), n=n)


def medal_at_least(medal: str | None, level: str) -> bool:
    """Whether `medal` is `level` or better ("bronze+" counts bronze, silver and gold)."""
    if medal is None:
        return False
    return MEDAL_ORDER.index(medal) >= MEDAL_ORDER.index(level)


class Summary(NamedTuple):
    """Mean percentile rank and bronze+/silver+/gold/above-median rates (in %) over runs."""

    percentile_rank: Estimate
    bronze_or_better: Estimate
    silver_or_better: Estimate
    gold: Estimate
    above_median: Estimate


def summarise(
    percentile_ranks: Sequence[float], medals: Sequence[str | None], above: Sequence[bool]
) -> Summary:
    """Aggregate one value per run (task x seed); a failed run counts as rank 0 and no medal.

    Rates are percentages so that they read like the paper's tables.
    """
    if not len(percentile_ranks) == len(medals) == len(above):
        raise ValueError("one percentile rank, medal and above-median flag per run")

    def rate(flags: Sequence[bool]) -> Estimate:
        return mean_with_stderr([100.0 * flag for flag in flags])

    return Summary(
        percentile_rank=mean_with_stderr(list(percentile_ranks)),
        bronze_or_better=rate([medal_at_least(m, "bronze") for m in medals]),
        silver_or_better=rate([medal_at_least(m, "silver") for m in medals]),
        gold=rate([medal_at_least(m, "gold") for m in medals]),
        above_median=rate(list(above)),
    )
