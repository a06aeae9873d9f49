"""Graders of run-length-encoded segmentation masks: MLE-bench's dice-coefficient (hubmap-kidney-
segmentation) and dice-hausdorff-combo (uw-madison-gi-tract-image-segmentation).

An RLE cell is "start length start length ..." with 1-based starts over the pixels of an image numbered
column by column, as mle-bench's `rle_decode` reads it (`mask.reshape(width, height).T`): the 0-based
pixel number i is row i % height, column i // height. NaN or a blank cell is the empty mask.

Masks stay as runs (half-open 0-based pixel intervals): Dice is computed from interval overlaps, and
only the Hausdorff distance expands runs to pixel coordinates, so no full image is ever decoded.
"""

import math
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from evaluation.metric_inputs import excerpt, is_missing, require_columns, single_target

# hubmap-kidney-segmentation: the answers hold the true RLE under `encoding`, the submission under
# `predicted` (the task's target column), and the image size in two more columns.
HUBMAP_TRUTH_COLUMN = "encoding"
HUBMAP_HEIGHT, HUBMAP_WIDTH = "height_pixels", "width_pixels"

# uw-madison-gi-tract-image-segmentation: one row per slice and organ class, ids such as
# "case123_day20_slice_0001" (the slices of a case-day form one 3-D scan), RLE under `predicted`.
UW_ID, UW_HEIGHT, UW_WIDTH = "id", "image_height", "image_width"
UW_SLICE_MARK = "_slice_"
UW_DICE_WEIGHT, UW_HAUSDORFF_WEIGHT = 0.4, 0.6
# A prediction with more than this many times the true pixels of a scan gets the worst distance, 1.
UW_OVERSIZE_FACTOR = 10


class Runs(NamedTuple):
    """A binary mask as sorted, disjoint, non-empty half-open pixel intervals [starts, ends)."""

    starts: np.ndarray
    ends: np.ndarray

    @property
    def pixels(self) -> int:
        """How many pixels the mask covers."""
        return int((self.ends - self.starts).sum())

    def contains(self, pixels: np.ndarray) -> np.ndarray:
        """Whether each pixel number is in the mask."""
        if len(self.starts) == 0:
            return np.zeros(len(pixels), dtype=bool)
        run = np.searchsorted(self.starts, pixels, side="right") - 1
        return np.asarray((run >= 0) & (pixels < self.ends[np.maximum(run, 0)]))


def _no_runs() -> Runs:
    return Runs(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))


def parse_rle(value: object, size: int) -> Runs:
    """The runs of one RLE cell over an image of `size` pixels.

    Checked like mle-bench's `rle_decode`: integers in start/length pairs, starts ascending and >= 1,
    lengths >= 1, no pixel in two runs; ValueError otherwise. A run reaching past the last pixel is cut
    there and a run starting past it is dropped (mle-bench's decode slices them off silently).
    """
    if is_missing(value) or not str(value).strip():
        return _no_runs()
    text = str(value)
    try:
        numbers = np.array(text.split(), dtype=np.int64)
    except (ValueError, OverflowError):
        raise ValueError(f"RLE {excerpt(text)} must hold integers only ('start length' pairs)") from None
    if len(numbers) % 2:
        raise ValueError(
            f"RLE {excerpt(text)} has an odd count of numbers ({len(numbers)}); "
            "it must be 'start length' pairs"
        )
    starts, lengths = numbers[0::2], numbers[1::2]
    if (starts < 1).any() or (lengths < 1).any():
        raise ValueError(f"RLE {excerpt(text)}: starts (1-based) and lengths must be positive")
    if (np.diff(starts) < 0).any():
        raise ValueError(f"RLE {excerpt(text)}: the starts must be in ascending order")
    first = np.minimum(starts - 1, size)
    end = np.minimum(starts - 1 + lengths, size)
    kept = end > first
    first, end = first[kept], end[kept]
    if len(first) > 1 and (first[1:] < np.maximum.accumulate(end)[:-1]).any():
        raise ValueError(f"RLE {excerpt(text)}: runs overlap (a pixel is listed twice)")
    return Runs(first, end)


