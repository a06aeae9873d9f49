"""The process-group sandbox: agent commands as session-leader subprocesses in a workspace.

Isolation here is a process group only. Each command runs in its own session (and so its own process
group) with the workspace as its cwd and a minimal environment; a timeout, a cancellation or the end
of the command kills the whole group, background jobs and grandchildren included. It does NOT confine
the filesystem, the network, memory or the GPU, and a process that calls setsid() escapes the group:
the task data is read-only by convention only. It is `sandbox.isolation=none`; the bubblewrap sandbox
(sandbox/bwrap.py) builds on it and is the default.
"""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path

from sandbox._capture import CappedOutput, CaptureProtocol
from sandbox._procs import default_signals
from sandbox.base import ExecResult
from sandbox.kernel import KernelSession
from sandbox.safe_files import UnsafeFileError, read_beneath, remove_tree, write_beneath
from sandbox.shell import ControlFolders, SessionSpec, ShellSession

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")
# What the worker reads out of a workspace (a submission, the code): at most this much unless the
# caller gives its own cap (agent.max_record_mb, agent.max_submission_mb), and this fast.
MAX_READ_BYTES = 1 << 30
READ_TIMEOUT_S = 60.0
# Output still arriving after the group is dead can only come from a process that left the group.
_DRAIN_S = 2.0


def control_folders(root: Path) -> tuple[Path, Path, Path]:
    """The session's control folders under `root` (only the worker may enter it): `ctl`, where the
    worker leaves files for the sandbox (command scripts, the kernel's connection file), which the
    sandbox sees read-only; `ipc`, the one folder the sandbox writes for the worker (the kernel's
    unix sockets); `links`, the worker's own, where it adopts those sockets (safe_files.adopt_socket)."""
    folders = (root / "ctl", root / "ipc", root / "links")
    for folder in folders:
        folder.mkdir(mode=0o700)
    return folders


