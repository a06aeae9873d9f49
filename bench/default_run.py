"""Time `python launch.py` on its embedded default (issue: finish in under 10 minutes on 2 cores).

Usage: python bench/default_run.py [extra launch overrides...]
Prints the wall time of the whole command (Ray start-up included) and the run's own numbers.
"""

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT_S = 600


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, str(ROOT / "launch.py"), f"hydra.run.dir={tmp}", *sys.argv[1:]],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            print(proc.stdout[-2000:], proc.stderr[-2000:])
            return 1
        result = json.loads((Path(tmp) / "result.json").read_text())
    print(
        f"python launch.py: {wall:.1f} s end to end (limit {LIMIT_S} s) -> "
        f"{'OK' if wall < LIMIT_S else 'TOO SLOW'}"
    )
    print(
        f"search wall clock {result['wall_s']:.1f} s, "
        f"{result['nodes']} nodes ({result['valid_nodes']} valid), "
        f"{result['experiments_per_hour']:.0f} experiments/hour with {result['workers']} workers"
    )
    print(
        f"final node {result['best_node']}: search {result['search_score']:.4f}, "
        f"val {result['val_score']:.4f}, "
        f"test {result['test_score']:.4f}, percentile rank {result['percentile_rank']:.1f}"
    )
    return 0 if wall < LIMIT_S else 1


if __name__ == "__main__":
    sys.exit(main())
