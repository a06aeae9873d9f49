"""Benchmark aggregates: means with standard errors and medal rates, checked against the statistics module."""

import math
import statistics

import pytest

from evaluation.aggregate import mean_with_stderr, medal_at_least, summarise


def test_mean_and_stderr_match_the_statistics_module() -> None:
    values = [71.8, 76.0, 81.5, 83.1, 40.0]
    estimate = mean_with_stderr(values)
    assert estimate.mean == pytest.approx(statistics.mean(values))
    assert estimate.stderr == pytest.approx(statistics.stdev(values) / math.sqrt(len(values)))
    assert estimate.n == 5
    assert mean_with_stderr([3.0]).stderr == 0.0
    with pytest.raises(ValueError, match="no values"):
        mean_with_stderr([])


def test_medal_levels_include_better_medals() -> None:
    assert medal_at_least("gold", "bronze") and medal_at_least("silver", "bronze")
    assert medal_at_least("gold", "silver") and not medal_at_least("bronze", "silver")
    assert not medal_at_least(None, "bronze")


def test_summary_counts_failed_runs_as_rank_zero_and_no_medal() -> None:
    s = summarise([100.0, 50.0, 0.0, 30.0], ["gold", "bronze", None, None], [True, True, False, False])
    assert s.percentile_rank.mean == pytest.approx(45.0)
    assert s.bronze_or_better.mean == pytest.approx(50.0)
    assert s.silver_or_better.mean == pytest.approx(25.0)
    assert s.gold.mean == pytest.approx(25.0)
    assert s.above_median.mean == pytest.approx(50.0)
    # Rates are means of 0/100 flags: stderr = stdev([100, 100, 0, 0]) / 2.
    assert s.bronze_or_better.stderr == pytest.approx(statistics.stdev([100, 100, 0, 0]) / 2)
    with pytest.raises(ValueError, match="one percentile rank"):
        summarise([1.0], [], [])
