"""The host's view of a sandbox's processes: who runs under a given process, and signalling them."""

import contextlib
import os
import signal
from typing import NamedTuple


class Proc(NamedTuple):
    """A process as /proc shows it: `start` (clock ticks since boot) tells a reused pid apart."""

    pid: int
    ppid: int
    start: int


def read_proc(pid: int | str) -> Proc | None:
    """The live process `pid`, or None when it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            # Fields after the parenthesised command name: state, ppid, pgrp, ... starttime is field 22.
            fields = f.read().rpartition(")")[2].split()
    except (OSError, ValueError):
        return None  # it ended while we looked
    if fields[0] in ("Z", "X"):
        return None  # a zombie has nothing left to stop
    return Proc(int(pid), int(fields[1]), int(fields[19]))


def descendants(root: int) -> set[Proc]:
    """Every live process below `root` (not `root` itself); orphans count where they were reparented."""
    children: dict[int, list[Proc]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (proc := read_proc(entry)) is not None:
            children.setdefault(proc.ppid, []).append(proc)
    found: set[Proc] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child.pid)
    return found


def keys(procs: set[Proc]) -> set[tuple[int, int]]:
    """Identities that survive reparenting: (pid, start time)."""
    return {(p.pid, p.start) for p in procs}


def signal_all(procs: set[Proc], sig: int) -> None:
    """Send `sig` to each process that is still the one we saw (same pid and start time)."""
    for proc in procs:
        now = read_proc(str(proc.pid))
        if now is not None and now.start == proc.start:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, sig)


def default_signals() -> None:
    """Run in a sandbox's child before exec: the signals a timeout sends act by default again.

    An ignored signal stays ignored across exec, and a worker may run with SIGINT ignored (a
    `nohup`ed launch, a test runner's worker process): its agents' commands would then shrug off the
    timeout's SIGINT and only end at the SIGKILL, taking what the shell session held with them.
    """
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
