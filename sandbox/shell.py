"""The stateful bash tool's shell: one long-lived bash per episode; cwd, variables and background jobs
persist between commands.

The shell is interactive (`-i`, no line editing, empty prompts) for one reason: an interactive bash
given SIGINT abandons the command line it runs, even a builtin loop like `while :; do :; done`, and
waits for the next one, as in a terminal. Each command is written to a file and sourced from the
shell with stdin from /dev/null (so a command that reads stdin cannot eat the next command); the file
lies in the session's control folder, which the sandbox sees read-only, so no link planted there can
turn the worker's write into one of the agent's choosing (sandbox/safe_files.py). A random
token printed after it carries its exit status. A timeout SIGINTs the shell and every process the
command started, SIGKILLs what ignored that, and resynchronises; a shell that does not come back is
restarted, and the agent is told what was lost.
"""

import asyncio
import contextlib
import os
import re
import secrets
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from sandbox._capture import CappedOutput
from sandbox._procs import Proc, default_signals, descendants, keys, read_proc, signal_all
from sandbox.base import ExecResult
from sandbox.safe_files import create_control_file, remove_control_file

_TOKEN_RE = re.compile(rb"\x1e(AIRA[0-9a-f]{16})=(-?\d+)\n")
# How often a running command's workspace limit is checked.
_WATCH_EVERY_S = 0.25
SHELL_ARGV = ["bash", "--norc", "--noprofile", "--noediting", "-i"]


class ControlFolders(NamedTuple):
    """A session's control folders as the worker (`*_host`) and the sandbox (`*_inside`) see them:
    `ctl` holds what the worker hands over (the sandbox reads it, never writes it), `ipc` what the
    sandbox makes for the worker (the kernel's sockets), `links` is the worker's own."""

    ctl_host: Path
    ctl_inside: str
    ipc_host: Path
    ipc_inside: str
    links_host: Path


Launch = Callable[[], contextlib.AbstractContextManager[tuple[list[str], tuple[int, ...]]]]


class SessionSpec:
    """How to start a process in the sandbox: the argv prefix (bwrap ..., or nothing), its env and user.

    `launch` opens the argv prefix of one start and the descriptors it must inherit (closed when the
    start is over). `folders` are the session's control folders; `owner` is the sandbox's own user
    (its group may read the control files; the kernel's sockets must be its), None for the worker's.
    `watch` returns a message when the sandbox is over a limit that the running command must stop for.
    """

    def __init__(
        self,
        launch: Launch,
        env: dict[str, str],
        cwd: Path,
        folders: ControlFolders,
        owner: int | None = None,
        watch: Callable[[], str | None] | None = None,
    ) -> None:
        self.launch = launch
        self.env = env
        self.cwd = cwd
        self.folders = folders
        self.owner = owner
        self.watch = watch

    async def start(
        self, argv: list[str], *, pipes: bool, env: dict[str, str] | None = None
    ) -> asyncio.subprocess.Process:
        """Start `argv` in the sandbox as the leader of a new session (`env` adds to the spec's)."""
        pipe = asyncio.subprocess.PIPE
        with self.launch() as (prefix, fds):
            return await asyncio.create_subprocess_exec(
                *prefix,
                *argv,
                stdin=pipe if pipes else asyncio.subprocess.DEVNULL,
                stdout=pipe if pipes else asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.STDOUT if pipes else asyncio.subprocess.DEVNULL,
                cwd=self.cwd,
                env={**self.env, **(env or {})},
                start_new_session=True,
                preexec_fn=default_signals,
                pass_fds=fds,
            )

    def hand_over(self, name: str, data: bytes) -> str:
        """Leave `data` as the new control file `name` for the sandbox to read; its path inside."""
        create_control_file(str(self.folders.ctl_host), name, data, self.owner)
        return f"{self.folders.ctl_inside}/{name}"

    def take_back(self, name: str) -> None:
        """Remove the control file `name`."""
        remove_control_file(str(self.folders.ctl_host), name)


