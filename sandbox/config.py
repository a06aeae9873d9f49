"""The sandbox's config section (`sandbox.*`): how episodes are isolated and limited."""

import ipaddress
import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class SandboxConfig(BaseModel):
    """Where agent code runs: bubblewrap namespaces (default), or a bare process group (isolation=none).

    0 for a limit means none. `memory_mb` bounds the sandbox's total memory (its cgroup; each
    process's address space where the node allows no cgroup), `max_processes` its processes and
    threads, `workspace_mb` the workspace's total size; `exec_timeout_s` one tool call's wall time.
    An episode's workspace is node-local scratch, deleted when the episode has returned (what the run
    keeps comes back in the candidate) unless `keep_workspaces`, for debugging.
    `hide` lists host paths (files or directories) the sandbox must not see although they lie inside
    what it mounts (e.g. a data set in the Python environment): each is masked by something empty and
    read-only; a path missing on a node is nothing to hide there.
    With `network`, the sandbox reaches the public internet only (sandbox/network.py); `refuse` lists
    more addresses or networks (CIDR) it must not reach although they look public: the run's workers
    add every node of the Ray cluster.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    isolation: Literal["bwrap", "none"] = "bwrap"
    exec_timeout_s: float = Field(120.0, gt=0)
    network: bool = False
    memory_mb: int = Field(16384, ge=0)
    max_processes: int = Field(512, ge=0)
    workspace_mb: int = Field(20480, ge=0)
    keep_workspaces: bool = False
    hide: tuple[str, ...] = ()
    refuse: tuple[str, ...] = ()
    # Threads of each BLAS/OpenMP pool inside (OMP_NUM_THREADS...); 0 = the worker's CPUs.
    threads: int = Field(0, ge=0)

    def with_threads(self, cpus_per_worker: float) -> "SandboxConfig":
        """These settings with `threads` from the worker's CPUs when it was left at 0."""
        if self.threads:
            return self
        return self.model_copy(update={"threads": max(1, int(cpus_per_worker))})

    @field_validator("hide")
    @classmethod
    def _absolute_paths(cls, paths: tuple[str, ...]) -> tuple[str, ...]:
        for path in paths:
            if not path.startswith("/") or os.path.normpath(path) == "/":
                raise ValueError(
                    f"{path!r} is not a host path to hide: give absolute paths below /, "
                    "e.g. sandbox.hide=[/opt/datasets/labels]"
                )
        return tuple(os.path.normpath(p) for p in paths)

    @field_validator("refuse")
    @classmethod
    def _networks(cls, entries: tuple[str, ...]) -> tuple[str, ...]:
        networks = []
        for entry in entries:
            try:
                networks.append(str(ipaddress.ip_network(entry.strip(), strict=False)))
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an address or network to refuse: give IPv4 or IPv6 addresses "
                    "or CIDR networks, e.g. sandbox.refuse=[203.0.113.7,198.51.100.0/24]"
                ) from None
        return tuple(dict.fromkeys(networks))
