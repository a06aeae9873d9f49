"""Time one grading with its bootstrap standard error of uw-madison-gi-tract's dice-hausdorff-combo at
a hidden split's real size: `python bench/grading_uw.py [case_days]` (default 26, about a tenth of the
competition's 274 case-days of 144 slices of 266 x 266, three organ classes, 2 case-days a case).

Prints the time of one grade (the metric on the split), of the grade with its SE as the evaluator
computes it (summed per-case statistics, evaluation/metric_sums.py), and what regrading 100 resamples
would take (100 grades, estimated from the one measured: it is not run).
"""

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SIZE, SLICES = 266, 144
ORGANS = [("large_bowel", 100, 100, 25), ("small_bowel", 150, 160, 20), ("stomach", 120, 200, 15)]


def rle(mask: np.ndarray) -> str:
    """mle-bench's RLE: 1-based runs over the pixels numbered down each column, then across."""
    flat = np.concatenate(([0], mask.T.ravel().astype(int), [0]))
    edges = np.flatnonzero(np.diff(flat))
    return " ".join(f"{s + 1} {e - s}" for s, e in zip(edges[0::2], edges[1::2], strict=True))


def frames(case_days: int) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Answers (discs through the middle slices of each scan) and a submission off by a few pixels
    and slices; the case of each row (whole cases are resampled)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    rows, guesses = [], []
    for k in range(case_days):
        case_day = f"case{k // 2 + 1}_day{k % 2}"
        first, last = int(rng.integers(20, 50)), int(rng.integers(90, 130))
        for s in range(1, SLICES + 1):
            for organ, cy, cx, r in ORGANS:
                dy, dx = rng.integers(-4, 5, 2)
                truth = ((yy - cy) ** 2 + (xx - cx) ** 2 < r * r) & (first < s < last)
                guess = ((yy - cy - dy) ** 2 + (xx - cx - dx) ** 2 < r * r) & (first + 2 < s < last + 1)
                rows.append({"id": f"{case_day}_slice_{s:04d}", "class": organ, "predicted": rle(truth)})
                guesses.append(rle(guess))
    answers = pd.DataFrame(rows).assign(image_height=float(SIZE), image_width=float(SIZE))
    submission = answers[["id", "class"]].assign(predicted=guesses)
    return answers, submission, answers["id"].str.split("_").str[0].to_numpy()


def main() -> None:
    from evaluation.grading import grade_aligned, grade_with_se
    from evaluation.metrics import get_metric
    from evaluation.task import TaskSpec

    case_days = int(sys.argv[1]) if len(sys.argv) > 1 else 26
    answers, submission, cases = frames(case_days)
    spec = TaskSpec(
        name="uw-madison-gi-tract-image-segmentation",
        metric="dice-hausdorff-combo",
        id_column="id",
        target_columns=["predicted"],
    )
    metric = get_metric(spec.metric)
    started = time.perf_counter()
    value = grade_aligned(spec, answers, submission, metric)
    one = time.perf_counter() - started
    started = time.perf_counter()
    graded, se = grade_with_se(spec, answers, submission, metric, cases)
    with_se = time.perf_counter() - started
    assert graded == value and se is not None
    print(
        f"{case_days} case-days, {len(answers):,} rows: score {value:.4f} ± {se:.4f}; one grade {one:.1f} s; "
        f"grade with SE from summed statistics {with_se:.1f} s; regrading 100 resamples ~{100 * one:.0f} s "
        "(estimated)"
    )


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
