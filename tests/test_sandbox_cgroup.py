"""The sandbox's cgroup: one memory cap for all its processes together, one process cap, nothing left
behind; and the per-process fallback where a node does not allow cgroups."""

import asyncio
import os
from pathlib import Path

import pytest

from sandbox import BwrapSandbox, SandboxConfig, open_sandbox
from sandbox.bwrap import bwrap_argv
from sandbox.cgroup import CGROUP_ROOT, CgroupUnavailableError, SandboxCgroup, group_name, remove_orphans


def _cgroups_here() -> str | None:
    try:
        SandboxCgroup.create(f"probe-{os.getpid()}", 64, 64).close()
    except CgroupUnavailableError as e:
        return str(e)
    return None


needs_cgroups = pytest.mark.skipif(
    (why := _cgroups_here()) is not None, reason=f"this node does not allow cgroups: {why}"
)

# Two processes of 400 MB each: under a 600 MB per-process cap both would live.
TWO_HOGS = (
    "python -c \"import time; b = b'x' * (400 << 20); time.sleep(3)\" & "
    "python -c \"import time; b = b'x' * (400 << 20); time.sleep(3)\" & wait; echo waited"
)


@needs_cgroups
def test_memory_is_capped_for_the_whole_sandbox_not_per_process(tmp_path: Path) -> None:
    box = open_sandbox(SandboxConfig(memory_mb=600), tmp_path / "ws", tmp_path)
    assert isinstance(box, BwrapSandbox) and box.memory_scope == "sandbox"

    async def session() -> tuple[str, str]:
        try:
            hogs = await box.run_shell(TWO_HOGS, 30)
            after = await box.run_shell("echo still here", 10)
        finally:
            await box.close()
        return hogs.output, after.output

    hogs, after = asyncio.run(session())
    assert "out of memory: the sandbox reached its limit of 600 MB" in hogs, hogs
    assert after.startswith("still here")


@needs_cgroups
def test_the_cgroup_is_removed_at_close_with_everything_in_it(tmp_path: Path) -> None:
    box = open_sandbox(SandboxConfig(), tmp_path / "ws", tmp_path)
    assert isinstance(box, BwrapSandbox) and box._cgroup is not None
    cgroup = box._cgroup

    async def session() -> list[int]:
        try:
            await box.run_shell("(setsid sleep 300 &); sleep 300 &", 10)
            return cgroup.pids()
        finally:
            await box.close()

    assert asyncio.run(session()), "the shell and its sleepers ran inside the cgroup"
    assert cgroup.pids() == []
    leftovers = [p for p in CGROUP_ROOT.glob(f"*/aira/sandbox-{os.getpid()}-*")]
    leftovers += list(CGROUP_ROOT.glob(f"aira/sandbox-{os.getpid()}-*"))
    assert leftovers == []


def test_v2_layout_gets_memory_swap_and_pids_caps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cgroup v2 files a group is made of (on a plain directory standing in for cgroupfs)."""
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    (tmp_path / "aira").mkdir()
    (tmp_path / "aira" / "cgroup.subtree_control").write_text("")
    group_dir = tmp_path / "aira" / "sb"

    real_mkdir = Path.mkdir

    def mkdir_with_files(self: Path, *args: object, **kwargs: object) -> None:
        real_mkdir(self, *args, **kwargs)  # type: ignore[arg-type]
        if self == group_dir:  # the kernel creates a group's interface files
            (self / "memory.swap.max").write_text("max\n")

    monkeypatch.setattr(Path, "mkdir", mkdir_with_files)
    group = SandboxCgroup.create("sb", 512, 100, root=tmp_path)
    assert group.version == 2
    assert (group_dir / "memory.max").read_text() == str(512 << 20)
    assert (group_dir / "memory.swap.max").read_text() == "0"
    assert (group_dir / "pids.max").read_text() == "100"
    assert (tmp_path / "aira" / "cgroup.subtree_control").read_text() == "+memory +pids"
    assert group.join_argv()[-2:] == [str(group_dir / "cgroup.procs"), "--"]


def test_no_controllers_is_refused_with_the_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    (tmp_path / "cgroup.controllers").write_text("cpu io\n")
    with pytest.raises(CgroupUnavailableError, match="lacks the memory or pids controller"):
        SandboxCgroup.create("sb", 512, 100, root=tmp_path)
    with pytest.raises(CgroupUnavailableError, match="no cgroup v2 hierarchy nor v1"):
        SandboxCgroup.create("sb", 512, 100, root=tmp_path / "empty")


def test_address_space_limit_is_off_with_a_cgroup_or_a_gpu(tmp_path: Path) -> None:
    def limits(address_space: bool) -> str:
        argv = bwrap_argv(
            SandboxConfig(memory_mb=1024), tmp_path, tmp_path, tmp_path, None, 64, None, address_space
        )
        return next(a for a in argv if a.startswith("ulimit"))

    assert "-v 1048576" in limits(True) and "-v" not in limits(False)


@needs_cgroups
def test_groups_of_dead_workers_are_removed(tmp_path: Path) -> None:
    # Above pid_max: no process has it.
    dead = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1 + os.getpid() % 1000
    orphan = SandboxCgroup.create(group_name(dead, 0), 64, 64)
    mine = SandboxCgroup.create(group_name(os.getpid(), 99_999), 64, 64)
    try:
        removed = remove_orphans()
        assert any(f"sandbox-{dead}-0" in path for path in removed)
        assert not any(f"sandbox-{os.getpid()}-" in path for path in removed)
        assert mine.pids() == [] and all(d.is_dir() for d in mine._groups.values())
    finally:
        orphan.close()
        mine.close()
