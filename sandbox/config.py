"""The sandbox's config section (`sandbox.*`): how episodes are isolated and limited."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SandboxConfig(BaseModel):
    """Where agent code runs: bubblewrap namespaces (default), or a bare process group (isolation=none).

    0 for a limit means none. `memory_mb` bounds the sandbox's total memory (its cgroup; each
    process's address space where the node allows no cgroup), `max_processes` its processes and
    threads, `workspace_mb` the workspace's total size; `exec_timeout_s` one tool call's wall time.
    An episode's workspace is node-local scratch, deleted when the episode has returned (what the run
    keeps comes back in the candidate) unless `keep_workspaces`, for debugging.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    isolation: Literal["bwrap", "none"] = "bwrap"
    exec_timeout_s: float = Field(120.0, gt=0)
    network: bool = False
    memory_mb: int = Field(16384, ge=0)
    max_processes: int = Field(512, ge=0)
    workspace_mb: int = Field(20480, ge=0)
    keep_workspaces: bool = False
