"""Mask graders against masks decoded the plain way and scipy: hubmap's RLE Dice and UW-Madison's
Dice + Hausdorff combination."""

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import directed_hausdorff

from evaluation import bootstrap
from evaluation.bootstrap import bootstrap_se, bootstrap_se_of_sums
from evaluation.metrics import get_metric

RNG = np.random.default_rng(7)


def encode(mask: np.ndarray) -> str:
    """RLE of a (height, width) mask, pixels numbered down each column then across, 1-based starts."""
    flat = np.concatenate(([0], mask.T.ravel().astype(int), [0]))
    edges = np.flatnonzero(np.diff(flat))
    starts, ends = edges[0::2], edges[1::2]
    return " ".join(f"{s + 1} {e - s}" for s, e in zip(starts, ends, strict=True))


def decode(rle: object, height: int, width: int) -> np.ndarray:
    """mle-bench's reading: 1-based runs over a flat array reshaped (width, height) and transposed."""
    flat = np.zeros(height * width, dtype=bool)
    if isinstance(rle, str) and rle.strip():
        numbers = [int(t) for t in rle.split()]
        for start, length in zip(numbers[0::2], numbers[1::2], strict=True):
            flat[start - 1 : start - 1 + length] = True
    return flat.reshape((width, height)).T


def mask_dice(a: np.ndarray, b: np.ndarray, both_empty: float) -> float:
    total = a.sum() + b.sum()
    return both_empty if total == 0 else float(2 * np.logical_and(a, b).sum() / total)


def random_mask(height: int, width: int, fill: float) -> np.ndarray:
    return RNG.random((height, width)) < fill


def test_decode_follows_mle_benchs_column_major_order() -> None:
    # Pixels 2 and 3 (1-based) of a 3 x 2 image are rows 1 and 2 of column 0.
    expected = np.array([[0, 0], [1, 0], [1, 0]], dtype=bool)
    assert (decode("2 2", 3, 2) == expected).all()
    assert encode(expected) == "2 2"


def hubmap(truth: Sequence[object], guess: Sequence[object], sizes: list[tuple[int, int]]) -> float:
    answers = pd.DataFrame(
        {
            "id": [f"img{i}" for i in range(len(truth))],
            "encoding": truth,
            "width_pixels": [w for _, w in sizes],
            "height_pixels": [h for h, _ in sizes],
        }
    )
    submission = pd.DataFrame({"id": answers["id"], "predicted": guess})
    return get_metric("dice-coefficient").fn(answers, submission, ["predicted"])


def test_dice_coefficient_matches_decoded_masks() -> None:
    sizes = [(13, 7), (20, 31), (5, 5), (40, 40), (9, 11)]
    truths, guesses, expected = [], [], []
    for k, (h, w) in enumerate(sizes):
        true_mask = random_mask(h, w, 0.3)
        guess_mask = true_mask ^ random_mask(h, w, 0.2) if k != 2 else np.zeros((h, w), dtype=bool)
        if k == 2:
            true_mask[:] = False  # both empty: counts 1
        truths.append(encode(true_mask) or np.nan)
        guesses.append(encode(guess_mask) or np.nan)
        expected.append(mask_dice(decode(guesses[-1], h, w), decode(truths[-1], h, w), both_empty=1.0))
    assert expected[2] == 1.0
    assert hubmap(truths, guesses, sizes) == pytest.approx(np.mean(expected))
    assert hubmap(truths, truths, sizes) == 1.0


def test_dice_coefficient_on_a_large_image_with_many_runs() -> None:
    h, w = 600, 500
    true_mask, guess_mask = random_mask(h, w, 0.5), random_mask(h, w, 0.5)
    truth, guess = encode(true_mask), encode(guess_mask)
    assert len(truth.split()) > 100_000
    assert hubmap([truth], [guess], [(h, w)]) == pytest.approx(mask_dice(guess_mask, true_mask, 1.0))


