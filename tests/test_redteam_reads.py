"""Red-team drills on what the worker reads out of a workspace: agent code in the real bubblewrap
sandbox prepares the file, the worker's own tools (`submit`, `validate_submission`) read it. Links
out, FIFOs, sparse files and a race that swaps the submission for a link must all come back as an
error observation, never as the outside file, and never hang the worker."""

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from agents.tools import ToolLimits, ToolResult, call_tool
from sandbox import Sandbox, SandboxConfig, open_sandbox
from tests.test_redteam import HIDDEN, LIMITS, SAMPLE, Arena, arena_in

TOOL_LIMITS = ToolLimits(timeout_s=20, observation_chars=3000)


@pytest.fixture
def arena(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Arena]:
    """The drills' run directory, with hidden files on the host (tests/test_redteam.py)."""
    yield from arena_in(tmp_path, monkeypatch)


async def tools(sandbox: Sandbox, *calls: tuple[str, dict[str, object]]) -> list[ToolResult]:
    return [await call_tool(sandbox, name, args, TOOL_LIMITS) for name, args in calls]


async def shell(sandbox: Sandbox, command: str, timeout: float = 20) -> str:
    return (await sandbox.run_shell(command, timeout)).output


def drill(arena: Arena, body: Callable[[Sandbox], Awaitable[None]], settings: SandboxConfig = LIMITS) -> None:
    """Run `body` against a fresh sandbox in one event loop (its shell lives in that loop)."""
    sandbox = open_sandbox(settings, arena.workspace, arena.public, kill_grace_s=0.5)

    async def run() -> None:
        try:
            await body(sandbox)
        finally:
            await sandbox.close()

    asyncio.run(run())


def test_links_out_of_the_workspace_and_to_proc_1_root_are_refused(arena: Arena) -> None:
    async def body(sandbox: Sandbox) -> None:
        outside = arena.host_paths[1]  # the task's hidden answers, on the host
        await shell(
            sandbox,
            f"ln -s {outside} submission.csv; ln -s /proc/1/root root; ln -s {outside.parent} answers;"
            f"ln -s {outside} solution.py",
        )
        results = await tools(
            sandbox,
            ("submit", {}),
            ("validate_submission", {"submission_path": f"root{outside}"}),
            ("submit", {"submission_path": "answers/test.csv"}),
            ("submit", {"submission_path": "/proc/1/root/etc/hostname"}),
        )
        for result in results:
            assert result.submitted is None and result.error is not None, result
            assert HIDDEN not in result.observation
        assert "symbolic link" in results[0].observation and "outside the workspace" in results[3].observation
        await shell(sandbox, "rm submission.csv; cp /data/sample_submission.csv submission.csv")
        (done,) = await tools(sandbox, ("submit", {}))
        assert done.submitted is not None and done.submitted.submission == SAMPLE
        assert done.submitted.code == "" and "symbolic link" in done.observation  # the linked code

    drill(arena, body)


def test_a_fifo_and_a_20_gb_sparse_file_are_refused_at_once(arena: Arena) -> None:
    async def body(sandbox: Sandbox) -> None:
        seen = await shell(
            sandbox,
            "mkfifo submission.csv fifo.py && truncate -s 20G huge.csv && "
            "head -c 1000 /data/sample_submission.csv > holes.csv && truncate -s 50M holes.csv && "
            "ls -ls huge.csv holes.csv",
        )
        assert "huge.csv" in seen and "holes.csv" in seen, seen
        started = time.monotonic()
        fifo, fifo_check, huge, holes = await tools(
            sandbox,
            ("submit", {"code_path": "fifo.py"}),
            ("validate_submission", {}),
            ("submit", {"submission_path": "huge.csv"}),
            ("submit", {"submission_path": "holes.csv"}),
        )
        assert time.monotonic() - started < 10  # nothing blocked on the FIFO or read 20 GB
        assert "is a FIFO" in fifo.observation and "is a FIFO" in fifo_check.observation
        assert "more than the" in huge.observation and "sparse" in holes.observation
        assert all(r.submitted is None for r in (fifo, fifo_check, huge, holes))

    # No workspace limit: RLIMIT_FSIZE would stop `truncate` before the worker saw the file.
    drill(arena, body, LIMITS.model_copy(update={"workspace_mb": 0}))


# Swaps submission.csv between a regular file and a link to a file outside, each by an atomic rename.
SWAP = """
import os, shutil
shutil.copy("/data/sample_submission.csv", "real.csv")
if os.fork() == 0:
    os.setsid()
    while True:
        os.symlink("{outside}", "s.tmp")
        os.replace("s.tmp", "submission.csv")
        os.link("real.csv", "r.tmp")
        os.replace("r.tmp", "submission.csv")
print("started")
"""


def test_a_symlink_swap_loop_during_submit_never_returns_the_outside_file(arena: Arena) -> None:
    """The race of issue 14: a check by path then a read lost it 183 times in ~52,000 tries."""
    outside = arena.host_paths[1]

    async def body(sandbox: Sandbox) -> None:
        await sandbox.write_file("swap.py", SWAP.format(outside=outside))
        assert (await shell(sandbox, "python swap.py")).strip() == "started"
        await call_tool(sandbox, "validate_submission", {}, TOOL_LIMITS)  # imports pandas once
        got = refused = missing = 0
        deadline = time.monotonic() + 30
        # Until both sides of the race were hit often (a few seconds), or 30 s on a crowded machine.
        while min(got, refused) < 50 and time.monotonic() < deadline:
            for name in ("submit", "validate_submission"):
                result = await call_tool(sandbox, name, {}, TOOL_LIMITS)
                assert HIDDEN not in result.observation, result
                if result.submitted is not None or "has the format" in result.observation:
                    assert result.submitted is None or result.submitted.submission == SAMPLE
                    got += 1
                elif "symbolic link" in result.observation:
                    refused += 1
                else:
                    missing += 1
        assert got > 0 and refused > 0, (got, refused, missing)  # both sides of the race were hit

    drill(arena, body)
