"""The six competition graders against independent computations (decoded masks, scipy, sklearn, by hand)."""

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import directed_hausdorff
from sklearn.metrics import roc_auc_score

from evaluation.bias_metrics import IDENTITY_COLUMNS, rank_auc
from evaluation.metrics import get_metric

RNG = np.random.default_rng(7)

DIRECTIONS = {
    "dice-coefficient": False,
    "dice-hausdorff-combo": False,
    "average-haversine-distance": True,
    "f1-score": False,
    "modified-laplace-log-likelihood": False,
    "jigsaw-unintended-bias-in-toxicity-classification-score": False,
}


def test_directions() -> None:
    for name, lower in DIRECTIONS.items():
        assert get_metric(name).lower_is_better is lower, name
    assert get_metric("jigsaw-unintended-bias-in-toxicity-classification-score").wants_probabilities


# ---------------------------------------------------------------- RLE masks, decoded the plain way


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


# ---------------------------------------------------------------- UW-Madison: Dice + Hausdorff

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


# ---------------------------------------------------------------- smartphone: haversine


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


# ---------------------------------------------------------------- Kuzushiji: point-in-box F1


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


def test_kuzushiji_perfect_and_malformed() -> None:
    truth = ["A 0 0 10 10 B 20 0 10 10", "C 3 3 4 4"]
    assert kuzushiji(truth, ["A 5 5 B 25 5", "C 5 5"]) == 1.0
    with pytest.raises(ValueError, match="groups of 3"):
        kuzushiji(truth, ["A 5 5 B 25", "C 5 5"])
    with pytest.raises(ValueError, match="numbers"):
        kuzushiji(truth, ["A five 5", "C 5 5"])
    with pytest.raises(ValueError, match="'labels'"):
        get_metric("f1-score").fn(pd.DataFrame({"x": truth}), pd.DataFrame({"labels": truth}), ["labels"])


# ---------------------------------------------------------------- OSIC: Laplace log likelihood


def laplace_by_hand(fvc: float, guess: float, confidence: float) -> float:
    sigma = max(confidence, 70.0)
    delta = min(abs(fvc - guess), 1000.0)
    return -math.sqrt(2) * delta / sigma - math.log(math.sqrt(2) * sigma)


def osic(answers: pd.DataFrame, submission: pd.DataFrame) -> float:
    return get_metric("modified-laplace-log-likelihood").fn(answers, submission, ["FVC", "Confidence"])


def osic_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    # Patient P: measured weeks 0, 9, 10, 100 (week 101 unmeasured); the latest three are 9, 10, 100
    # (numerically: as text, "9" would sort last). Patient Q: weeks -4 and 2 only.
    rows = [
        ("P", 10, 2100.0, 2150.0, 100.0),
        ("P", 0, 2000.0, 0.0, 0.0),
        ("P", 101, np.nan, 9999.0, 1.0),
        ("P", 9, 2050.0, 3500.0, 300.0),  # error 1450 capped at 1000
        ("P", 100, 2300.0, 2300.0, np.nan),  # NaN confidence: 0, so 70
        ("Q", -4, 3000.0, 2980.0, 50.0),  # confidence below the floor: 70
        ("Q", 2, 2900.0, 3000.0, 200.0),
    ]
    answers = pd.DataFrame(
        {
            "Patient": [r[0] for r in rows],
            "Weeks": [r[1] for r in rows],
            "FVC": [r[2] for r in rows],
            "Patient_Week": [f"{r[0]}_{r[1]}" for r in rows],
            "Confidence": 100,
        }
    )
    submission = pd.DataFrame(
        {
            "Patient_Week": answers["Patient_Week"],
            "FVC": [r[3] for r in rows],
            "Confidence": [r[4] for r in rows],
        }
    )
    return answers, submission


def test_laplace_log_likelihood_by_hand() -> None:
    answers, submission = osic_frames()
    expected = np.mean(
        [
            laplace_by_hand(2050, 3500, 300),
            laplace_by_hand(2100, 2150, 100),
            laplace_by_hand(2300, 2300, 0),
            laplace_by_hand(3000, 2980, 50),
            laplace_by_hand(2900, 3000, 200),
        ]
    )
    assert osic(answers, submission) == pytest.approx(expected)


def test_laplace_log_likelihood_is_best_for_exact_forecasts_at_the_floor() -> None:
    answers, submission = osic_frames()
    perfect = submission.assign(FVC=answers["FVC"].fillna(0.0), Confidence=70.0)
    best = osic(answers, perfect)
    assert best == pytest.approx(-math.log(math.sqrt(2) * 70))
    assert osic(answers, submission) < best
    assert osic(answers, perfect.assign(Confidence=200.0)) < best


