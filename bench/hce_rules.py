"""Which hidden score should pick the final node? The selection rules compared on the offline benchmark.

Usage: python bench/hce_rules.py [--tasks wine,diabetes] [--seeds 0,1,2] [--nodes 12] [--out DIR]
       python bench/hce_rules.py --analyse DIR      (the table of a benchmark directory already run)

Runs `launch.py benchmark=local` (the scripted baseline policy, an LLM-free test double) over the tasks
and seeds with `hce.refit_final=true`, then reads each run's sealed scores: for every run, the D_test
score of the node each rule picks (`val`, the paper's; `search`; `pooled`, the metric on D_search and
D_val rows together; `refit`, the val pick rerun on every labelled row), of the best node and of the
median node. Per task: mean gain over the median node ± standard error over seeds (positive = better,
whatever the metric's direction). Overall: each pick's share of the gap between the median and the best
node (1 = always the best node, 0 = no better than the median), mean ± standard error over runs.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evaluation.aggregate import mean_with_stderr  # noqa: E402
from evaluation.config import FinalSelection  # noqa: E402
from evaluation.metrics import get_metric  # noqa: E402
from evaluation.scores import Scores  # noqa: E402
from evaluation.selection import pick_final  # noqa: E402

RULES = ("val", "search", "pooled", "refit")


def run_rules(run_dir: Path) -> tuple[str, dict[str, float], float, float] | None:
    """(task, D_test score of each rule's pick, best node's, median node's) of one run, signed so that
    higher is better; None for a run with no valid node."""
    history = [json.loads(line) for line in (run_dir / "configs.jsonl").read_text().splitlines()]
    sign = -1.0 if get_metric(history[-1]["metric"]).lower_is_better else 1.0
    sealed: dict[int, Scores] = {}
    for line in (run_dir / "hce_private" / "sealed_scores.jsonl").read_text().splitlines():
        record = json.loads(line)
        sealed[record["node_id"]] = Scores.model_validate(record["scores"])
    valid = {i: s for i, s in sealed.items() if s.valid and s.test is not None}
    if not valid:
        return None
    tests = [sign * (s.test or 0.0) for s in valid.values()]
    picked: dict[str, float] = {}
    rules: tuple[FinalSelection, ...] = ("val", "search", "pooled")
    for rule in rules:
        node = pick_final(valid, rule, sign < 0)
        if node is not None:
            picked[rule] = sign * (valid[node].test or 0.0)
    result = json.loads((run_dir / "result.json").read_text())
    if result.get("refit_test_score") is not None:
        picked["refit"] = sign * result["refit_test_score"]
    return history[-1]["task_name"], picked, max(tests), statistics.median(tests)


def _pm(values: list[float], digits: int = 4) -> str:
    if not values:
        return "-"
    e = mean_with_stderr(values)
    return f"{e.mean:+.{digits}f} ± {e.stderr:.{digits}f}"


def table(root: Path) -> str:
    """The comparison of the rules over every run directory under `root` (those with a result.json)."""
    runs = [r for p in sorted(root.rglob("result.json")) if (r := run_rules(p.parent)) is not None]
    tasks = sorted({task for task, *_ in runs})
    lines = [
        "| task | runs | " + " | ".join(f"{r} − median" for r in RULES) + " | best − median |",
        "|---|---|" + "---|" * (len(RULES) + 1),
    ]
    for task in tasks:
        mine = [(p, best, median) for t, p, best, median in runs if t == task]
        gains = [_pm([p[r] - median for p, _, median in mine if r in p]) for r in RULES]
        best = _pm([best - median for _, best, median in mine])
        lines.append(f"| {task} | {len(mine)} | " + " | ".join(gains) + f" | {best} |")
    shares = []
    for rule in RULES:
        share = [(p[rule] - m) / (b - m) for _, p, b, m in runs if rule in p and b > m]
        shares.append(_pm(share, 2))
    lines.append(f"| share of the best − median gap | {len(runs)} | " + " | ".join(shares) + " | +1 |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", default="wine,diabetes,breast-cancer")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--nodes", type=int, default=12)
    parser.add_argument("--wall-clock-s", type=int, default=240)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--analyse", type=Path, default=None)
    args = parser.parse_args()
    if args.analyse:
        print(table(args.analyse))
        return 0
    out = args.out or Path("runs") / "bench-hce-rules" / time.strftime("%Y%m%d-%H%M%S")
    command = [
        sys.executable,
        str(ROOT / "launch.py"),
        "benchmark=local",
        f"benchmark.tasks=[{args.tasks}]",
        f"benchmark.seeds=[{args.seeds}]",
        f"search.budget.max_nodes={args.nodes}",
        f"search.budget.wall_clock_s={args.wall_clock_s}",
        "search.num_drafts=4",
        "hce.refit_final=true",
        "wandb.mode=disabled",
        f"hydra.run.dir={out}",
    ]
    load = os.getloadavg()[0]
    started = time.time()
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stdout[-3000:] + proc.stderr[-3000:])
        return 1
    print(
        f"tasks {args.tasks}, seeds {args.seeds}, {args.nodes} nodes per run, baseline policy; "
        f"{time.time() - started:.0f} s, load average {load:.1f} at start on {os.cpu_count()} CPUs"
    )
    print(table(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
