"""The process-group sandbox: output, exit codes, timeouts that kill everything, capped output, env."""

import asyncio
import os
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from sandbox import ExecResult, ProcessSandbox


def _alive(pid: int) -> bool:
    """Whether `pid` runs; a zombie (dead, waiting for init to reap it) does not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def _pids(workspace: Path, *names: str) -> list[int]:
    return [int((workspace / name).read_text()) for name in names]


@pytest.fixture
def sandbox(tmp_path: Path) -> ProcessSandbox:
    data = tmp_path / "data"
    data.mkdir()
    return ProcessSandbox(tmp_path / "ws", data, kill_grace_s=0.5)


def run(sandbox: ProcessSandbox, command: str, timeout: float = 10, input: str | None = None) -> ExecResult:
    return asyncio.run(sandbox.exec(["bash", "-c", command], timeout, input))


def test_output_interleaves_stdout_and_stderr_and_keeps_the_exit_code(sandbox: ProcessSandbox) -> None:
    result = run(sandbox, "echo one; echo two >&2; echo three; exit 3")
    assert result.exit_code == 3
    assert result.output == "one\ntwo\nthree\n"
    assert not result.timed_out and result.truncated_bytes == 0
    assert 0 <= result.duration_s < 5


def test_commands_run_in_the_workspace_with_input(sandbox: ProcessSandbox) -> None:
    assert run(sandbox, "pwd").output.strip() == str(sandbox.workspace)
    assert run(sandbox, "cat", input="hello").output == "hello"


def test_python_is_the_workers_interpreter(sandbox: ProcessSandbox) -> None:
    result = asyncio.run(sandbox.exec(["python", "-c", "import sys; print(sys.executable)"], 10))
    assert result.output.strip() == sys.executable


def test_a_missing_program_is_a_result_not_an_exception(sandbox: ProcessSandbox) -> None:
    result = asyncio.run(sandbox.exec(["no-such-program-aira"], 5))
    assert result.exit_code == 127
    assert "no-such-program-aira" in result.output


def test_timeout_kills_the_command_and_its_background_grandchildren(sandbox: ProcessSandbox) -> None:
    # A background job, and a grandchild started in the background by a background subshell.
    command = (
        "sleep 60 & echo $! > job.pid; ( sleep 60 & echo $! > grandchild.pid; wait ) & echo started; sleep 60"
    )
    started = time.monotonic()
    result = run(sandbox, command, timeout=1)
    assert time.monotonic() - started < 5
    assert result.timed_out
    assert result.exit_code != 0
    assert "started" in result.output
    assert "timed out after 1 s" in result.output
    for pid in _pids(sandbox.workspace, "job.pid", "grandchild.pid"):
        assert not _alive(pid), f"process {pid} survived the timeout"


def test_sigterm_resistant_processes_get_sigkill(sandbox: ProcessSandbox) -> None:
    result = run(sandbox, "trap '' TERM; sleep 60 & echo $! > job.pid; sleep 60", timeout=1)
    assert result.timed_out
    (pid,) = _pids(sandbox.workspace, "job.pid")
    assert not _alive(pid)


def test_a_background_job_does_not_hold_a_finished_command(sandbox: ProcessSandbox) -> None:
    started = time.monotonic()
    result = run(sandbox, "sleep 60 & echo $! > job.pid; echo done", timeout=30)
    assert time.monotonic() - started < 5
    assert result.exit_code == 0 and result.output == "done\n" and not result.timed_out
    (pid,) = _pids(sandbox.workspace, "job.pid")
    assert not _alive(pid)


def test_cancelling_a_call_kills_its_process_group(sandbox: ProcessSandbox) -> None:
    async def cancel_midway() -> None:
        task = asyncio.create_task(sandbox.exec(["bash", "-c", "sleep 60 & echo $! > job.pid; sleep 60"], 30))
        while not (sandbox.workspace / "job.pid").exists() or not (sandbox.workspace / "job.pid").read_text():
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_midway())
    (pid,) = _pids(sandbox.workspace, "job.pid")
    deadline = time.monotonic() + 2
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def test_close_stops_running_commands(sandbox: ProcessSandbox) -> None:
    async def close_midway() -> ExecResult:
        task = asyncio.create_task(sandbox.exec(["bash", "-c", "echo $$ > main.pid; sleep 60"], 30))
        while (
            not (sandbox.workspace / "main.pid").exists() or not (sandbox.workspace / "main.pid").read_text()
        ):
            await asyncio.sleep(0.05)
        await sandbox.close()
        return await asyncio.wait_for(task, 5)

    result = asyncio.run(close_midway())
    assert result.exit_code < 0 and not result.timed_out


def test_100_mb_of_output_is_capped_while_reading(tmp_path: Path) -> None:
    sandbox = ProcessSandbox(tmp_path / "ws", tmp_path, max_output_bytes=1 << 20)
    total = 100_000_000
    tracemalloc.start()
    try:
        result = run(sandbox, f"head -c {total} /dev/zero | tr '\\0' x; echo END", timeout=60)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.exit_code == 0
    assert peak < 16 << 20, f"peak Python memory {peak / 2**20:.1f} MiB while reading 100 MB"
    kept = 1 << 20
    assert result.truncated_bytes == total + len("END\n") - kept
    assert result.output.startswith("x" * 1000)
    assert result.output.endswith("xEND\n")
    assert f"[{result.truncated_bytes} bytes of output dropped]" in result.output
    assert len(result.output) < kept + 200


def test_the_workers_environment_does_not_leak(
    sandbox: ProcessSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRA_TEST_SECRET", "do-not-leak")
    given = ProcessSandbox(tmp_path / "ws2", tmp_path, env={"CUDA_VISIBLE_DEVICES": "3"})
    output = run(given, "env").output
    env = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    assert "AIRA_TEST_SECRET" not in env and "do-not-leak" not in output
    assert env["CUDA_VISIBLE_DEVICES"] == "3"
    assert env["HOME"] == str(given.workspace)
    assert env["PYTHONUNBUFFERED"] == "1" and env["OMP_NUM_THREADS"] == "1"
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)


def test_files_are_read_and_written_inside_the_workspace_only(sandbox: ProcessSandbox) -> None:
    asyncio.run(sandbox.write_file("sub/dir/a.txt", "hé"))
    assert asyncio.run(sandbox.read_file("sub/dir/a.txt")) == "hé".encode()
    assert run(sandbox, "cat sub/dir/a.txt").output == "hé"
    with pytest.raises(FileNotFoundError):
        asyncio.run(sandbox.read_file("missing.csv"))
    with pytest.raises(ValueError, match="outside the workspace"):
        asyncio.run(sandbox.read_file("../data/x"))
    (sandbox.workspace / "link").symlink_to("/etc/hostname")
    with pytest.raises(ValueError, match="symbolic link"):
        asyncio.run(sandbox.read_file("link"))


def test_data_dir_is_the_host_path(sandbox: ProcessSandbox, tmp_path: Path) -> None:
    assert sandbox.data_dir == str((tmp_path / "data").resolve())


def test_the_stateful_shell_also_runs_without_isolation(sandbox: ProcessSandbox) -> None:
    async def session() -> list[ExecResult]:
        try:
            return [
                await sandbox.run_shell("cd /; X=7", 10),
                await sandbox.run_shell("echo $X $(pwd)", 10),
            ]
        finally:
            await sandbox.close()

    assert asyncio.run(session())[1].output == "7 /\n"
