"""Entry point: `python launch.py [overrides]` runs one AIRA-2 search (or a benchmark) on Ray.

Wiring only: config -> checks -> Ray -> policy server -> grid of runs (or one) -> result.
The logic lives in the packages.
"""

import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.markup import escape

from evaluation.task import TaskError
from launcher.config import ConfigError, load_config
from launcher.fresh_dir import remove_new_run_dir
from launcher.overrides import unknown_keys
from launcher.preflight import PreflightError, preflight
from launcher.resume import ResumeError, check_resume

OmegaConf.register_new_resolver("aira_run_dir", lambda resume, default: resume or default)

# Read by Ray when it is imported, for the local instance `python launch.py` starts (a user's cluster
# keeps its own settings); a variable the user set wins.
EMBEDDED_RAY_ENV = {
    # Loopback only, and no usage stats sent.
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    # Serve kills an HTTP proxy that is not ready within 5 s, which a busy 2-core machine misses.
    "RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S": "60",
    # Ray starts its workers at niceness 15: any other busy process on the machine then starves the
    # Serve controller and proxy, and the run fails before it begins.
    "RAY_worker_niceness": "0",
}


def refuse(console: Console, why: str) -> None:
    """Exit 2 with one message; the run directory Hydra made for this launch goes again if empty."""
    console.print(f"[bold red]cannot start:[/]\n{escape(why)}", highlight=False, soft_wrap=True)
    if HydraConfig.initialized():
        remove_new_run_dir(Path(HydraConfig.get().runtime.output_dir), HydraConfig.get().job.name)
    sys.exit(2)


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(raw: DictConfig) -> None:
    console = Console()
    try:
        cfg = load_config(raw)
        task = preflight(cfg)
    except (ConfigError, PreflightError, TaskError) as e:
        refuse(console, str(e))
    if cfg.ray.address is None:
        for name, value in EMBEDDED_RAY_ENV.items():
            os.environ.setdefault(name, value)

    import ray

    from launcher.driver import ClusterError, RunFailed, StartError, connect_ray, run_benchmark, run_single
    from launcher.report import print_result

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    # A benchmark's directory holds one sub-run per task and seed, and resumes each of them.
    if cfg.resume and cfg.benchmark is None and not (run_dir / "journal.jsonl").exists():
        console.print(
            f"[bold red]cannot resume:[/] {escape(str(run_dir))} holds no journal.jsonl of an earlier run"
        )
        sys.exit(2)
    if cfg.resume and task is not None:
        try:
            check_resume(run_dir, cfg, task)
        except ResumeError as e:
            console.print(f"[bold red]{escape(str(e))}[/]", highlight=False, soft_wrap=True)
            sys.exit(2)
    console.print(f"run directory: {run_dir}")
    try:
        connect_ray(cfg)
        if cfg.benchmark is not None:
            from launcher.benchmark import print_benchmark

            summary = run_benchmark(cfg, run_dir, console)
            print_benchmark(summary, run_dir, console)
            return
        assert task is not None  # preflight resolves the task of a single run
        result = run_single(cfg, task, run_dir, console)
    except (ClusterError, StartError) as e:
        if ray.is_initialized():
            ray.shutdown()
        refuse(console, str(e))
    except RunFailed as e:
        console.print(f"[bold red]run failed:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        again = "run the same command" if cfg.benchmark else f"add resume={run_dir}"
        console.print(f"\ninterrupted: finished nodes are in {run_dir}; {again} to continue")
        sys.exit(130)
    finally:
        if ray.is_initialized():
            ray.shutdown()
    print_result(result, console)


if __name__ == "__main__":
    # A mistyped key is refused before Hydra composes (and makes a run directory), with the closest key.
    if why := unknown_keys(sys.argv[1:]):
        refuse(Console(), why)
    main()
