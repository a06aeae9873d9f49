"""Resume checks the config: a run continues only under the settings that define what it searches.

The task, the run seed, the HCE split (seed, fractions) and the metric must be those of the run's own
`config.yaml`: with any other, the journal's scores, the agent-visible copy of the task and the sealed
scores would belong to another experiment. Budgets, workers, the policy and the rest may change. Every
start appends the config it runs under to `configs.jsonl` (the run's config history); `config.yaml`
holds the latest.
"""

import json
import time
from pathlib import Path
from typing import Any

import yaml

from evaluation.task import Task
from launcher.config import RunConfig
from search.jsonl import JsonlFile
from search.run_dir import RunDir, write_text_atomic

HISTORY_FILE = "configs.jsonl"
# Where a task section names files, the same place spelled differently is the same task.
_TASK_PATHS = ("dir", "data_dir", "mlebench_repo")
# Where the task is built or cached, not which task it is.
_TASK_FREE = ("cache_dir",)


class ResumeError(Exception):
    """A resume whose config does not fit the run; the message names each key and the fix."""


def _history(run_dir: Path) -> JsonlFile[dict[str, Any]]:
    def parse(line: str) -> dict[str, Any]:
        record = json.loads(line)
        if not isinstance(record, dict):
            raise ValueError("not a JSON object")
        return record

    return JsonlFile(run_dir / HISTORY_FILE, parse, "config record")


def identity(config: dict[str, Any], metric: str | None) -> dict[str, Any]:
    """The keys that define the experiment, as `key.path -> value`, from a config as config.yaml holds it."""
    keys: dict[str, Any] = {"seed": config.get("seed")}
    for name, value in sorted((config.get("task") or {}).items()):
        if name in _TASK_FREE:
            continue
        if name in _TASK_PATHS and value is not None:
            value = str(Path(value).expanduser().resolve())
        keys[f"task.{name}"] = value
    hce = config.get("hce") or {}
    keys["hce.split_seed"] = hce.get("split_seed")
    keys["hce.fractions"] = [float(f) for f in hce.get("fractions") or []]
    # HCE off changes what the agents see and what the scores mean: a run never mixes the two.
    keys["hce.enabled"] = hce.get("enabled", True)
    if metric is not None:
        keys["metric"] = metric
    return keys


def check_resume(run_dir: Path, cfg: RunConfig, task: Task) -> None:
    """Raise ResumeError when `cfg` would continue the run in `run_dir` as another experiment."""
    rd = RunDir(run_dir)
    if not rd.config.is_file():
        return  # nothing to compare with: the run never got past its start
    try:
        old = yaml.safe_load(rd.config.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ResumeError(f"cannot resume {run_dir}: its config.yaml cannot be read ({e})") from None
    if not isinstance(old, dict):
        raise ResumeError(f"cannot resume {run_dir}: its config.yaml holds no config")
    history = _history(run_dir).load()
    old_metric = history[-1].get("metric") if history else None
    before = identity(old, old_metric)
    now = identity(cfg.model_dump(mode="json"), task.spec.metric if old_metric is not None else None)
    changed = [k for k in before if before[k] != now.get(k)]
    if changed:
        lines = [f"  {k}: the run has {before[k]!r}, this command {now.get(k)!r}" for k in changed]
        raise ResumeError(
            f"cannot resume {run_dir}: it is another experiment than this command describes:\n"
            + "\n".join(lines)
            + "\nresume with the run's own values (drop or fix those overrides; the metric comes from the "
            "task's task.yaml), or start a new run without resume="
        )


def record_config(run_dir: Path, cfg: RunConfig, task: Task) -> None:
    """Check a resumed run's config (see check_resume), then write config.yaml and append to the history."""
    check_resume(run_dir, cfg, task)
    rd = RunDir(run_dir)
    config = cfg.model_dump(mode="json")
    record = {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "resumed": rd.journal.exists(),
        "task_name": task.spec.name,
        "metric": task.spec.metric,
        "config": config,
    }
    _history(run_dir).append(json.dumps(record))
    write_text_atomic(rd.config, yaml.safe_dump(config, sort_keys=False))
