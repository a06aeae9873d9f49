"""Bootstrap errors from summed per-row statistics (evaluation/metric_sums.py) for the text and label
metrics: the metric of all rows' sums is the metric, and the error is that of regrading each resample
(the same draws), on rows and on whole groups. The numeric metrics are checked in test_hce_noise.py,
hubmap's and uw's in test_mask_metrics.py, kuzushiji's in test_location_metrics.py."""

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from evaluation.bootstrap import bootstrap_se, bootstrap_se_of_sums
from evaluation.metrics import get_metric, metric_names

RNG = np.random.default_rng(11)
WORDS = ["the", "cat", "sat", "on", "a", "mat", "and", "then", "slept"]


def _sentence() -> str:
    return " ".join(RNG.choice(WORDS, int(RNG.integers(1, 8))))


def _labels(vocabulary: int, most: int) -> str:
    return " ".join(str(v) for v in RNG.choice(vocabulary, int(RNG.integers(0, most + 1)), replace=False))


# metric, (answer cell, submitted cell) of one row
CELLS: dict[str, Callable[[], tuple[str, str]]] = {
    "levenshtein-distance": lambda: (_sentence(), _sentence()),
    "jaccard-similarity": lambda: (_sentence(), _sentence()),
    "map-at-5": lambda: (_labels(12, 3) or "1", _labels(12, 6)),
    "map-at-12": lambda: (_labels(30, 5) or "1", _labels(30, 14)),
    "gesture-edit-distance": lambda: (" ".join(map(str, RNG.integers(1, 21, 6))), _labels(21, 8)),
    "micro-f1-score": lambda: (_labels(8, 3), _labels(8, 3)),
}
OTHERS = [
    "matthews-correlation-coefficient",
    "mean-absolute-error",
    "root-mean-squared-error",
    "dice-coefficient",
    "dice-hausdorff-combo",
    "f1-score",
]


def test_every_metric_of_sums_is_checked_against_its_regrading() -> None:
    summed = [name for name in metric_names() if get_metric(name).sums is not None]
    assert sorted(summed) == sorted([*CELLS, *OTHERS])


@pytest.mark.parametrize("grouped", [False, True])
@pytest.mark.parametrize("name", sorted(CELLS))
def test_a_text_metric_of_sums_gets_the_error_of_its_resamples_regraded(name: str, grouped: bool) -> None:
    metric = get_metric(name)
    assert metric.sums is not None
    rows = [CELLS[name]() for _ in range(240)]
    answers = pd.DataFrame({"y": [a for a, _ in rows]})
    submission = pd.DataFrame({"y": [b for _, b in rows]})
    stats = metric.sums.row_stats(answers, submission, ["y"])
    assert metric.sums.from_sums(stats.sum(axis=0, keepdims=True))[0] == pytest.approx(
        metric.fn(answers, submission, ["y"])
    )

    def grade(picked: np.ndarray) -> float:
        a, s = (f.iloc[picked].reset_index(drop=True) for f in (answers, submission))
        return float(metric.fn(a, s, ["y"]))

    groups = RNG.integers(0, 40, len(rows)).astype(str) if grouped else None
    generic = bootstrap_se(grade, len(rows), groups)
    fast = bootstrap_se_of_sums(stats, metric.sums.from_sums, groups)
    assert generic is not None and fast == pytest.approx(generic, rel=1e-9)
