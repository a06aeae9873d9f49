"""A control group per sandbox: one memory cap and one process cap for everything the sandbox runs.

RLIMIT_AS bounds each process's address space, not their sum, and CUDA reserves far more address
space than it uses, so on a GPU node it cannot bound memory at all. A cgroup can: the kernel counts
the resident memory of every process of the sandbox together and, past the cap, kills one of them
(the out-of-memory killer), never a process outside. `pids.max` bounds the processes and threads
the same way.

A root worker can make cgroups on most nodes: cgroup v2 (one hierarchy, `/sys/fs/cgroup`, with the
memory and pids controllers; the groups go under `/sys/fs/cgroup/aira/`) or cgroup v1 (the
`memory` and `pids` hierarchies under `/sys/fs/cgroup/`). Where it cannot (not root, a read-only
cgroupfs, a container without delegation), `SandboxCgroup.create` returns None with the reason and
the sandbox falls back to per-process limits.
"""

import contextlib
import os
import signal
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PARENT = "aira"
# The commands a sandbox runs join its groups first: `$@` is the cgroup.procs files, `--`, the command.
_JOIN = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'


class CgroupUnavailableError(OSError):
    """This node does not let the worker make cgroups; the message says why."""


class SandboxCgroup:
    """The cgroup(s) of one sandbox; see the module docstring. Build with `create`."""

    def __init__(self, version: int, groups: dict[str, Path]) -> None:
        self.version = version
        # Controller name -> the group's directory ({"memory": ..., "pids": ...}; one dir for v2).
        self._groups = groups

    @classmethod
    def create(
        cls, name: str, memory_mb: int, max_processes: int, root: Path = CGROUP_ROOT
    ) -> "SandboxCgroup":
        """Make the groups `aira/<name>` with the caps (0 = none); CgroupUnavailableError if the node
        does not allow it (nothing is left behind then)."""
        if os.geteuid() != 0:
            raise CgroupUnavailableError("the worker is not root")
        version = _version(root)
        made: list[Path] = []
        try:
            if version == 2:
                parent = root / PARENT
                parent.mkdir(exist_ok=True)
                # The controllers must be on at every level above the group. The root cgroup is exempt
                # from the no-internal-processes rule, and `aira` itself holds no process.
                _enable(root / "cgroup.subtree_control", ("memory", "pids"))
                _enable(parent / "cgroup.subtree_control", ("memory", "pids"))
                group = parent / name
                group.mkdir()
                made.append(group)
                groups = {"memory": group, "pids": group}
                if memory_mb:
                    _write(group / "memory.max", memory_mb << 20)
                    if (group / "memory.swap.max").exists():
                        _write(group / "memory.swap.max", 0)
                if max_processes:
                    _write(group / "pids.max", max_processes)
            else:
                groups = {}
                for controller in ("memory", "pids"):
                    parent = root / controller / PARENT
                    parent.mkdir(exist_ok=True)
                    group = parent / name
                    group.mkdir()
                    made.append(group)
                    groups[controller] = group
                if memory_mb:
                    _write(groups["memory"] / "memory.limit_in_bytes", memory_mb << 20)
                    swap = groups["memory"] / "memory.memsw.limit_in_bytes"
                    if swap.exists():  # memory + swap: the same cap, so no swapping past it
                        _write(swap, memory_mb << 20)
                if max_processes:
                    _write(groups["pids"] / "pids.max", max_processes)
        except OSError as e:
            for group in made:
                with contextlib.suppress(OSError):
                    group.rmdir()
            raise CgroupUnavailableError(f"cannot make a cgroup under {root} ({e})") from None
        return cls(version, groups)

    def join_argv(self) -> list[str]:
        """The prefix that puts a command into the groups before it runs (`sh -c` then exec)."""
        procs = [str(d / "cgroup.procs") for d in dict.fromkeys(self._groups.values())]
        return ["/bin/sh", "-c", _JOIN, "aira-cgroup", *procs, "--"]

    def oom_kills(self) -> int:
        """How many processes the out-of-memory killer has ended in this sandbox so far."""
        events = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            lines = (self._groups["memory"] / events).read_text().splitlines()
        except OSError:
            return 0
        for line in lines:
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def pids(self) -> list[int]:
        """The processes in the sandbox's groups now."""
        found: set[int] = set()
        for group in self._groups.values():
            with contextlib.suppress(OSError):
                found.update(int(p) for p in (group / "cgroup.procs").read_text().split())
        return sorted(found)

    def close(self, wait_s: float = 5.0) -> None:
        """Kill whatever still runs in the groups and remove them (the kernel keeps a group with a
        process in it, so this waits up to `wait_s` for the killed to exit)."""
        deadline = time.monotonic() + wait_s
        while True:
            for pid in self.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            left = []
            for group in dict.fromkeys(self._groups.values()):
                try:
                    group.rmdir()
                except FileNotFoundError:
                    continue
                except OSError:
                    left.append(group)
            if not left or time.monotonic() > deadline:
                return
            time.sleep(0.05)


def group_name(pid: int, serial: int) -> str:
    """The name of a worker process's `serial`-th sandbox group (the pid says whose it is)."""
    return f"sandbox-{pid}-{serial}"


def remove_orphans(root: Path = CGROUP_ROOT) -> list[str]:
    """Remove the sandbox groups of worker processes that no longer run (a worker killed before it
    could close its sandboxes leaves them behind, empty once bwrap took its processes down)."""
    removed = []
    for parent in (root / PARENT, root / "memory" / PARENT, root / "pids" / PARENT):
        if not parent.is_dir():
            continue
        for group in parent.glob("sandbox-*-*"):
            pid = group.name.split("-")[1]
            if not pid.isdigit() or Path(f"/proc/{pid}").exists():
                continue
            SandboxCgroup(1, {"group": group}).close(wait_s=1.0)
            if not group.exists():
                removed.append(str(group))
    return removed


def _version(root: Path) -> int:
    """2 for a unified hierarchy with the memory and pids controllers, 1 for v1 memory + pids."""
    controllers = root / "cgroup.controllers"
    if controllers.is_file():
        available = controllers.read_text().split()
        if {"memory", "pids"} <= set(available):
            return 2
        raise CgroupUnavailableError(f"{controllers} lacks the memory or pids controller ({available})")
    if (root / "memory" / "cgroup.procs").is_file() and (root / "pids" / "cgroup.procs").is_file():
        return 1
    raise CgroupUnavailableError(f"no cgroup v2 hierarchy nor v1 memory and pids hierarchies under {root}")


def _enable(subtree_control: Path, controllers: tuple[str, ...]) -> None:
    on = set(subtree_control.read_text().split())
    missing = [c for c in controllers if c not in on]
    if missing:
        subtree_control.write_text(" ".join(f"+{c}" for c in missing))


def _write(path: Path, value: int) -> None:
    path.write_text(str(value))