def test_laplace_log_likelihood_errors() -> None:
    answers, submission = osic_frames()
    with pytest.raises(ValueError, match="'Patient'"):
        osic(answers.drop(columns=["Patient"]), submission)
    with pytest.raises(ValueError, match="_<week number>"):
        osic(answers.assign(Patient_Week="P-week-x"), submission)


# ---------------------------------------------------------------- Jigsaw: bias AUCs


def jigsaw_frames(n: int = 3000) -> tuple[pd.DataFrame, pd.DataFrame]:
    toxicity = np.clip(RNG.beta(0.6, 2.0, n), 0, 1)
    answers = pd.DataFrame({"id": np.arange(n), "toxicity": toxicity})
    for column in IDENTITY_COLUMNS:
        values = np.where(RNG.random(n) < 0.15, RNG.random(n) * 0.4 + 0.4, RNG.random(n) * 0.3)
        values[RNG.random(n) < 0.3] = np.nan  # unannotated rows
        answers[column] = values
    prediction = np.clip(toxicity + RNG.normal(scale=0.25, size=n), 0, 1)
    return answers, pd.DataFrame({"id": answers["id"], "prediction": prediction})


def jigsaw(answers: pd.DataFrame, submission: pd.DataFrame) -> float:
    name = "jigsaw-unintended-bias-in-toxicity-classification-score"
    return get_metric(name).fn(answers, submission, ["prediction"])


def jigsaw_by_hand(answers: pd.DataFrame, submission: pd.DataFrame) -> float:
    """mle-bench's recipe with sklearn on explicitly filtered frames, the submission binarised at 0.5."""
    toxic = (answers["toxicity"] >= 0.5).astype(int)
    hard = (submission["prediction"] >= 0.5).astype(int)
    overall = roc_auc_score(toxic, hard)
    means = []
    for kind in ("subgroup", "bpsn", "bnsp"):
        aucs = []
        for column in IDENTITY_COLUMNS:
            mentioned = (answers[column] >= 0.5).astype(int)  # NaN >= 0.5 is False
            if kind == "subgroup":
                keep = mentioned == 1
            elif kind == "bpsn":
                keep = ((toxic == 0) & (mentioned == 1)) | ((toxic == 1) & (mentioned == 0))
            else:
                keep = ((toxic == 1) & (mentioned == 1)) | ((toxic == 0) & (mentioned == 0))
            aucs.append(roc_auc_score(toxic[keep], hard[keep]))
        means.append((sum(a**-5 for a in aucs) / len(aucs)) ** (1 / -5))
    return float(0.25 * overall + 0.25 * sum(means))


def test_jigsaw_matches_sklearn_on_filtered_subsets() -> None:
    answers, submission = jigsaw_frames()
    assert jigsaw(answers, submission) == pytest.approx(jigsaw_by_hand(answers, submission))


def test_jigsaw_binarises_the_submission_like_mle_bench() -> None:
    answers, submission = jigsaw_frames()
    # Squaring keeps the ranking (so a continuous AUC) but moves rows below 0.5: the score changes.
    squared = submission.assign(prediction=submission["prediction"] ** 2)
    assert jigsaw(answers, squared) != pytest.approx(jigsaw(answers, submission))
    assert jigsaw(answers, squared) == pytest.approx(jigsaw_by_hand(answers, squared))
    rounded = submission.assign(prediction=(submission["prediction"] >= 0.5).astype(float))
    assert jigsaw(answers, rounded) == pytest.approx(jigsaw(answers, submission))
    assert jigsaw(answers, submission.assign(prediction=answers["toxicity"])) == pytest.approx(1.0)


def test_rank_auc_matches_sklearn_with_ties() -> None:
    labels = RNG.integers(0, 2, 500).astype(bool)
    scores = np.round(RNG.random(500) + 0.3 * labels, 1)
    assert rank_auc(labels, scores, "test") == pytest.approx(roc_auc_score(labels, scores))


def test_jigsaw_errors() -> None:
    answers, submission = jigsaw_frames(200)
    with pytest.raises(ValueError, match="'muslim'"):
        jigsaw(answers.drop(columns=["muslim"]), submission)
    with pytest.raises(ValueError, match="single class"):
        jigsaw(answers.assign(toxicity=0.0), submission)
