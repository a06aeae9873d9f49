"""The HCE split of the labelled rows: fixed by a seed and the ids alone, never by row order or run seed."""

import hashlib
import hmac
from collections import Counter
from collections.abc import Sequence
from typing import Any

SPLITS = ("train", "search", "val")
# A single target with at most this many distinct values is a class label: stratify on it.
MAX_CLASSES_TO_STRATIFY = 50


def _order_key(seed: int, row_id: str) -> str:
    return hashlib.sha256(f"aira-hce-split\x00{seed}\x00{row_id}".encode()).hexdigest()


def split_sizes(n: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    """Rows per split: train and search rounded, val takes the rest; each split gets at least one."""
    n_train = round(n * fractions[0])
    n_search = round(n * fractions[1])
    n_val = n - n_train - n_search
    if min(n_train, n_search, n_val) < 1:
        raise ValueError(
            f"{n} labelled rows cannot be split {fractions} with at least one row per split; "
            f"the task needs more rows in train.csv"
        )
    return n_train, n_search, n_val


def group_split(
    ids: list[str], groups: list[str], key: bytes, fractions: tuple[float, float, float]
) -> dict[str, list[str]]:
    """Split ids so that all rows of a group land in one split (e.g. every time step of one breath).

    Groups are ordered by an HMAC of the group under `key` and filled into train, then search, then
    val until each holds its share of the rows; each returned list keeps the order of `ids`. The key
    is the evaluator's secret (evaluation/_opaque.py: `split_key`), not the public split seed: group
    values are visible in test.csv, and with the seed alone an agent could recompute which groups
    are D_search and which D_val.
    """
    if len(set(ids)) != len(ids):
        raise ValueError("ids must be unique to be split")
    sizes: Counter[str] = Counter(groups)
    if len(sizes) < 3:
        raise ValueError(f"{len(sizes)} group(s) cannot be split three ways; the task needs more groups")
    n_train, n_search, _ = split_sizes(len(ids), fractions)
    place: dict[str, str] = {}
    filled = 0
    has_search = False
    ordered = sorted(sizes, key=lambda g: hmac.new(key, f"group\x00{g}".encode(), hashlib.sha256).digest())
    for position, group in enumerate(ordered):
        # Groups left, this one included: keep at least one for each split still to come.
        remaining = len(ordered) - position
        if filled < n_train and remaining > 2:
            place[group] = "train"
        elif (filled < n_train + n_search or not has_search) and remaining > 1:
            place[group] = "search"
            has_search = True
        else:
            place[group] = "val"
        filled += sizes[group]
    return {name: [i for i, g in zip(ids, groups, strict=True) if place[g] == name] for name in SPLITS}


def hce_split(
    ids: list[str], labels: list[str] | None, seed: int, fractions: tuple[float, float, float]
) -> dict[str, list[str]]:
    """Split ids into train/search/val with these fractions, stratified by `labels` when given.

    Each id's place comes from a hash of (seed, id), so the split is the same in every process and on
    every resume, whatever the order of the rows in the file. Stratification orders each class by that
    hash and interleaves the classes by relative position, so every split gets its share of each class.
    Each returned list keeps the order of `ids`.
    """
    if len(set(ids)) != len(ids):
        raise ValueError("ids must be unique to be split")
    key = {row_id: _order_key(seed, row_id) for row_id in ids}
    if labels is None:
        ordered = sorted(ids, key=key.__getitem__)
    else:
        per_class = Counter(labels)
        rank_in_class: dict[str, int] = {}
        seen: Counter[str] = Counter()
        for row_id, label in sorted(zip(ids, labels, strict=True), key=lambda pair: key[pair[0]]):
            rank_in_class[row_id] = seen[label]
            seen[label] += 1
        label_of = dict(zip(ids, labels, strict=True))
        ordered = sorted(
            ids,
            key=lambda i: ((rank_in_class[i] + 0.5) / per_class[label_of[i]], key[i]),
        )
    n_train, n_search, _ = split_sizes(len(ids), fractions)
    place = {row_id: position for position, row_id in enumerate(ordered)}
    bounds = {
        "train": (0, n_train),
        "search": (n_train, n_train + n_search),
        "val": (n_train + n_search, len(ids)),
    }
    return {name: [i for i in ids if lo <= place[i] < hi] for name, (lo, hi) in bounds.items()}


def time_split(
    ids: list[str], times: Sequence[Any], key: bytes, fractions: tuple[float, float, float]
) -> dict[str, list[str]]:
    """Split ids in time, as a forecast is scored: D_train the earliest rows (its share of them), D_search
    and D_val the rows after every D_train row, drawn apart at random in the ratio of their shares.

    So the hidden scores measure what a time-ordered competition's D_test measures, a prediction of
    days no training row comes after, and D_search and D_val measure it alike (the same stretch of
    time, neither of them nearer to D_train). Rows of one time stay on one side of the cut. Which later
    row is D_search and which D_val comes from an HMAC of its id under `key`, the evaluator's secret
    (as for `group_split`): a row's time is visible in test.csv. Each returned list keeps the order of
    `ids`; `times` are comparable values (numbers or timestamps), one per id.
    """
    if len(set(ids)) != len(ids):
        raise ValueError("ids must be unique to be split")
    if len(times) != len(ids):
        raise ValueError(f"{len(ids)} ids but {len(times)} times")
    n_train, _, _ = split_sizes(len(ids), fractions)
    cut = sorted(times)[n_train]  # the earliest time of the later rows
    later = [i for i, t in zip(ids, times, strict=True) if not t < cut]
    if len(later) == len(ids):
        raise ValueError(
            f"every row has the earliest time {cut!r}, so no row is earlier than the others to train on"
        )
    if len(later) < 2:
        raise ValueError("fewer than two rows come after the training rows; the task needs more rows")
    share = fractions[1] / (fractions[1] + fractions[2])
    n_search = min(max(1, round(len(later) * share)), len(later) - 1)
    ordered = sorted(later, key=lambda i: hmac.new(key, f"time\x00{i}".encode(), hashlib.sha256).digest())
    search = set(ordered[:n_search])
    place = {i: "search" if i in search else "val" for i in later}
    return {name: [i for i in ids if place.get(i, "train") == name] for name in SPLITS}