def _pixels_below(runs: Runs, points: np.ndarray) -> np.ndarray:
    """For each pixel number p in `points`, how many pixels of the mask are < p."""
    if len(runs.starts) == 0:
        return np.zeros(len(points), dtype=np.int64)
    covered = np.concatenate(([0], np.cumsum(runs.ends - runs.starts)))
    before = np.searchsorted(runs.starts, points, side="left")  # runs starting below p
    last_end = runs.ends[np.maximum(before - 1, 0)]
    overshoot = np.where(before > 0, np.maximum(last_end - points, 0), 0)
    return np.asarray(covered[before] - overshoot)


def overlap(a: Runs, b: Runs) -> int:
    """How many pixels two masks share: the pixels of `a` inside each run of `b`, summed."""
    return int((_pixels_below(a, b.ends) - _pixels_below(a, b.starts)).sum())


def dice(predicted: Runs, truth: Runs, both_empty: float) -> float:
    """2 |P ∩ T| / (|P| + |T|), or `both_empty` when neither mask has a pixel."""
    total = predicted.pixels + truth.pixels
    return both_empty if total == 0 else 2 * overlap(predicted, truth) / total


def _sizes(answers: pd.DataFrame, height: str, width: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    heights = pd.to_numeric(answers[height], errors="coerce").to_numpy(dtype=float)
    widths = pd.to_numeric(answers[width], errors="coerce").to_numpy(dtype=float)
    bad = ~(np.isfinite(heights) & np.isfinite(widths) & (heights >= 1) & (widths >= 1))
    if bad.any():
        raise ValueError(
            f"{metric}: the answers' {height!r} and {width!r} must be positive numbers; "
            f"row {int(np.argmax(bad))} is not"
        )
    return heights.astype(np.int64), widths.astype(np.int64)


def _parse_cell(value: object, size: int, metric: str, side: str, row: int) -> Runs:
    try:
        return parse_rle(value, size)
    except ValueError as e:
        raise ValueError(f"{metric}: row {row} of the {side}: {e}") from None


def dice_per_image(answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]) -> np.ndarray:
    """Each image's Dice of the submitted RLE mask against the true one; both empty counts 1.

    The submission's RLE is in the target column (`predicted`); the true RLE is the answers' column of
    the same name when they have one, else their `encoding` column (mle-bench's answers file). The image
    size comes from the answers' `height_pixels` and `width_pixels`.
    """
    metric = "dice-coefficient"
    column = single_target(target_columns, metric)
    truth_column = column if column in answers.columns else HUBMAP_TRUTH_COLUMN
    require_columns(answers, [truth_column, HUBMAP_HEIGHT, HUBMAP_WIDTH], metric, "answers")
    require_columns(submission, [column], metric, "submission")
    heights, widths = _sizes(answers, HUBMAP_HEIGHT, HUBMAP_WIDTH, metric)
    return np.array(
        [
            dice(
                _parse_cell(guess, int(h * w), metric, "submission", i),
                _parse_cell(truth, int(h * w), metric, "answers", i),
                both_empty=1.0,
            )
            for i, (guess, truth, h, w) in enumerate(
                zip(submission[column].tolist(), answers[truth_column].tolist(), heights, widths, strict=True)
            )
        ],
        dtype=float,
    )


def mean_dice_of_rle_masks(
    answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]
) -> float:
    """Mean over images of `dice_per_image`: mle-bench's dice-coefficient (hubmap)."""
    return float(np.mean(dice_per_image(answers, submission, target_columns)))


def _union(runs: list[Runs]) -> Runs:
    """The runs covering every pixel of any of `runs` (which may overlap), merged where they touch."""
    starts = np.concatenate([r.starts for r in runs]) if runs else np.zeros(0, dtype=np.int64)
    if len(starts) == 0:
        return _no_runs()
    ends = np.concatenate([r.ends for r in runs])
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], ends[order]
    reach = np.maximum.accumulate(ends)
    opens = np.ones(len(starts), dtype=bool)
    opens[1:] = starts[1:] > reach[:-1]
    closes = np.append(np.flatnonzero(opens)[1:] - 1, len(starts) - 1)
    return Runs(starts[opens], reach[closes])


