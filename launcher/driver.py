"""What launch.py drives once Ray is up: the cluster check, the one policy server, the grid of runs."""

import logging
import os
from pathlib import Path

import ray
from rich.console import Console
from rich.markup import escape

from evaluation.task import Task
from launcher.benchmark import BenchmarkRow, BenchmarkSummary, benchmark_tasks, write_benchmark
from launcher.config import RunConfig
from launcher.placement import ClusterError, embedded_resources, runs_that_fit
from launcher.result import RunResult
from launcher.starting import StartError, cause
from launcher.tracking import WandbTracker
from serving.server import PolicyEndpoint, PolicyError, start_policy_server, stop_policy_server

log = logging.getLogger(__name__)

# Starts of the embedded Ray before giving up.
EMBEDDED_START_ATTEMPTS = 3

__all__ = [
    "ClusterError",
    "RunFailed",
    "StartError",
    "check_cluster",
    "connect_ray",
    "run_benchmark",
    "run_single",
]


class RunFailed(Exception):
    """A single run ended without a result; the message is the error its run unit recorded."""


def connect_ray(cfg: RunConfig) -> None:
    """Start an embedded local Ray on loopback (ray.address=null) or join a cluster."""
    # Serve logs every deployment step at INFO on the driver; the progress line says what matters.
    logging.getLogger("ray.serve").setLevel(logging.WARNING)
    # Tune's own loggers (CSV, JSON, TensorBoard per trial) would only duplicate the run directories,
    # and its tables would only repeat the grid's progress lines; without the loggers it warns that
    # the trials have no result files, which is what we want.
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    if cfg.ray.address is None:
        for attempt in range(1, EMBEDDED_START_ATTEMPTS + 1):
            try:
                _start_embedded_ray(cfg)
                return
            except Exception as e:
                ray.shutdown()  # the processes it started, if any
                # Ray gives its raylet a fixed 30 s to register, which a busy machine can miss.
                if attempt == EMBEDDED_START_ATTEMPTS:
                    raise StartError(
                        f"Ray start failed {attempt} times: the embedded local Ray did not come up: "
                        f"{cause(e)}; its logs are in /tmp/ray/session_latest/logs (a busy machine: try "
                        "again later; or join a running cluster with ray.address)"
                    ) from None
                log.warning("the embedded Ray did not start (%s); trying again", cause(e))
    try:
        ray.init(address=cfg.ray.address, namespace=cfg.ray.namespace, log_to_driver=False)
    except (ConnectionError, RuntimeError) as e:
        raise ClusterError(
            f"ray.address={cfg.ray.address}: no Ray cluster reachable ({str(e).splitlines()[0]}): "
            "start one with `ray up cluster.yaml` "
            "and launch on its head node, or set ray.address=null for a local instance"
        ) from None


def _start_embedded_ray(cfg: RunConfig) -> None:
    num_cpus, resources = embedded_resources(cfg, os.cpu_count() or 1)
    ray.init(
        # "local": a new instance of our own even when another Ray runs on this machine (without
        # it, ray.init joins the cluster of RAY_ADDRESS or of /tmp/ray/ray_current_cluster).
        address="local",
        namespace=cfg.ray.namespace,
        num_cpus=num_cpus,
        resources=resources,
        include_dashboard=cfg.ray.include_dashboard,
        _metrics_export_port=cfg.ray.metrics_export_port,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
    )


def check_cluster(cfg: RunConfig) -> int:
    """How many runs the connected cluster holds at once beside the policy server; ClusterError
    (with the numbers) before anything starts when it can never hold one."""
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    return runs_that_fit(cfg, nodes)