def test_dice_coefficient_by_hand_and_runs_cut_at_the_image_end() -> None:
    # 3 x 2 image (6 pixels): "5 100" is cut to pixels 5-6; "1 2 5 2" vs "2 4": overlap {2, 5}.
    assert hubmap(["5 2"], ["5 100"], [(3, 2)]) == 1.0
    assert hubmap(["1 2 5 2"], ["2 4"], [(3, 2)]) == pytest.approx(2 * 2 / (4 + 4))
    # An empty or NaN prediction against a mask scores 0; both empty 1.
    assert hubmap(["1 3", np.nan], ["", np.nan], [(3, 2), (3, 2)]) == pytest.approx(0.5)


def test_dice_coefficient_uses_the_target_column_of_the_answers_when_present() -> None:
    answers = pd.DataFrame(
        {"predicted": ["1 2"], "encoding": ["3 2"], "width_pixels": [2], "height_pixels": [3]}
    )
    submission = pd.DataFrame({"predicted": ["1 2"]})
    assert get_metric("dice-coefficient").fn(answers, submission, ["predicted"]) == 1.0


@pytest.mark.parametrize(
    ("rle", "message"),
    [
        ("1 2 5", "odd count"),
        ("5 2 1 2", "ascending"),
        ("1 3 2 2", "overlap"),
        ("0 2", "positive"),
        ("1 0", "positive"),
        ("1.5 2", "integers"),
        ("a b", "integers"),
    ],
)
def test_dice_coefficient_rejects_a_malformed_rle(rle: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        hubmap(["1 2"], [rle], [(3, 2)])


def test_dice_coefficient_needs_the_image_size() -> None:
    answers = pd.DataFrame({"encoding": ["1 2"], "height_pixels": [3]})
    with pytest.raises(ValueError, match="width_pixels"):
        get_metric("dice-coefficient").fn(answers, pd.DataFrame({"predicted": ["1 2"]}), ["predicted"])


CLASSES = ("large_bowel", "small_bowel", "stomach")


def scan_distance_by_hand(guess: np.ndarray, truth: np.ndarray) -> float:
    """mle-bench's rules on decoded 3-D masks, with scipy's directed Hausdorff."""
    if guess.sum() == 0 and truth.sum() == 0:
        return math.nan
    if np.array_equal(guess, truth):
        return 0.0
    if guess.sum() == 0 or truth.sum() == 0 or guess.sum() > 10 * truth.sum():
        return 1.0
    t = np.argwhere(truth) / np.array(truth.shape)
    g = np.argwhere(guess) / np.array(truth.shape)
    return float(max(directed_hausdorff(t, g)[0], directed_hausdorff(g, t)[0]) / math.sqrt(3))


def combo_by_hand(answers: pd.DataFrame, submission: pd.DataFrame) -> float:
    return combo_parts_by_hand(answers, submission)[0]


def combo_parts_by_hand(answers: pd.DataFrame, submission: pd.DataFrame) -> tuple[float, list[float]]:
    """The score and the per-case-day distances, from decoded masks."""
    h, w = int(answers["image_height"].iloc[0]), int(answers["image_width"].iloc[0])
    true_masks = [decode(r, h, w) for r in answers["predicted"]]
    guess_masks = [decode(r, h, w) for r in submission["predicted"]]
    dice = np.nanmean([mask_dice(g, t, math.nan) for g, t in zip(guess_masks, true_masks, strict=True)])
    distances = []
    ids = answers["id"].tolist()
    for case_day in sorted({i.split("_slice_")[0] for i in ids}):
        slices = sorted({i for i in ids if i.startswith(case_day + "_slice_")})
        volumes = []
        for masks in (guess_masks, true_masks):
            planes = [
                np.logical_or.reduce([m for m, i in zip(masks, ids, strict=True) if i == s]) for s in slices
            ]
            volumes.append(np.stack(planes))
        distances.append(scan_distance_by_hand(volumes[0], volumes[1]))
    return float(0.4 * dice + 0.6 * (1 - np.nanmean(distances))), distances


def uw_frames(h: int, w: int, cases: dict[str, int], fill: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Answers and a noisy submission for case-days with the given slice counts, rows shuffled."""
    rows = [
        (f"{case_day}_slice_{s:04d}", c)
        for case_day, n in cases.items()
        for s in range(1, n + 1)
        for c in CLASSES
    ]
    order = RNG.permutation(len(rows))
    ids, classes = [rows[k][0] for k in order], [rows[k][1] for k in order]
    truth = [encode(random_mask(h, w, fill) & (RNG.random() < 0.7)) for _ in ids]
    guess = [encode(decode(t, h, w) ^ random_mask(h, w, fill / 4)) for t in truth]
    answers = pd.DataFrame(
        {"id": ids, "class": classes, "predicted": truth, "image_height": float(h), "image_width": float(w)}
    )
    submission = pd.DataFrame({"id": ids, "class": classes, "predicted": guess})
    return answers.replace("", np.nan), submission.replace("", np.nan)


def combo(answers: pd.DataFrame, submission: pd.DataFrame) -> float:
    return get_metric("dice-hausdorff-combo").fn(answers, submission, ["predicted"])


@pytest.mark.parametrize("fill", [0.08, 0.6])  # sparse voxels; solid masks with inner voxels
def test_dice_hausdorff_combo_matches_decoded_masks_and_scipy(fill: float) -> None:
    answers, submission = uw_frames(12, 9, {"case1_day1": 4, "case1_day3": 3, "case22_day0": 5}, fill=fill)
    expected, distances = combo_parts_by_hand(answers, submission)
    assert combo(answers, submission) == pytest.approx(expected)
    # The noisy case-days land in the regular branch: distances strictly between 0 and 1.
    assert all(0 < d < 1 for d in distances)
    assert combo(answers, answers[["id", "class", "predicted"]]) == pytest.approx(1.0)


def test_dice_hausdorff_combo_special_cases() -> None:
    h, w = 6, 5
    ids = [f"case{k}_day1_slice_0001" for k in range(4)]
    # case0: identical (distance 0); case1: prediction empty (1); case2: both empty (left out);
    # case3: prediction over 10 times the truth (1).
    truth = ["3 2", "3 2", np.nan, "1 1"]
    guess = ["3 2", np.nan, np.nan, "1 12"]
    answers = pd.DataFrame({"id": ids, "predicted": truth, "image_height": h, "image_width": w})
    submission = pd.DataFrame({"id": ids, "predicted": guess})
    dice = np.mean([1.0, 0.0, 2 * 1 / 13])
    expected = 0.4 * dice + 0.6 * (1 - np.mean([0.0, 1.0, 1.0]))
    assert combo(answers, submission) == pytest.approx(expected)
    assert combo_by_hand(answers, submission) == pytest.approx(expected)


def test_dice_hausdorff_combo_joins_classes_and_orders_slices_by_id() -> None:
    # One case-day of two slices listed out of order; classes of a slice overlap in the truth.
    h, w = 7, 6
    ids = ["c_day2_slice_0002", "c_day2_slice_0001", "c_day2_slice_0002", "c_day2_slice_0001"]
    truth = ["1 4", "10 3", "3 5", "40 2"]
    guess = ["2 4", "10 2", "4 5", "36 3"]
    answers = pd.DataFrame({"id": ids, "predicted": truth, "image_height": h, "image_width": w})
    submission = pd.DataFrame({"id": ids, "predicted": guess})
    assert combo(answers, submission) == pytest.approx(combo_by_hand(answers, submission))


def test_dice_hausdorff_combo_on_solid_blocks() -> None:
    # A block over slices 1-2 and a prediction adding one voxel two slices above its middle: that
    # voxel's nearest true voxel is inside the block's plane and exposed only across slices.
    h, w = 10, 8
    block = np.zeros((h, w), dtype=bool)
    block[2:9, 2:7] = True
    speck = np.zeros((h, w), dtype=bool)
    speck[5, 4] = True
    ids = [f"c_day1_slice_{k:04d}" for k in range(1, 6)]
    truth = [np.nan, encode(block), encode(block), np.nan, np.nan]
    guess = [np.nan, encode(block), encode(block), np.nan, encode(speck)]
    answers = pd.DataFrame({"id": ids, "predicted": truth, "image_height": h, "image_width": w})
    submission = pd.DataFrame({"id": ids, "predicted": guess})
    expected, distances = combo_parts_by_hand(answers, submission)
    assert distances[0] == pytest.approx(2 / 5 / math.sqrt(3))
    assert combo(answers, submission) == pytest.approx(expected)


def test_dice_hausdorff_combo_errors() -> None:
    answers = pd.DataFrame({"id": ["a_slice_1"], "predicted": ["1 2"], "image_height": [3]})
    with pytest.raises(ValueError, match="image_width"):
        combo(answers, pd.DataFrame({"predicted": ["1 2"]}))
    answers["image_width"] = 2
    with pytest.raises(ValueError, match="odd count"):
        combo(answers, pd.DataFrame({"predicted": ["1 2 3"]}))
    empty = answers.assign(predicted=np.nan)
    with pytest.raises(ValueError, match="every mask is empty"):
        combo(empty, pd.DataFrame({"predicted": [np.nan]}))


def test_hubmap_dice_errors_from_sums_are_those_of_regraded_resamples() -> None:
    sizes = [(int(RNG.integers(6, 20)), int(RNG.integers(6, 20))) for _ in range(40)]
    truth = [encode(random_mask(h, w, 0.3)) for h, w in sizes]
    guess = [encode(decode(t, h, w) ^ random_mask(h, w, 0.1)) for t, (h, w) in zip(truth, sizes, strict=True)]
    answers = pd.DataFrame(
        {"encoding": truth, "height_pixels": [h for h, _ in sizes], "width_pixels": [w for _, w in sizes]}
    )
    submission = pd.DataFrame({"predicted": guess})
    metric = get_metric("dice-coefficient")
    assert metric.sums is not None

    def grade(rows: np.ndarray) -> float:
        a, g = (f.iloc[rows].reset_index(drop=True) for f in (answers, submission))
        return float(metric.fn(a, g, ["predicted"]))

    stats = metric.sums.row_stats(answers, submission, ["predicted"])
    assert metric.sums.from_sums(stats.sum(axis=0, keepdims=True))[0] == pytest.approx(grade(np.arange(40)))
    fast = bootstrap_se_of_sums(stats, metric.sums.from_sums)
    assert fast is not None and fast == pytest.approx(bootstrap_se(grade, 40), rel=1e-9)


def test_uw_errors_from_sums_resample_whole_cases_each_drawn_case_counted_once_per_draw() -> None:
    """Each resample's combo from the sums of the cases it drew equals the metric on those cases laid
    side by side (a case drawn twice renamed apart, so its case-days count twice); the SE is theirs."""
    cases = {f"case{c}_day{d}": int(RNG.integers(2, 5)) for c in range(1, 7) for d in (0, 3)}
    answers, submission = uw_frames(9, 7, cases, fill=0.2)
    case_of = answers["id"].str.split("_").str[0].to_numpy()
    metric = get_metric("dice-hausdorff-combo")
    assert metric.sums is not None and metric.sums.grouped_only
    stats = metric.sums.row_stats(answers, submission, ["predicted"])
    assert metric.sums.from_sums(stats.sum(axis=0, keepdims=True))[0] == pytest.approx(
        combo(answers, submission)
    )

    names = np.unique(case_of)
    rng = np.random.default_rng(bootstrap._SEED)  # the draws bootstrap_se_of_sums makes
    values = []
    for _ in range(bootstrap.RESAMPLES):
        parts = []
        for k, drawn in enumerate(rng.integers(0, len(names), len(names))):
            rows = case_of == names[drawn]
            renamed = answers["id"][rows].str.replace(r"^case\d+", f"case{100 + k}", regex=True)
            parts.append((answers[rows].assign(id=renamed), submission[rows].assign(id=renamed)))
        a, g = (pd.concat([p[i] for p in parts], ignore_index=True) for i in (0, 1))
        values.append(combo(a, g))
    expected = float(np.std(values, ddof=1))
    assert bootstrap_se_of_sums(stats, metric.sums.from_sums, case_of) == pytest.approx(expected, rel=1e-9)