def _expand(runs: Runs) -> np.ndarray:
    """Every pixel number the runs cover, ascending."""
    lengths = runs.ends - runs.starts
    offsets = np.repeat(runs.starts - (np.cumsum(lengths) - lengths), lengths)
    return np.asarray(np.arange(int(lengths.sum()), dtype=np.int64) + offsets)


class Scan(NamedTuple):
    """A 3-D grid of `depth` slices of height x width; voxel key = slice x H x W + column x H + row."""

    height: int
    width: int
    depth: int

    def points(self, keys: np.ndarray) -> np.ndarray:
        """(slice, row, column) of each voxel key, each divided by the extent (mle-bench's unit cube)."""
        plane = self.height * self.width
        flat = keys % plane
        return np.column_stack(
            (keys // plane / self.depth, flat % self.height / self.height, flat // self.height / self.width)
        )

    def surface(self, mask: Runs) -> np.ndarray:
        """The voxel keys of a mask with a face neighbour inside the scan but outside the mask.

        Only these can be the nearest mask voxel to a voxel v outside the mask: from a mask voxel whose
        face neighbours in the scan are all in the mask, one step towards v along an axis where they
        differ reaches a mask voxel strictly closer to v (also after scaling each axis).
        """
        keys = _expand(mask)
        plane = self.height * self.width
        z, flat = np.divmod(keys, plane)
        column, row = np.divmod(flat, self.height)
        exposed = np.zeros(len(keys), dtype=bool)
        for step, coordinate, extent in (
            (1, row, self.height),
            (self.height, column, self.width),
            (plane, z, self.depth),
        ):
            for sign in (1, -1):
                in_scan = (coordinate + sign >= 0) & (coordinate + sign < extent)
                exposed |= in_scan & ~mask.contains(keys + sign * step)
        return np.asarray(keys[exposed])


def directed_hausdorff_distance(source: np.ndarray, target: np.ndarray) -> float:
    """max over points of `source` of the Euclidean distance to the nearest point of `target` (n x d)."""
    distances, _ = cKDTree(target).query(source, k=1)
    return float(np.max(distances))


def _directed_scan_distance(source: Runs, target: Runs, scan: Scan) -> float:
    """`directed_hausdorff_distance` between two masks' scaled voxels: voxels of `source` inside
    `target` are at distance 0, and the nearest target voxel of any other is on its surface."""
    keys = _expand(source)
    outside = keys[~target.contains(keys)]
    if len(outside) == 0:
        return 0.0
    return directed_hausdorff_distance(scan.points(outside), scan.points(scan.surface(target)))


def scan_hausdorff(predicted: Runs, truth: Runs, scan: Scan) -> float:
    """mle-bench's normalised symmetric Hausdorff distance between two 3-D masks of a scan.

    NaN when both are empty, 0 when identical, 1 when one is empty or the prediction has more than 10
    times the true voxels; otherwise the symmetric Hausdorff distance between voxel coordinates scaled
    by the scan's extent (slices, height, width), divided by sqrt(3), the unit cube's diagonal.
    """
    if predicted.pixels == 0 and truth.pixels == 0:
        return math.nan
    if np.array_equal(predicted.starts, truth.starts) and np.array_equal(predicted.ends, truth.ends):
        return 0.0
    if predicted.pixels == 0 or truth.pixels == 0 or predicted.pixels > UW_OVERSIZE_FACTOR * truth.pixels:
        return 1.0
    forward = _directed_scan_distance(truth, predicted, scan)
    return max(forward, _directed_scan_distance(predicted, truth, scan)) / math.sqrt(3)


def dice_hausdorff_combo(answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]) -> float:
    """0.4 x mean Dice + 0.6 x (1 - mean normalised Hausdorff distance), as mle-bench grades UW-Madison.

    Dice is per row (one slice and organ class), rows where both masks are empty left out. The Hausdorff
    distance is per case-day scan: the masks of a slice's classes are joined (OR), the slices of a
    case-day (id before "_slice_") stacked in id order, and `scan_hausdorff` taken; scans empty on both
    sides are left out. The answers give the true RLE (target column), `id`, `image_height` and
    `image_width`; the submission's rows are aligned with them, so the answers' ids serve both.
    """
    stats = uw_row_stats(answers, submission, target_columns)
    if stats[:, 1].sum() == 0:
        raise ValueError("dice-hausdorff-combo: every mask is empty in both the answers and the submission")
    return float(uw_combo_of_sums(stats.sum(axis=0, keepdims=True))[0])


