"""Graders of predicted locations: MLE-bench's average-haversine-distance (smartphone-decimeter-2022,
GPS positions) and f1-score (kuzushiji-recognition, character centre points inside true boxes)."""

import numpy as np
import pandas as pd

from evaluation.metric_inputs import excerpt, is_missing, require_columns, single_target

# The Earth radius of the competition's notebook (mle-bench's smartphone-decimeter-2022/notebook.py).
HAVERSINE_RADIUS_M = 6_371_000.0
TRIP, LATITUDE, LONGITUDE = "tripId", "LatitudeDegrees", "LongitudeDegrees"
TRIP_QUANTILES = (0.50, 0.95)


def haversine_m(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle distance in metres between points given in degrees, on a sphere of radius 6,371 km."""
    phi1, phi2 = np.radians(lat1), np.radians(lat2)
    half_dphi, half_dlambda = (phi2 - phi1) / 2, np.radians(lon2 - lon1) / 2
    a = np.sin(half_dphi) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(half_dlambda) ** 2
    return np.asarray(2 * HAVERSINE_RADIUS_M * np.arcsin(np.sqrt(a)))


def _grouped_quantile(
    values: np.ndarray, group_starts: np.ndarray, sizes: np.ndarray, q: float
) -> np.ndarray:
    """The q-quantile (numpy's default, linear interpolation) of each group of `values`, which are
    sorted within each group; group g is values[group_starts[g] : group_starts[g] + sizes[g]]."""
    position = (sizes - 1) * q
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, sizes - 1)
    low, high = values[group_starts + below], values[group_starts + above]
    return np.asarray(low + (position - below) * (high - low))


def average_haversine_distance(
    answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]
) -> float:
    """Mean over trips of (50th + 95th percentile) / 2 of the haversine distances, in metres, between the
    submitted and the true positions; lower is better.

    Trips are the answers' `tripId`; positions the `LatitudeDegrees` and `LongitudeDegrees` columns of
    both frames (fixed by the competition, whatever else `target_columns` lists, e.g. UnixTimeMillis).
    """
    metric = "average-haversine-distance"
    require_columns(answers, [TRIP, LATITUDE, LONGITUDE], metric, "answers")
    require_columns(submission, [LATITUDE, LONGITUDE], metric, "submission")
    trips, _ = pd.factorize(answers[TRIP])
    if (trips < 0).any():
        raise ValueError(f"{metric}: the answers' {TRIP!r} has empty cells")
    true = answers[[LATITUDE, LONGITUDE]].to_numpy(dtype=float)
    guess = submission[[LATITUDE, LONGITUDE]].to_numpy(dtype=float)
    if not np.isfinite(guess).all():
        raise ValueError(f"{metric}: the submitted {LATITUDE} and {LONGITUDE} must be finite numbers")
    distances = haversine_m(guess[:, 0], guess[:, 1], true[:, 0], true[:, 1])
    order = np.lexsort((distances, trips))
    sizes = np.bincount(trips)
    group_starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    ordered = distances[order]
    per_trip = np.mean([_grouped_quantile(ordered, group_starts, sizes, q) for q in TRIP_QUANTILES], axis=0)
    return float(np.mean(per_trip))


# kuzushiji-recognition: answers "label x y width height ...", predictions "label x y ...".
_BOX_FIELDS, _POINT_FIELDS = 5, 3


def _groups(value: object, fields: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """The labels and the (n, fields - 1) numbers of a string of `fields`-item groups; empty for NaN."""
    if is_missing(value) or not str(value).strip():
        return np.zeros(0, dtype=str), np.zeros((0, fields - 1))
    tokens = np.array(str(value).split(), dtype=str)
    if len(tokens) % fields:
        raise ValueError(
            f"{what} {excerpt(str(value))} has {len(tokens)} items, not groups of {fields} "
            f"({'label x y width height' if fields == _BOX_FIELDS else 'label x y'})"
        )
    grid = tokens.reshape(-1, fields)
    try:
        numbers = grid[:, 1:].astype(float)
    except ValueError:
        raise ValueError(f"{what} {excerpt(str(value))}: the coordinates must be numbers") from None
    return grid[:, 0], numbers


def page_counts(predicted: object, truth: object) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) of one page.

    Each true box, in order, takes the first unused prediction of the same label whose point lies
    strictly inside it (x < px < x + width, y < py < y + height); a box that finds none is a false
    negative, a prediction never taken a false positive (mle-bench's kuzushiji_metric, greedy).
    """
    true_labels, boxes = _groups(truth, _BOX_FIELDS, "answer")
    guess_labels, points = _groups(predicted, _POINT_FIELDS, "prediction")
    if len(true_labels) == 0 or len(guess_labels) == 0:
        return 0, len(guess_labels), len(true_labels)
    # Candidate (box, prediction) pairs of the same label, by box then prediction index.
    _, codes = np.unique(np.concatenate((true_labels, guess_labels)), return_inverse=True)
    box_codes, point_codes = codes[: len(true_labels)], codes[len(true_labels) :]
    by_label = np.argsort(point_codes, kind="stable")
    first = np.searchsorted(point_codes[by_label], box_codes, side="left")
    count = np.searchsorted(point_codes[by_label], box_codes, side="right") - first
    box = np.repeat(np.arange(len(true_labels)), count)
    within = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    point = by_label[np.repeat(first, count) + within]
    x, y = points[point, 0], points[point, 1]
    left, top = boxes[box, 0], boxes[box, 1]
    inside = (left < x) & (x < left + boxes[box, 2]) & (top < y) & (y < top + boxes[box, 3])
    used = np.zeros(len(guess_labels), dtype=bool)
    matched_box = -1
    true_positives = 0
    for b, p in zip(box[inside].tolist(), point[inside].tolist(), strict=True):
        if b != matched_box and not used[p]:
            used[p] = True
            matched_box = b
            true_positives += 1
    return true_positives, len(guess_labels) - true_positives, len(true_labels) - true_positives


def kuzushiji_f1(answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]) -> float:
    """Micro F1 over all pages of `page_counts` (true and false positives pooled); 0 without any hit.

    Target column `labels`: true boxes "label x y width height ..." in the answers, predicted centre
    points "label x y ..." in the submission; an empty or NaN cell has no characters.
    """
    counts = kuzushiji_counts(answers, submission, target_columns)
    return float(f1_of_counts(counts.sum(axis=0, keepdims=True))[0])


def kuzushiji_counts(
    answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]
) -> np.ndarray:
    """Each page's (true positives, false positives, false negatives): `page_counts` of every row."""
    metric = "f1-score"
    column = single_target(target_columns, metric)
    require_columns(answers, [column], metric, "answers")
    require_columns(submission, [column], metric, "submission")
    counts = np.zeros((len(answers), 3))
    for row, (guess, truth) in enumerate(
        zip(submission[column].tolist(), answers[column].tolist(), strict=True)
    ):
        try:
            counts[row] = page_counts(guess, truth)
        except ValueError as e:
            raise ValueError(f"{metric}: row {row}: {e}") from None
    return counts


def f1_of_counts(sums: np.ndarray) -> np.ndarray:
    """Micro F1 of each row of summed (tp, fp, fn); 0 without a true positive."""
    tp, fp, fn = sums.T
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(tp == 0, 0.0, 2 * tp / (2 * tp + fp + fn))
