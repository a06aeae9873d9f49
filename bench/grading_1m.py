"""Grading time and memory for a 1,000,000-row submission, for the three most common MLE-bench metrics.

Usage: python bench/grading_1m.py [rows]
The three most common graders of MLE-bench-30 + Lite (competitions.tsv): auc-roc, multi-class-log-loss
(three class columns here) and accuracy; RMSE is measured too. Each metric runs in a fresh process
that writes a task directory and a submission CSV, then grades it the way a run does: parse and check
the submission bytes (evaluation.submission), align it to the answers by id, score it. Reported: the
grading wall time and the peak resident memory of the grading step above the process's baseline.
"""

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METRICS = ["auc-roc", "multi-class-log-loss", "accuracy", "root-mean-squared-error"]


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one(metric: str, rows: int, root: Path) -> dict[str, float | str]:
    """Write a task and a submission for `metric`, then grade it once; runs in its own process."""
    import numpy as np
    import pandas as pd

    from evaluation.mlebench import grade_on_answers
    from evaluation.task import load_task

    rng = np.random.default_rng(0)
    ids = [f"id{k:07d}" for k in range(rows)]
    truth: np.ndarray
    guess: np.ndarray
    if metric == "multi-class-log-loss":
        targets = ["a", "b", "c"]
        truth = np.eye(3)[rng.integers(0, 3, rows)]
        guess = rng.dirichlet(np.ones(3), rows)
    elif metric == "auc-roc":
        targets = ["y"]
        truth = rng.integers(0, 2, (rows, 1)).astype(float)
        guess = rng.random((rows, 1))
    elif metric == "accuracy":
        targets = ["y"]
        truth = rng.integers(0, 10, (rows, 1))
        guess = np.where(rng.random((rows, 1)) < 0.7, truth, rng.integers(0, 10, (rows, 1)))
    else:
        targets = ["y"]
        truth = rng.normal(size=(rows, 1))
        guess = truth + rng.normal(size=(rows, 1))
    public, private = root / "prepared" / "public", root / "prepared" / "private"
    public.mkdir(parents=True)
    private.mkdir(parents=True)
    answers = pd.DataFrame(truth, columns=targets)
    answers.insert(0, "id", ids)
    answers.to_csv(private / "test.csv", index=False)
    answers[["id"]].to_csv(public / "test.csv", index=False)
    answers.head(100).to_csv(public / "train.csv", index=False)
    answers.assign(**{t: answers[t].iloc[0] for t in targets}).to_csv(
        public / "sample_submission.csv", index=False
    )
    (public / "description.md").write_text("bench\n")
    (root / "task.yaml").write_text(
        f"name: bench\nmetric: {metric}\nid_column: id\ntarget_columns: {targets}\n"
    )
    submission = pd.DataFrame(guess, columns=targets)
    # Shuffled rows: grading must align by id, not by position.
    submission.insert(0, "id", ids)
    submission = submission.sample(frac=1, random_state=0)
    path = root / "submission.csv"
    submission.to_csv(path, index=False)
    task = load_task(root)
    del answers, submission, truth, guess
    baseline = _peak_mb()
    started = time.perf_counter()
    score = grade_on_answers(task, path)
    seconds = time.perf_counter() - started
    return {
        "metric": metric,
        "rows": rows,
        "csv_mb": path.stat().st_size / 1e6,
        "grade_s": seconds,
        "peak_rss_mb": _peak_mb(),
        "peak_above_baseline_mb": _peak_mb() - baseline,
        "score": score,
    }


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--one":
        metric, rows = sys.argv[2], int(sys.argv[3])
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(one(metric, rows, Path(tmp))))
        return 0
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    print("| metric | rows | submission CSV | grading time | peak RSS (process) | peak above baseline |")
    print("|---|---|---|---|---|---|")
    for metric in METRICS:
        proc = subprocess.run(
            [sys.executable, __file__, "--one", metric, str(rows)], capture_output=True, text=True, cwd=ROOT
        )
        if proc.returncode != 0:
            print(proc.stderr[-2000:])
            return 1
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(
            f"| {r['metric']} | {r['rows']:,} | {r['csv_mb']:.0f} MB | {r['grade_s']:.2f} s | "
            f"{r['peak_rss_mb']:.0f} MB | {r['peak_above_baseline_mb']:.0f} MB |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
