"""The validated configuration of a run: Hydra composes it, pydantic checks it before Ray starts.

Each package owns its own section (search/, agents/, sandbox/, evaluation/ for HCE, serving/ for the
policy); this module composes them with the launcher's own (task, ray, serve, resources, benchmark).
"""

from pathlib import Path
from typing import Any, Literal

from omegaconf import DictConfig, OmegaConf
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agents.config import AgentConfig
from evaluation.config import HCEConfig
from launcher.tracking import WandbConfig
from sandbox.config import SandboxConfig
from search.config import SearchConfig
from serving.config import PolicyConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskConfig(_Strict):
    """Which task to solve: a task directory, the bundled task, or an mle-bench competition."""

    kind: Literal["local", "mlebench"] = "local"
    name: str | None = None
    dir: Path | None = None
    bundled: str | None = "digits"
    data_dir: Path | None = None
    cache_dir: Path = Path.home() / ".cache" / "aira"
    # mlebench: the mle-bench checkout (grader names, leaderboards) and, optionally, a column whose
    # equal values stay in one HCE split (e.g. breath_id).
    mlebench_repo: Path | None = None
    group_column: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> "TaskConfig":
        if self.kind == "local" and self.dir is None and not self.bundled:
            raise ValueError("set task.dir=PATH to a task directory, or task.bundled=digits")
        return self


class RayConfig(_Strict):
    address: str | None = None
    namespace: str = "aira"
    num_cpus: int | None = Field(None, ge=1)
    include_dashboard: bool = False
    # The embedded instance's Prometheus metrics port (null: Ray picks a free one).
    metrics_export_port: int | None = Field(None, ge=1, le=65535)


class ServeConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)


class ResourcesConfig(_Strict):
    gpus_per_worker: Literal[0, 1] = 0
    cpus_per_worker: float = Field(1, gt=0)


class BenchmarkConfig(_Strict):
    """Many runs: the tasks of a list x seeds, one search each.

    kind=local: bundled offline tasks (`tasks`, empty = all of them). kind=mlebench: competitions of
    an mle-bench split file (`<mlebench_repo>/experiments/splits/<split>.txt`) or of `tasks`.
    The runs are a grid on Ray Tune, `max_concurrent` of them side by side.
    """

    name: str = "benchmark"
    kind: Literal["local", "mlebench"] = "mlebench"
    split: str | None = None
    mlebench_repo: Path | None = None
    tasks: list[str] = Field(default_factory=list)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    # Runs side by side: null = as many as the cluster holds (one at a time on the embedded Ray).
    max_concurrent: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _has_a_list(self) -> "BenchmarkConfig":
        if self.kind == "mlebench" and not self.split and not self.tasks:
            raise ValueError("set benchmark.split (e.g. systemcard, low) or benchmark.tasks=[...]")
        return self


class RunConfig(_Strict):
    """Everything a run needs, validated. Built by `load_config` from Hydra's composed config."""

    experiment: str = "default"
    seed: int = 0
    resume: Path | None = None
    benchmark: BenchmarkConfig | None = None
    task: TaskConfig
    policy: PolicyConfig
    search: SearchConfig
    agent: AgentConfig
    sandbox: SandboxConfig
    ray: RayConfig = RayConfig()
    serve: ServeConfig = ServeConfig()
    resources: ResourcesConfig = ResourcesConfig()
    hce: HCEConfig = HCEConfig()
    wandb: WandbConfig = WandbConfig()


class ConfigError(Exception):
    """A config value a user set is wrong; the message names the key and the fix."""


def load_config(cfg: DictConfig | dict[str, Any]) -> RunConfig:
    """Validate a composed config; raise ConfigError with one line per problem."""
    raw = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg
    assert isinstance(raw, dict)
    raw = {k: v for k, v in raw.items() if k != "hydra"}
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(_explain(e)) from None


def _explain(e: ValidationError) -> str:
    lines = []
    for err in e.errors():
        key = ".".join(str(p) for p in err["loc"] if not str(p).endswith("PolicyConfig"))
        given = err.get("input")
        shown = "" if isinstance(given, dict) else f" (got {given!r})"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key: remove it or check its spelling"
        lines.append(f"config error: {key}: {msg}{shown}")
    return "\n".join(lines)