def uw_row_stats(answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]) -> np.ndarray:
    """The sums `dice_hausdorff_combo` is made of, one row per answer row: (its Dice, 1) where it has
    one (not both empty), and on the first row of each case-day (its distance, 1) where it has one.
    A case-day's distance sits on one of its rows: sums over rows are right only over whole case-days."""
    metric = "dice-hausdorff-combo"
    column = single_target(target_columns, metric)
    require_columns(answers, [column, UW_ID, UW_HEIGHT, UW_WIDTH], metric, "answers")
    require_columns(submission, [column], metric, "submission")
    heights, widths = _sizes(answers, UW_HEIGHT, UW_WIDTH, metric)
    ids = answers[UW_ID].astype(str).tolist()
    guesses, truths = submission[column].tolist(), answers[column].tolist()
    predicted, true = [], []
    for i, (h, w) in enumerate(zip(heights, widths, strict=True)):
        predicted.append(_parse_cell(guesses[i], int(h * w), metric, "submission", i))
        true.append(_parse_cell(truths[i], int(h * w), metric, "answers", i))
    stats = np.zeros((len(ids), 4))
    dices = np.array([dice(p, t, both_empty=math.nan) for p, t in zip(predicted, true, strict=True)])
    stats[:, 0], stats[:, 1] = np.nan_to_num(dices), np.isfinite(dices)
    case_days = pd.Series([i.split(UW_SLICE_MARK)[0] for i in ids])
    for rows in case_days.groupby(case_days, sort=False).indices.values():
        distance = _case_day_distance(list(rows), ids, predicted, true, heights, widths, metric)
        if math.isfinite(distance):
            stats[rows[0], 2:] = distance, 1.0
    return stats


def uw_combo_of_sums(sums: np.ndarray) -> np.ndarray:
    """`dice_hausdorff_combo` of each row of summed `uw_row_stats` (NaN without a Dice or a distance)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_dice, mean_distance = sums[:, 0] / sums[:, 1], sums[:, 2] / sums[:, 3]
    return np.asarray(UW_DICE_WEIGHT * mean_dice + UW_HAUSDORFF_WEIGHT * (1 - mean_distance), dtype=float)


def _case_day_distance(
    rows: list[int],
    ids: list[str],
    predicted: list[Runs],
    true: list[Runs],
    heights: np.ndarray,
    widths: np.ndarray,
    metric: str,
) -> float:
    """`scan_hausdorff` of one case-day: its rows' masks placed at plane (slice position) x H x W."""
    height, width = int(heights[rows[0]]), int(widths[rows[0]])
    if any(int(heights[r]) != height or int(widths[r]) != width for r in rows):
        raise ValueError(f"{metric}: the slices of {ids[rows[0]].split(UW_SLICE_MARK)[0]} differ in size")
    slices = sorted({ids[r] for r in rows})
    position = {s: k for k, s in enumerate(slices)}
    plane = height * width

    def placed(masks: list[Runs]) -> Runs:
        shifted = [
            Runs(masks[r].starts + position[ids[r]] * plane, masks[r].ends + position[ids[r]] * plane)
            for r in rows
        ]
        return _union(shifted)

    return scan_hausdorff(placed(predicted), placed(true), Scan(height, width, len(slices)))
