"""Grading time for a 1,000,000-row submission through the evaluator's own scoring path.

Usage: python bench/grading_1m.py [rows] [--path hce|evaluator]
The three most common graders of MLE-bench-30 + Lite (competitions.tsv): auc-roc, multi-class-log-loss
(three class columns here) and accuracy; RMSE is measured too. Each metric runs in a fresh process that
writes a task directory whose HCE split gives a `rows`-row agent test file (D_search + D_val from a
train.csv of `rows` rows, D_test from a test.csv of 0.8 x `rows` rows), builds the evaluator (not
timed), writes a submission in the agent's format (opaque ids, shuffled), then scores it as a run does:
parse and check the bytes, map the opaque ids back, grade D_search, D_val and D_test. `--path hce`
(default) times `HiddenConsistentEvaluation.score` in the process; `--path evaluator` times
`HCEEvaluator.score`, which scores in a child process with time and memory limits (what the evaluator
actor runs). Reported: the scoring wall time, its CPU time (on a loaded machine the wall time measures
the load; with `--path evaluator` the scoring process's CPU time plus the evaluator's) and the peak
resident memory of the measuring process.
"""

import argparse
import json
import os
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


def _children_cpu_s() -> float:
    """CPU seconds used so far by this process's live children (the evaluator's scoring processes)."""
    ticks, me = 0, str(os.getpid())
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a process that ended meanwhile
        if fields[1] == me:  # fields after the command: state, ppid, ..., utime (12), stime (13)
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _write_task(metric: str, rows: int, root: Path) -> list[str]:
    """A task directory of `rows` training rows and 0.8 x `rows` test rows; returns the target columns."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    n_train, n_test = rows, rows * 8 // 10
    n = n_train + n_test
    if metric == "multi-class-log-loss":
        targets = ["a", "b", "c"]
        truth = np.eye(3, dtype=int)[rng.integers(0, 3, n)]
    elif metric == "auc-roc":
        targets = ["y"]
        truth = rng.integers(0, 2, (n, 1))
    elif metric == "accuracy":
        targets = ["y"]
        truth = rng.integers(0, 10, (n, 1))
    else:
        targets = ["y"]
        truth = rng.normal(size=(n, 1)).round(6)
    table = pd.DataFrame(truth, columns=targets)
    table.insert(0, "x", rng.normal(size=n).round(4))
    table.insert(0, "id", [f"id{k:07d}" for k in range(n)])
    public, private = root / "prepared" / "public", root / "prepared" / "private"
    public.mkdir(parents=True)
    private.mkdir(parents=True)
    table.iloc[:n_train].to_csv(public / "train.csv", index=False)
    test = table.iloc[n_train:]
    test[["id", "x"]].to_csv(public / "test.csv", index=False)
    test[["id", *targets]].to_csv(private / "test.csv", index=False)
    sample = test[["id", *targets]].assign(**{t: 0.5 if metric != "accuracy" else 0 for t in targets})
    sample.to_csv(public / "sample_submission.csv", index=False)
    (public / "description.md").write_text("bench\n")
    (root / "task.yaml").write_text(
        f"name: bench\nmetric: {metric}\nid_column: id\ntarget_columns: {targets}\n"
    )
    return targets


def _submission(metric: str, public_test: Path, targets: list[str]) -> bytes:
    """Random predictions for every row of the agent's test.csv, rows shuffled."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(1)
    guess: np.ndarray
    ids = pd.read_csv(public_test, usecols=["id"], dtype=str)["id"]
    n = len(ids)
    if metric == "multi-class-log-loss":
        guess = rng.dirichlet(np.ones(3), n)
    elif metric == "accuracy":
        guess = rng.integers(0, 10, (n, 1))
    else:
        guess = rng.random((n, 1))
    submission = pd.DataFrame(guess, columns=targets)
    submission.insert(0, "id", ids.to_numpy())
    return submission.sample(frac=1, random_state=0).to_csv(index=False).encode()


def one(metric: str, rows: int, root: Path, path: str) -> dict[str, float | str]:
    """Build the task and the evaluator, then score one submission; runs in its own process."""
    from evaluation.hce import HiddenConsistentEvaluation
    from evaluation.task import load_task

    targets = _write_task(metric, rows, root / "task")
    hce = HiddenConsistentEvaluation(load_task(root / "task"), 2603)
    hce.write_public(root / "public")
    submission = _submission(metric, root / "public" / "test.csv", targets)
    hce.scorer()  # built once per evaluator, not per submission
    if path == "evaluator":
        from evaluation.evaluator import HCEEvaluator

        del hce
        evaluator = HCEEvaluator(
            str(root / "task"), 2603, (0.8, 0.1, 0.1), str(root / "public"), str(root / "sealed.jsonl")
        )
        started, cpu = time.perf_counter(), _children_cpu_s() + time.process_time()
        search = evaluator.score(1, submission)
        seconds = time.perf_counter() - started
        cpu = _children_cpu_s() + time.process_time() - cpu  # the scoring process's and this one's
        evaluator.close()
        valid, score, reason = search.valid, search.search, search.reason
    else:
        started, cpu = time.perf_counter(), time.process_time()
        scores = hce.score(submission)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        valid, score, reason = scores.valid, scores.search, scores.reason
    if not valid:
        raise SystemExit(f"{metric}: the bench submission was judged invalid: {reason}")
    return {
        "metric": metric,
        "rows": len(submission.splitlines()) - 1,
        "csv_mb": len(submission) / 1e6,
        "score_s": seconds,
        "cpu_s": cpu,
        "peak_rss_mb": _peak_mb(),
        "search_score": score or 0.0,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("rows", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--path", choices=["hce", "evaluator"], default="hce")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    # D_search + D_val are a fifth of train.csv: 0.2 x r + 0.8 x r = r rows in the agent's test.csv.
    if args.one:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(one(args.one, args.rows, Path(tmp), args.path)))
        return 0
    print(f"scoring path: {args.path}")
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print("| metric | submission rows | submission CSV | scoring time | CPU time | peak RSS (process) |")
    print("|---|---|---|---|---|---|")
    for metric in METRICS:
        command = [sys.executable, __file__, str(args.rows), "--path", args.path, "--one", metric]
        proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            print(proc.stderr[-2000:])
            return 1
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(
            f"| {r['metric']} | {r['rows']:,} | {r['csv_mb']:.0f} MB | {r['score_s']:.2f} s | "
            f"{r['cpu_s']:.2f} s | {r['peak_rss_mb']:.0f} MB |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