def _grid(
    cfg: RunConfig, root: Path, tasks: list[str], seeds: list[int], single: bool, console: Console
) -> list[tuple[BenchmarkRow, RunResult | None]]:
    """Check the cluster, deploy the one policy server, run the grid, take the server down."""
    from launcher.grid import run_grid
    from launcher.run_unit import GridSpec

    if not single and (done := _all_finished(root.resolve(), tasks, seeds)) is not None:
        return done  # a finished grid launched again: its table at once, nothing deployed or started
    fit = check_cluster(cfg)
    wanted = cfg.benchmark.max_concurrent if cfg.benchmark else None
    endpoint = start_policy(cfg)
    console.print(f"policy server: {cfg.policy.name} at {endpoint.base_url} (model {endpoint.model})")
    if not single:
        at_once = min(fit, wanted) if wanted else fit
        console.print(
            f"grid: {len(tasks) * len(seeds)} runs ({len(tasks)} tasks x {len(seeds)} seeds), "
            f"{at_once} at a time, {cfg.search.num_workers} workers each"
        )
    try:
        spec = GridSpec(cfg=cfg, root=root.resolve(), endpoint=endpoint, single=single)
        return run_grid(spec, tasks, seeds, wanted)
    finally:
        stop_policy_server(cfg.policy)


def _all_finished(
    root: Path, tasks: list[str], seeds: list[int]
) -> list[tuple[BenchmarkRow, RunResult | None]] | None:
    """Every run's reused row when each (task, seed) under `root` has its result.json, else None (an
    unreadable result.json too: the grid's run unit then records why)."""
    from launcher.run_unit import benchmark_run_dir, finished_run

    rows: list[tuple[BenchmarkRow, RunResult | None]] = []
    for task in tasks:
        for seed in seeds:
            try:
                found = finished_run(benchmark_run_dir(root, task, seed), task, seed)
            except Exception:
                log.debug("result.json of %s seed %s unreadable", task, seed, exc_info=True)
                return None
            if found is None:
                return None
            rows.append(found)
    return rows


def start_policy(cfg: RunConfig) -> PolicyEndpoint:
    """Deploy the one policy server; a failure is a StartError naming it, and leaves no app behind."""
    try:
        return start_policy_server(cfg.policy, cfg.serve.host, cfg.serve.port)
    except PolicyError as e:  # the cluster's running Serve cannot serve this grid; nothing started yet
        raise ClusterError(str(e)) from None
    except Exception as e:
        try:
            stop_policy_server(cfg.policy)
        except Exception:
            log.debug("no policy app to delete after the failed start", exc_info=True)
        raise StartError(
            f"policy server (policy={cfg.policy.name}) failed to start: {cause(e)}; "
            f"check the policy.* settings and serve.port={cfg.serve.port}"
        ) from None


def run_single(cfg: RunConfig, task: Task, root: Path, console: Console) -> RunResult:
    """One search (no benchmark) through the same run unit, in run directory `root`."""
    [(row, result)] = _grid(cfg, root, [task.spec.name], [cfg.seed], True, console)
    if result is None:
        raise RunFailed(f"{row.error} (the run's log: {root / 'tune'})")
    return result


def run_benchmark(cfg: RunConfig, root: Path, console: Console) -> BenchmarkSummary:
    """Every (task, seed) of the benchmark as a grid, each under `root/<task>/seed<k>/`; the table."""
    assert cfg.benchmark is not None
    tasks = benchmark_tasks(cfg.benchmark)
    outcomes = _grid(cfg, root, tasks, list(cfg.benchmark.seeds), False, console)
    for row, _ in outcomes:
        if row.reused:
            console.print(f"{row.task}, seed {row.seed}: already finished: its result.json is reused")
        elif row.error:
            console.print(f"[red]{row.task}, seed {row.seed} failed:[/] {escape(row.error)}", highlight=False)
    summary = write_benchmark(cfg.benchmark.name, [row for row, _ in outcomes], root)
    # The grid's table goes to a W&B run of its own, beside one W&B run per search run.
    tracker = WandbTracker(
        cfg.wandb,
        root,
        cfg.benchmark.name,
        cfg.experiment,
        cfg.model_dump(mode="json"),
        lambda message: console.print(f"[yellow]{escape(message)}[/]"),
        job_type="grid",
    )
    tracker.log_table("runs", [row.model_dump(mode="json") for row in summary.rows])
    tracker.finish(
        {
            "runs": summary.runs,
            "mean_percentile_rank": summary.mean_percentile_rank.mean,
            "mean_percentile_rank_se": summary.mean_percentile_rank.stderr,
            "gold_pct": summary.gold_pct.mean,
            "bronze_or_better_pct": summary.bronze_or_better_pct.mean,
            "above_median_pct": summary.above_median_pct.mean,
        }
    )
    return summary
