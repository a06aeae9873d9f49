"""Metrics on strings and label lists: Levenshtein, Jaccard, MAP@k and micro-F1 (MLE-bench grader names)."""

import functools
from collections.abc import Callable, Hashable, Sequence

import numpy as np
import pandas as pd
from rapidfuzz.distance import Levenshtein


def _text(value: object) -> str:
    # A column of single numeric labels may arrive as floats: 3.0 is the label "3".
    if isinstance(value, float | np.floating):
        if np.isnan(value):
            return ""
        if float(value).is_integer():
            return str(int(value))
    return str(value)


def _texts(series: pd.Series) -> list[str]:
    return [_text(v) for v in series]


def edit_distance(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Levenshtein distance: fewest single-item insertions, deletions and substitutions (characters of
    two strings, or the items of two lists)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def levenshtein_distance(answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]) -> float:
    """Mean character-level Levenshtein distance between answer and submitted strings, over all cells.

    Computed by rapidfuzz (C++): billion-word-imputation's HCE scores millions of sentences per
    submission, far beyond the pure-Python `edit_distance`, which gives the same numbers.
    """
    return float(np.mean(levenshtein_cells(answers, submission, target_columns)))


def _gestures(text: str, side: str, row: int) -> list[int]:
    try:
        return [int(token) for token in text.split()]
    except ValueError:
        raise ValueError(
            f"gesture-edit-distance: row {row} of the {side} is {text[:60]!r}; write the gesture numbers "
            "separated by spaces"
        ) from None


def gesture_edit_distance(
    answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]
) -> float:
    """multi-modal-gesture-recognition's score: the sum over rows of the edit distance between the true
    and the predicted gesture sequences (space-separated gesture numbers, each one item), divided by
    the total number of true gestures. An empty prediction is a sequence of no gestures."""
    distance, total = gesture_row_stats(answers, submission, target_columns).sum(axis=0)
    if total == 0:
        raise ValueError("gesture-edit-distance is undefined: the answers hold no gesture")
    return float(distance / total)


def gesture_row_stats(
    answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]
) -> np.ndarray:
    """Each row's (edit distance, true gestures): the score is the ratio of their sums."""
    column = _single(target_columns, "gesture-edit-distance")
    truth = [_gestures(t, "answers", i) for i, t in enumerate(_texts(answers[column]))]
    guess = [_gestures(t, "submission", i) for i, t in enumerate(_texts(submission[column]))]
    return np.array(
        [(edit_distance(t, g), len(t)) for t, g in zip(truth, guess, strict=True)], dtype=float
    ).reshape(len(truth), 2)


def word_jaccard(a: str, b: str) -> float:
    """Jaccard similarity of the lower-cased word sets (Kaggle's tweet-sentiment-extraction rule)."""
    left, right = set(a.lower().split()), set(b.lower().split())
    if not left and not right:
        return 1.0
    common = len(left & right)
    return common / (len(left) + len(right) - common)


def jaccard_similarity(answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]) -> float:
    """Mean word-level Jaccard similarity over all cells."""
    return float(np.mean(jaccard_cells(answers, submission, target_columns)))


def cell_values(
    compare: Callable[[str, str], float],
    answers: pd.DataFrame,
    submission: pd.DataFrame,
    target_columns: list[str],
) -> np.ndarray:
    """`compare(answer, submitted)` of every target cell: one row per answer row, one column per target."""
    columns = [
        [compare(a, b) for a, b in zip(_texts(answers[column]), _texts(submission[column]), strict=True)]
        for column in target_columns
    ]
    return np.array(columns, dtype=float).reshape(len(target_columns), len(answers)).T


def levenshtein_cells(
    answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]
) -> np.ndarray:
    return cell_values(Levenshtein.distance, answers, submission, target_columns)


def jaccard_cells(answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]) -> np.ndarray:
    return cell_values(word_jaccard, answers, submission, target_columns)


def average_precision_at_k(actual: list[str], predicted: list[str], k: int) -> float:
    """Kaggle's AP@k: precision at each hit among the first k distinct predictions, over min(|actual|, k)."""
    if not actual:
        return 0.0
    wanted = set(actual)
    seen: set[str] = set()
    hits = 0
    total = 0.0
    for i, label in enumerate(predicted[:k]):
        if label in wanted and label not in seen:
            hits += 1
            total += hits / (i + 1)
        seen.add(label)
    return total / min(len(wanted), k)


def _label(token: str) -> str:
    """A label as compared: a number without its leading zeros (h-and-m's answers hold article ids as
    integers, `706016001`, where its articles.csv and images write `0706016001`)."""
    return (token.lstrip("0") or "0") if token.isdigit() else token


def map_at_k(k: int) -> Callable[[pd.DataFrame, pd.DataFrame, list[str]], float]:
    """Mean AP@k; answers and predictions are space-separated labels (one target column), numbers
    compared without leading zeros. A partial of module-level functions, so that it pickles (the
    evaluator hands its metric to a scoring process)."""
    return functools.partial(_mean_average_precision, k=k)


def ap_at_k(k: int) -> Callable[[pd.DataFrame, pd.DataFrame, list[str]], np.ndarray]:
    """Each row's AP@k (`map_at_k` is their mean); it pickles too."""
    return functools.partial(_average_precisions, k=k)


def _mean_average_precision(
    answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str], k: int
) -> float:
    return float(np.mean(_average_precisions(answers, submission, target_columns, k)))


def _average_precisions(
    answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str], k: int
) -> np.ndarray:
    column = _single(target_columns, f"MAP@{k}")
    values = [
        average_precision_at_k(list(map(_label, a.split())), list(map(_label, p.split())), k)
        for a, p in zip(_texts(answers[column]), _texts(submission[column]), strict=True)
    ]
    return np.array(values, dtype=float)


def micro_f1(answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]) -> float:
    """Micro-averaged F1 over sets of space-separated labels per row (true and false positives pooled)."""
    tp, fp, fn = label_set_counts(answers, submission, target_columns).sum(axis=0)
    return 0.0 if tp == 0 else float(2 * tp / (2 * tp + fp + fn))


def label_set_counts(
    answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]
) -> np.ndarray:
    """Each row's (true positives, false positives, false negatives) of its label sets."""
    column = _single(target_columns, "micro-f1-score")
    counts = []
    for a, p in zip(_texts(answers[column]), _texts(submission[column]), strict=True):
        truth, guess = set(a.split()), set(p.split())
        counts.append((len(truth & guess), len(guess - truth), len(truth - guess)))
    return np.array(counts, dtype=float).reshape(len(counts), 3)


def _single(target_columns: list[str], metric: str) -> str:
    if len(target_columns) != 1:
        raise ValueError(f"{metric} scores one target column of space-separated labels, got {target_columns}")
    return target_columns[0]
