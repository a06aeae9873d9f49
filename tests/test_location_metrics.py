"""Location graders against independent computations: smartphone-decimeter's haversine score and
Kuzushiji's point-in-box F1."""

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from evaluation.bootstrap import bootstrap_se, bootstrap_se_of_sums
from evaluation.metrics import get_metric

RNG = np.random.default_rng(7)


def sphere_distance(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Central angle between unit vectors (atan2 of cross and dot products) times 6,371 km."""

    def unit(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        phi, lam = np.radians(lat), np.radians(lon)
        return np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)], axis=-1)

    u, v = unit(lat1, lon1), unit(lat2, lon2)
    angle = np.arctan2(np.linalg.norm(np.cross(u, v), axis=-1), np.sum(u * v, axis=-1))
    return np.asarray(6_371_000.0 * angle)


def haversine_score(answers: pd.DataFrame, submission: pd.DataFrame) -> float:
    targets = ["UnixTimeMillis", "LatitudeDegrees", "LongitudeDegrees"]
    return get_metric("average-haversine-distance").fn(answers, submission, targets)


def test_haversine_quarter_circles() -> None:
    answers = pd.DataFrame(
        {
            "tripId": ["a", "b"],
            "UnixTimeMillis": [1, 1],
            "LatitudeDegrees": [0.0, 0.0],
            "LongitudeDegrees": [0.0, 0.0],
        }
    )
    # Equator to pole, and a quarter of the equator: both pi/2 x R.
    submission = answers.assign(LatitudeDegrees=[90.0, 0.0], LongitudeDegrees=[0.0, 90.0])
    assert haversine_score(answers, submission) == pytest.approx(math.pi / 2 * 6_371_000.0)
    assert haversine_score(answers, answers) == 0.0


def test_haversine_is_the_mean_over_trips_of_p50_and_p95() -> None:
    n = 400
    trips = RNG.choice(
        ["2021-a-pixel4", "2021-b-mi8", "2022-c-s20", "solo"], size=n, p=[0.5, 0.3, 0.2 - 1 / n, 1 / n]
    )
    trips[RNG.integers(n)] = "solo"
    lat, lon = 37 + RNG.random(n), -122 + RNG.random(n)
    answers = pd.DataFrame(
        {"tripId": trips, "UnixTimeMillis": np.arange(n), "LatitudeDegrees": lat, "LongitudeDegrees": lon}
    )
    guess_lat = lat + RNG.normal(scale=1e-4, size=n)
    guess_lon = lon + RNG.normal(scale=1e-4, size=n)
    submission = answers.assign(LatitudeDegrees=guess_lat, LongitudeDegrees=guess_lon)
    d = sphere_distance(guess_lat, guess_lon, lat, lon)
    expected = np.mean(
        [
            np.mean([np.percentile(d[trips == t], 50), np.percentile(d[trips == t], 95)])
            for t in np.unique(trips)
        ]
    )
    assert haversine_score(answers, submission) == pytest.approx(expected, rel=1e-9)


def test_haversine_needs_the_trip_column() -> None:
    answers = pd.DataFrame({"LatitudeDegrees": [0.0], "LongitudeDegrees": [0.0]})
    with pytest.raises(ValueError, match="tripId"):
        haversine_score(answers, answers)


def kuzushiji(truth: Sequence[object], guess: Sequence[object]) -> float:
    answers = pd.DataFrame({"image_id": [f"p{i}" for i in range(len(truth))], "labels": truth})
    submission = pd.DataFrame({"image_id": answers["image_id"], "labels": guess})
    return get_metric("f1-score").fn(answers, submission, ["labels"])


def f1(tp: int, fp: int, fn: int) -> float:
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def test_kuzushiji_boundaries_labels_and_reuse() -> None:
    box = "A 10 10 5 5"  # x in (10, 15), y in (10, 15), strictly
    assert kuzushiji([box], ["A 12 12"]) == 1.0
    assert kuzushiji([box], ["A 10 12"]) == 0.0  # on the left edge
    assert kuzushiji([box], ["A 15 12"]) == 0.0  # on the right edge
    assert kuzushiji([box], ["A 12 15"]) == 0.0  # on the bottom edge
    assert kuzushiji([box], ["B 12 12"]) == 0.0  # wrong label
    # Two points in one box: one hit, one false positive.
    assert kuzushiji([box], ["A 12 12 A 13 13"]) == pytest.approx(f1(1, 1, 0))
    # One point in two boxes: it serves only the first box.
    assert kuzushiji(["A 0 0 10 10 A 0 0 10 10"], ["A 5 5"]) == pytest.approx(f1(1, 0, 1))


def test_kuzushiji_matching_is_greedy_in_box_order() -> None:
    # Box 1 takes the first prediction inside it (index 0, also inside box 2); the other prediction is
    # only inside box 1, so box 2 misses though a perfect matching exists.
    truth = "A 0 0 10 10 A 5 0 10 10"
    assert kuzushiji([truth], ["A 7 5 A 2 5"]) == pytest.approx(f1(1, 1, 1))
    assert kuzushiji([truth], ["A 2 5 A 7 5"]) == 1.0


def test_kuzushiji_pools_counts_over_pages_and_reads_empty_cells() -> None:
    truth = ["A 0 0 10 10 B 20 0 10 10", np.nan, "C 0 0 5 5", np.nan]
    guess = ["A 5 5 B 5 5", "A 1 1 B 2 2", np.nan, ""]
    # page 0: tp 1 (A), fp 1 (B outside its box), fn 1 (B); page 1: fp 2; page 2: fn 1.
    assert kuzushiji(truth, guess) == pytest.approx(f1(1, 3, 2))
    assert kuzushiji(truth, ["", "", "", ""]) == 0.0


def greedy_by_hand(truth: str, guess: str) -> tuple[int, int, int]:
    t, g = truth.split(), guess.split()
    boxes = [
        (t[i], float(t[i + 1]), float(t[i + 2]), float(t[i + 3]), float(t[i + 4]))
        for i in range(0, len(t), 5)
    ]
    points = [(g[i], float(g[i + 1]), float(g[i + 2])) for i in range(0, len(g), 3)]
    used = [False] * len(points)
    tp = 0
    for label, x, y, width, height in boxes:
        for k, (p_label, px, py) in enumerate(points):
            if not used[k] and p_label == label and x < px < x + width and y < py < y + height:
                used[k] = True
                tp += 1
                break
    return tp, len(points) - tp, len(boxes) - tp


def test_kuzushiji_matches_a_plain_loop_on_random_pages() -> None:
    truths, guesses = [], []
    tp = fp = fn = 0
    for _ in range(30):
        n_boxes, n_points = RNG.integers(0, 25), RNG.integers(0, 25)
        labels = ["U+3042", "U+304B", "U+3055"]
        boxes = " ".join(
            f"{RNG.choice(labels)} {RNG.integers(0, 50)} {RNG.integers(0, 50)} {RNG.integers(1, 30)} "
            f"{RNG.integers(1, 30)}"
            for _ in range(n_boxes)
        )
        points = " ".join(
            f"{RNG.choice(labels)} {RNG.integers(0, 80)} {RNG.integers(0, 80)}" for _ in range(n_points)
        )
        truths.append(boxes or np.nan)
        guesses.append(points or np.nan)
        counts = greedy_by_hand(boxes, points)
        tp, fp, fn = tp + counts[0], fp + counts[1], fn + counts[2]
    assert tp > 0 and fp > 0 and fn > 0
    assert kuzushiji(truths, guesses) == pytest.approx(f1(tp, fp, fn))
    # Its bootstrap error from the pages' summed counts is that of regrading each resample.
    metric = get_metric("f1-score")
    assert metric.sums is not None
    answers, submission = pd.DataFrame({"labels": truths}), pd.DataFrame({"labels": guesses})

    def grade(rows: np.ndarray) -> float:
        a, g = (f.iloc[rows].reset_index(drop=True) for f in (answers, submission))
        return float(metric.fn(a, g, ["labels"]))

    fast = bootstrap_se_of_sums(metric.sums.row_stats(answers, submission, ["labels"]), metric.sums.from_sums)
    assert fast is not None and fast == pytest.approx(bootstrap_se(grade, len(truths)), rel=1e-9)


def test_kuzushiji_perfect_and_malformed() -> None:
    truth = ["A 0 0 10 10 B 20 0 10 10", "C 3 3 4 4"]
    assert kuzushiji(truth, ["A 5 5 B 25 5", "C 5 5"]) == 1.0
    with pytest.raises(ValueError, match="groups of 3"):
        kuzushiji(truth, ["A 5 5 B 25", "C 5 5"])
    with pytest.raises(ValueError, match="numbers"):
        kuzushiji(truth, ["A five 5", "C 5 5"])
    with pytest.raises(ValueError, match="'labels'"):
        get_metric("f1-score").fn(pd.DataFrame({"x": truth}), pd.DataFrame({"labels": truth}), ["labels"])
