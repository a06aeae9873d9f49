"""HCE on new-york-city-taxi-fare-prediction's shape: time and peak memory of the split, the agent's copy
and one scoring, at a row count this machine can hold (the real labels.csv has 55M rows).

Usage: python bench/hce_taxi.py [rows]   (default 1,000,000)
Writes a task laid out as mle-bench's prepare.py does (labels.csv with the taxi columns, test.csv of
9,914 rows, the answers in prepared/private/test.csv), then, in a fresh process each: builds the HCE
evaluator of the taxi preset (layout streamed-table: labels.csv read in chunks of lines, the hidden
rows held, at most 200,000 each in D_search and D_val), writes the agent's copy (labels.csv streamed
without the hidden rows), and scores one submission covering D_search, D_val and D_test. Reports wall
time and peak resident memory.
"""

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST_ROWS = 9914


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def lay_out(root: Path, rows: int) -> None:
    """labels.csv, test.csv, sample_submission.csv and the answers, in the taxi competition's columns."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    prepared = root / "data" / "taxi" / "prepared"
    public, private = prepared / "public", prepared / "private"
    public.mkdir(parents=True)
    private.mkdir(parents=True)
    n = rows + TEST_ROWS
    seconds = rng.integers(1_230_768_000, 1_435_708_800, n)
    stamp = pd.to_datetime(seconds, unit="s").strftime("%Y-%m-%d %H:%M:%S")
    table = pd.DataFrame(
        {
            "key": [f"{s}.{k:07d}" for k, s in enumerate(stamp)],
            "fare_amount": rng.gamma(2.0, 5.5, n).round(2),
            "pickup_datetime": [f"{s} UTC" for s in stamp],
            "pickup_longitude": rng.normal(-73.97, 0.04, n).round(6),
            "pickup_latitude": rng.normal(40.75, 0.03, n).round(6),
            "dropoff_longitude": rng.normal(-73.97, 0.04, n).round(6),
            "dropoff_latitude": rng.normal(40.75, 0.03, n).round(6),
            "passenger_count": rng.integers(1, 7, n),
        }
    )
    table.iloc[:rows].to_csv(public / "labels.csv", index=False)
    test = table.iloc[rows:]
    test.drop(columns="fare_amount").to_csv(public / "test.csv", index=False)
    test[["key", "fare_amount"]].to_csv(private / "test.csv", index=False)
    test[["key"]].assign(fare_amount=11.35).to_csv(public / "sample_submission.csv", index=False)
    (public / "description.md").write_text("# taxi (bench)\n")


def step(name: str, root: Path) -> dict[str, float]:
    """One measured step, in this (fresh) process."""
    import pandas as pd

    from evaluation.layouts import hidden_consistent_evaluation
    from evaluation.mlebench_presets import PRESETS
    from evaluation.task import TaskSpec, load_task

    task_dir = root / "task"
    if not task_dir.exists():
        task_dir.mkdir()
        (task_dir / "prepared").symlink_to(root / "data" / "taxi" / "prepared")
        spec = TaskSpec(
            name="taxi",
            metric="root-mean-squared-error",
            id_column="key",
            target_columns=["fare_amount"],
            **PRESETS["new-york-city-taxi-fare-prediction"],  # streamed-table, 200,000 rows per hidden split
        )
        (task_dir / "task.yaml").write_text(json.dumps(spec.model_dump(exclude_defaults=True)))
    task = load_task(task_dir)
    baseline = _peak_mb()
    started = time.perf_counter()
    hce = hidden_consistent_evaluation(task, split_seed=0)
    result: dict[str, float] = {"evaluator_s": time.perf_counter() - started}
    if name == "copy":
        started = time.perf_counter()
        hce.write_public(root / "copy")
        result["copy_s"] = time.perf_counter() - started
    if name == "score":
        test = pd.read_csv(root / "copy" / "test.csv", usecols=["key"], dtype=str)
        data = test.assign(fare_amount=11.35).to_csv(index=False).encode()
        started = time.perf_counter()
        scores = hce.score(data)
        result["score_s"] = time.perf_counter() - started
        result["search_rmse"] = float(scores.search or 0.0)
        result["scored_rows"] = float(len(test))
    result["peak_mb_above_baseline"] = _peak_mb() - baseline
    result["peak_mb"] = _peak_mb()
    return result


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        # In a process of its own: a child forked from a big parent starts with the parent's peak RSS
        # (ru_maxrss survives fork and exec), so the steps are started from a small one.
        subprocess.run([sys.executable, __file__, "--lay-out", str(rows), str(root)], cwd=ROOT, check=True)
        size = (root / "data" / "taxi" / "prepared" / "public" / "labels.csv").stat().st_size
        took = time.perf_counter() - started
        print(f"labels.csv: {rows:,} rows, {size / 2**20:.0f} MiB, written in {took:.0f} s")
        for name in ("split", "copy", "score"):
            out = subprocess.run(
                [sys.executable, __file__, "--step", name, str(root)],
                capture_output=True,
                text=True,
                cwd=ROOT,
                check=True,
            )
            print(name, out.stdout.strip())


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--lay-out":
        lay_out(Path(sys.argv[3]), int(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "--step":
        sys.path.insert(0, str(ROOT))
        print(json.dumps({k: round(v, 2) for k, v in step(sys.argv[2], Path(sys.argv[3])).items()}))
    else:
        main()