def minimal_env(workspace: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of agent commands: a fixed minimum plus `extra`, never the worker's own.

    The worker's environment holds API keys, Ray addresses and cluster paths the agent must not see.
    The interpreter's directory leads PATH so that `python` and `pip` are the worker's.
    """
    path = [str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]
    env = {
        "PATH": os.pathsep.join(path),
        "HOME": str(workspace),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "MPLBACKEND": "Agg",
    }
    # One thread per BLAS/OpenMP pool unless the worker grants more (sandbox.threads, from
    # resources.cpus_per_worker): workers share the node's cores.
    env.update(dict.fromkeys(THREAD_VARS, "1"))
    env.update(extra or {})
    return env


class ProcessSandbox:
    """Runs commands as process groups in `workspace`; see the module docstring for what it isolates.

    `argv[0] == "python"` runs the worker's own interpreter (sys.executable), so agent code sees the
    same packages as the worker.
    """

    def __init__(
        self,
        workspace: Path,
        data_dir: Path,
        env: dict[str, str] | None = None,
        *,
        max_output_bytes: int = 4 << 20,
        kill_grace_s: float = 2.0,
    ) -> None:
        workspace.mkdir(parents=True, exist_ok=True)
        self._workspace = workspace.resolve()
        self._data_host = data_dir.resolve()
        self._data_dir = str(self._data_host)
        self._env = minimal_env(self._workspace, env)
        self._max_output_bytes = max_output_bytes
        self._kill_grace_s = kill_grace_s
        self._running: set[int] = set()
        self._closed = False
        # What wraps every command (bwrap and its options for the bubblewrap sandbox) and the user
        # that must own the files given to it; a bare process group runs commands as they are.
        self._prefix: list[str] = []
        self._owner: int | None = None
        # The session's control folders (see `control_folders`). Short on purpose: the kernel's unix
        # socket paths must fit in 108 bytes. Removed by close(), or when the sandbox is collected.
        self._ctl_root = Path(tempfile.mkdtemp(prefix="aira-ctl-"))
        weakref.finalize(self, remove_tree, str(self._ctl_root))
        self._ctl, self._ipc, self._links = control_folders(self._ctl_root)
        self._ctl_inside, self._ipc_inside = str(self._ctl), str(self._ipc)
        self._shell: ShellSession | None = None
        self._kernel: KernelSession | None = None

    def _session_spec(self) -> SessionSpec:
        return SessionSpec(
            self._launch,
            self._env,
            self._workspace,
            ControlFolders(self._ctl, self._ctl_inside, self._ipc, self._ipc_inside, self._links),
            self._owner,
            self._over_limit,
        )

    @contextlib.contextmanager
    def _launch(self) -> Iterator[tuple[list[str], tuple[int, ...]]]:
        """The argv prefix of one command and the descriptors it must inherit, open while the
        command starts (the bubblewrap sandbox hands its options over on a descriptor)."""
        yield self._prefix, ()

    def _over_limit(self) -> str | None:
        """Why a running command must stop now (a sandbox limit it crossed), or None."""
        return None

    async def run_shell(self, command: str, timeout: float) -> ExecResult:
        """Run `command` in the episode's persistent bash (started on first use)."""
        if self._shell is None:
            self._shell = ShellSession(self._session_spec(), self._max_output_bytes, self._kill_grace_s)
        return await self._shell.run(command, timeout)

    async def run_python(self, code: str, timeout: float) -> ExecResult:
        """Run `code` in the episode's persistent Jupyter kernel (started on first use)."""
        if self._kernel is None:
            self._kernel = KernelSession(self._session_spec(), self._max_output_bytes, self._kill_grace_s)
        return await self._kernel.run(code, timeout)

    @property
    def workspace(self) -> Path:
        """Host path of the writable workspace (the commands' cwd)."""
        return self._workspace

    @property
    def data_dir(self) -> str:
        """Path of the task data as commands see it: the host path, for a process sandbox."""
        return self._data_dir

    async def exec(self, argv: list[str], timeout: float, input: str | None = None) -> ExecResult:
        """Run `argv` in the workspace; past `timeout` seconds kill its whole process group."""
        if not argv:
            raise ValueError("exec needs a command: argv is empty")
        if argv[0] == "python":
            argv = [sys.executable, *argv[1:]]
        started = time.monotonic()
        sink = CappedOutput(self._max_output_bytes)
        launch = self._launch()
        prefix, fds = launch.__enter__()
        spawn = asyncio.ensure_future(
            asyncio.get_running_loop().subprocess_exec(
                lambda: CaptureProtocol(sink),
                *prefix,
                *argv,
                stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=self._workspace,
                env=self._env,
                start_new_session=True,
                preexec_fn=default_signals,
                pass_fds=fds,
            )
        )
        # Closed once the start is over, however it ends (the start goes on when this call is cancelled).
        spawn.add_done_callback(lambda _: launch.__exit__(None, None, None))
        try:
            transport, capture = await asyncio.shield(spawn)
        except asyncio.CancelledError:
            # Cancelled while the command was starting: it may run already (asyncio would kill its
            # first process only); its whole group must not outlive the call.
            await _kill_when_started(spawn)
            raise
        except OSError as e:
            return ExecResult(127, f"cannot run {argv[0]!r}: {e.strerror or e}", time.monotonic() - started)
        pgid = transport.get_pid()
        self._running.add(pgid)
        if self._closed:  # closed while this command was being started: it must not outlive close()
            _signal_group(pgid, signal.SIGKILL)
        try:
            if input is not None:
                stdin = transport.get_pipe_transport(0)
                assert isinstance(stdin, asyncio.WriteTransport)
                stdin.write(input.encode())
                stdin.close()  # flushes, then EOF; a command that never reads just loses it
            done, _ = await asyncio.wait({capture.exited}, timeout=timeout)
            timed_out = not done
            # Also when the command ended by itself: its background jobs would hold the output pipe
            # open and outlive the call, so a command's lifetime bounds everything it started.
            await _terminate_group(pgid, self._kill_grace_s)
            await asyncio.wait({capture.exited, capture.output_closed}, timeout=_DRAIN_S)
        except BaseException:
            # Cancelled (or failed) mid-call: nothing the command started may survive the caller.
            _signal_group(pgid, signal.SIGKILL)
            raise
        finally:
            self._running.discard(pgid)
            exit_code = transport.get_returncode()
            transport.close()
        output = sink.text()
        if timed_out:
            output += (
                f"\n[timed out after {timeout:g} s: the command and every process it started were killed]"
            )
        return ExecResult(
            -signal.SIGKILL if exit_code is None else exit_code,
            output,
            time.monotonic() - started,
            timed_out,
            sink.dropped_bytes,
        )

    async def read_data(self, rel: str) -> bytes:
        """Read a task data file; FileNotFoundError when it is missing, ValueError outside the data."""
        path = (self._data_host / rel).resolve()
        if not path.is_relative_to(self._data_host):
            raise ValueError(f"{rel!r} is outside the task data")
        return await asyncio.to_thread(path.read_bytes)

    async def read_file(self, rel: str, max_bytes: int | None = None) -> bytes:
        """Read a workspace file safely (sandbox/safe_files.py: no links followed, regular files only,
        at most `max_bytes` (default MAX_READ_BYTES), within READ_TIMEOUT_S); FileNotFoundError when it
        is missing, UnsafeFileError (a ValueError saying what to do) for anything else it refuses."""
        cap = MAX_READ_BYTES if max_bytes is None else max_bytes
        read = asyncio.to_thread(read_beneath, str(self._workspace), rel, cap, READ_TIMEOUT_S)
        # The thread stops itself at the deadline too; this bounds the wait for a stuck filesystem.
        try:
            return await asyncio.wait_for(read, READ_TIMEOUT_S + 5)
        except TimeoutError:
            raise UnsafeFileError(f"reading {rel!r} did not finish in {READ_TIMEOUT_S:g} s") from None

    async def write_file(self, rel: str, data: bytes | str) -> None:
        """Write a workspace file (text as UTF-8), creating its parent directories; refuses to write
        through a link or into a non-regular file the agent put there."""
        payload = data.encode() if isinstance(data, str) else data
        await asyncio.to_thread(write_beneath, str(self._workspace), rel, payload, self._owner)

    async def close(self) -> None:
        """Kill every command still running (their whole process groups) and the stateful sessions;
        a command still being started when this runs is killed as soon as it exists."""
        self._closed = True
        for pgid in list(self._running):
            _signal_group(pgid, signal.SIGKILL)
        self._running.clear()
        for session in (self._shell, self._kernel):
            if session is not None:
                await session.close()
        self._shell = self._kernel = None
        remove_tree(str(self._ctl_root))


async def _kill_when_started(
    spawn: "asyncio.Future[tuple[asyncio.SubprocessTransport, CaptureProtocol]]",
) -> None:
    """Wait for a command's start that its caller gave up on, then kill its process group."""
    try:
        transport, _ = await spawn
    except BaseException:  # it did not start (or failed to): nothing runs
        return
    _signal_group(transport.get_pid(), signal.SIGKILL)
    transport.close()


def _signal_group(pgid: int, sig: int) -> bool:
    """Send `sig` to a process group; False when the group no longer exists."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs. Zombies do not count: orphans are reaped by
    init, sometimes a second later, and there is nothing left in them to kill."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return _signal_group(pgid, 0)
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                # Fields after the parenthesised command name: state, ppid, pgrp, ...
                state, _, pgrp = f.read().rpartition(")")[2].split()[:3]
        except (OSError, ValueError):
            continue  # the process ended while we looked
        if int(pgrp) == pgid and state not in ("Z", "X"):
            return True
    return False


async def _terminate_group(pgid: int, grace_s: float) -> None:
    """SIGTERM the whole group so it can clean up, SIGKILL whatever is left after `grace_s`."""
    if not _group_alive(pgid) or not _signal_group(pgid, signal.SIGTERM):
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        if not _group_alive(pgid):
            return
    _signal_group(pgid, signal.SIGKILL)