def kill_session(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL a started session: its process group and everything below it."""
    signal_all(descendants(proc.pid), signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


class ShellSession:
    """A persistent bash in the sandbox; `run` executes one command in it."""

    def __init__(self, spec: SessionSpec, max_output_bytes: int = 4 << 20, kill_grace_s: float = 2.0) -> None:
        self._spec = spec
        self._max_output_bytes = max_output_bytes
        self._grace_s = kill_grace_s
        self._proc: asyncio.subprocess.Process | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pump: asyncio.Task[None] | None = None
        self._sink = CappedOutput(max_output_bytes)
        self._carry = b""
        self._waiting: dict[str, asyncio.Future[int]] = {}
        self._calls = 0
        self._notice = ""

    async def run(self, command: str, timeout: float) -> ExecResult:
        """Run `command` in the shell; past `timeout` (or a sandbox limit) interrupt it."""
        started = time.monotonic()
        proc = await self._ensure_started()
        self._calls += 1
        script = f"cmd-{self._calls}.sh"
        inside = self._spec.hand_over(script, (command + "\n").encode())
        token, done = self._expect()
        before = keys(descendants(proc.pid))
        self._send(f"{{ . {inside}; }} </dev/null 2>&1; printf '\\036%s=%d\\n' {token} $?\n")
        stop, timed_out = await self._wait(done, timeout)
        notes: list[str] = []
        if stop is not None:
            notes.append(stop)
            if not await self._interrupt(proc, before, done):
                notes.append(
                    "the shell did not recover and was restarted: cwd, variables and background jobs are lost"
                )
        finished = done.done() and not done.cancelled()
        exit_code = done.result() if finished else -signal.SIGKILL
        if self._proc is not None and self._proc.returncode is not None:
            notes.append(
                f"the shell exited (status {self._proc.returncode}); a new one starts with the next command"
            )
            exit_code = exit_code if finished else self._proc.returncode
            await self._reset()
        sink, self._sink = self._sink, CappedOutput(self._max_output_bytes)
        output = self._notice + sink.text() + "".join(f"\n[{n}]" for n in notes)
        self._notice = ""
        self._spec.take_back(script)
        return ExecResult(exit_code, output, time.monotonic() - started, timed_out, sink.dropped_bytes)

    async def close(self) -> None:
        """Kill the shell and everything it started."""
        await self._reset()

    async def _ensure_started(self) -> asyncio.subprocess.Process:
        loop = asyncio.get_running_loop()
        if self._proc is not None and (self._loop is not loop or self._proc.returncode is not None):
            await self._reset()
            self._notice = "[a new shell was started: cwd, variables and background jobs are reset]\n"
        if self._proc is None:
            self._proc = await self._spec.start(SHELL_ARGV, pipes=True, env={"PS1": "", "PS2": ""})
            self._loop = loop
            self._pump = asyncio.create_task(self._read(self._proc))
            token, ready = self._expect()
            # Job-control warnings of a shell without a terminal come first; they are not the agent's.
            self._send(f"PS1=; PS2=; set +H; printf '\\036%s=%d\\n' {token} 0\n")
            try:
                await asyncio.wait_for(asyncio.shield(ready), 30)
            except TimeoutError:
                why = self._sink.text()[-500:]
                await self._reset()
                raise OSError(f"the sandbox shell did not start: {why}") from None
            self._sink = CappedOutput(self._max_output_bytes)
        return self._proc

    def _expect(self) -> tuple[str, asyncio.Future[int]]:
        token = "AIRA" + secrets.token_hex(8)
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting[token] = done
        return token, done

    def _send(self, line: str) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        with contextlib.suppress(ConnectionError, RuntimeError):
            self._proc.stdin.write(line.encode())

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(1 << 16):
            self._feed(chunk)
        self._sink.add(self._carry)
        self._carry = b""

    def _feed(self, chunk: bytes) -> None:
        data = self._carry + chunk
        pos = 0
        for match in _TOKEN_RE.finditer(data):
            self._sink.add(data[pos : match.start()])
            pos = match.end()
            done = self._waiting.pop(match.group(1).decode(), None)
            if done is not None and not done.done():
                done.set_result(int(match.group(2)))
        rest = data[pos:]
        # A token may be split across reads: hold back a short unfinished one.
        mark = rest.rfind(b"\x1e")
        if mark >= 0 and len(rest) - mark < 48 and b"\n" not in rest[mark:]:
            self._sink.add(rest[:mark])
            self._carry = rest[mark:]
        else:
            self._sink.add(rest)
            self._carry = b""

    async def _wait(self, done: asyncio.Future[int], timeout: float) -> tuple[str | None, bool]:
        """Wait for the command; return why it must stop (None when it ended) and whether that is
        its timeout (else a sandbox limit)."""
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return (
                    f"timed out after {timeout:g} s: the command was interrupted (SIGINT, then SIGKILL for "
                    "what ignored it); the shell session goes on"
                ), True
            # Polled, not awaited: Process.wait() also waits for the output pipe, which a background
            # job of an exited shell can hold open.
            finished, _ = await asyncio.wait({done}, timeout=min(left, _WATCH_EVERY_S))
            if finished or self._proc.returncode is not None:
                return None, False
            if self._spec.watch is not None and (why := self._spec.watch()):
                return why, False

    async def _interrupt(
        self, proc: asyncio.subprocess.Process, before: set[tuple[int, int]], done: asyncio.Future[int]
    ) -> bool:
        """Stop the running command and get the shell back; False when the shell had to be restarted."""
        shell = _shell_of(proc)

        def started_by_command() -> set[Proc]:
            return {p for p in descendants(proc.pid) if (p.pid, p.start) not in before}

        signal_all(started_by_command() | ({shell} if shell else set()), signal.SIGINT)
        if await _settled(done, self._grace_s):
            return True
        for _ in range(20):  # a fork bomb refills the table while it is emptied
            new = started_by_command()
            if not new:
                break
            signal_all(new, signal.SIGKILL)
            await asyncio.sleep(0.05)
        token, resync = self._expect()
        self._send(f"printf '\\036%s=%d\\n' {token} $?\n")
        if await _settled(resync, self._grace_s + 1) or done.done():
            if not done.done():
                done.set_result(resync.result())
            return True
        await self._reset()
        return False

    async def _reset(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            kill_session(proc)
            # A shell of an earlier event loop (a new episode loop) cannot be awaited from this one.
            if self._loop is asyncio.get_running_loop():
                with contextlib.suppress(ProcessLookupError, TimeoutError):
                    await asyncio.wait_for(proc.wait(), 5)
        if self._pump is not None:
            self._pump.cancel()
            self._pump = None
        for future in self._waiting.values():
            future.cancel()
        self._waiting.clear()
        self._carry = b""


def _shell_of(proc: asyncio.subprocess.Process) -> Proc | None:
    """The bash process itself: the launcher, or the first bash down its chain (bwrap runs it as a
    child of its own init)."""
    me = read_proc(proc.pid)
    if me is None or _comm(me.pid) == "bash":
        return me
    by_parent = {p.ppid: p for p in descendants(proc.pid)}
    pid = proc.pid
    while pid in by_parent:
        current = by_parent[pid]
        if _comm(current.pid) == "bash":
            return current
        pid = current.pid
    return None


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


async def _settled(future: asyncio.Future[int], timeout: float) -> bool:
    with contextlib.suppress(TimeoutError, asyncio.CancelledError):
        await asyncio.wait_for(asyncio.shield(future), timeout)
    return future.done() and not future.cancelled()
