"""The grid on Ray Tune: a grid search over tasks x seeds, one run unit per trial, side by side.

At most `benchmark.max_concurrent` runs at once (null: as many as the cluster holds; the others
queue for their placement groups). The same command run again continues the grid: each run unit
reuses its run's result.json or resumes from its journal, so nothing finished is lost or redone.
"""

import time

from ray import tune

from launcher.benchmark import BenchmarkRow
from launcher.placement import run_bundles
from launcher.progress import GridProgress
from launcher.result import RunResult
from launcher.run_unit import GridSpec, run_unit

TUNE_DIR = "tune"  # under the grid's root: Tune's own experiment state and trial logs


def run_grid(
    spec: GridSpec, tasks: list[str], seeds: list[int], max_concurrent: int | None
) -> list[tuple[BenchmarkRow, RunResult | None]]:
    """Run every (task, seed) as a Tune trial; return each run's row and result, in grid order."""
    runs = [(t, s) for t in tasks for s in seeds]
    trainable = tune.with_resources(
        tune.with_parameters(run_unit, spec=spec),
        tune.PlacementGroupFactory(run_bundles(spec.cfg), strategy="PACK"),
    )
    tuner = tune.Tuner(
        trainable,
        param_space={"task": tune.grid_search(tasks), "seed": tune.grid_search(seeds)},
        tune_config=tune.TuneConfig(max_concurrent_trials=max_concurrent),
        run_config=tune.RunConfig(
            # Each launch is a Tune experiment of its own; the runs' own directories carry the grid over.
            name=time.strftime("grid-%Y%m%d-%H%M%S"),
            storage_path=str((spec.root / TUNE_DIR).resolve()),
            verbose=0,
            callbacks=[GridProgress(single=spec.single, grid=str(spec.root))],
            # A run unit whose process died (its node lost) is started again: it resumes its journal.
            failure_config=tune.FailureConfig(max_failures=2),
        ),
    )
    grid = tuner.fit()
    found: dict[tuple[str, int], tuple[BenchmarkRow, RunResult | None]] = {}
    for r in (grid[i] for i in range(len(grid))):
        config = r.config or {}
        key = (str(config["task"]), int(config["seed"]))
        metrics = r.metrics or {}
        if "row" in metrics:
            text = metrics.get("result") or ""
            result = RunResult.model_validate_json(text) if text else None
            found[key] = (BenchmarkRow.model_validate_json(metrics["row"]), result)
        else:
            # The run unit itself died every time Tune started it (it records other failures).
            row = BenchmarkRow(
                task=key[0],
                seed=key[1],
                run_dir=str(spec.run_dir(*key)),
                percentile_rank=0.0,
                error=f"run unit failed: {r.error}",
            )
            found[key] = (row, None)
    return [found[k] for k in runs]
