"""The stateful python tool's kernel: one Jupyter kernel (ipykernel) per episode, inside the sandbox.

The kernel talks to the worker over Jupyter's `ipc` transport: unix sockets in the session's ipc
folder, the one folder the sandbox writes for the worker; the worker connects to each only after
adopting it into a folder of its own (sandbox/safe_files.py: a planted link is refused, not
followed). The connection file lies in the control folder, which the sandbox sees read-only. That
works with the network namespace unshared, where TCP on loopback would not reach the worker. A
timeout SIGINTs the kernel (KeyboardInterrupt in the cell); a kernel that does not stop, or dies
(out of memory, os._exit), is restarted and the agent is told that its variables are gone.
"""

import asyncio
import contextlib
import json
import queue
import re
import secrets
import signal
import sys
import time
from typing import Any

from jupyter_client.asynchronous import AsyncKernelClient

from sandbox._capture import CappedOutput
from sandbox._procs import Proc, descendants, read_proc, signal_all
from sandbox.base import ExecResult
from sandbox.safe_files import UnsafeFileError, adopt_socket
from sandbox.shell import SessionSpec, kill_session

_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_READY_S = 60.0
_WATCH_EVERY_S = 0.25
_LOST = "its variables are lost"


async def _wait_ready(client: AsyncKernelClient, proc: asyncio.subprocess.Process, timeout: float) -> None:
    """Wait until the kernel answers kernel_info and its IOPub reaches us, or fail when it exits.

    Not jupyter_client's wait_for_ready: without a KernelManager it judges liveness by heartbeats
    (one missed second = dead), and a kernel still importing on a loaded node misses them, so it
    reports a healthy kernel as dead. The process itself says whether the kernel died.
    """
    deadline = time.monotonic() + timeout
    while True:
        if proc.returncode is not None:
            raise RuntimeError(f"the kernel exited (status {proc.returncode}) before it answered")
        client.kernel_info()
        with contextlib.suppress(queue.Empty):
            msg = await client.shell_channel.get_msg(timeout=1)
            if msg["msg_type"] == "kernel_info_reply":
                # IOPub subscribes late (a slow joiner): until a message arrives on it, ask again.
                with contextlib.suppress(queue.Empty):
                    await client.iopub_channel.get_msg(timeout=0.2)
                    return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the kernel did not answer within {timeout:g} s")


class KernelSession:
    """A persistent IPython kernel in the sandbox; `run` executes one cell in it."""

    def __init__(self, spec: SessionSpec, max_output_bytes: int = 4 << 20, kill_grace_s: float = 2.0) -> None:
        self._spec = spec
        self._max_output_bytes = max_output_bytes
        self._grace_s = kill_grace_s
        self._proc: asyncio.subprocess.Process | None = None
        self._client: AsyncKernelClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._starts = 0

    async def run(self, code: str, timeout: float) -> ExecResult:
        """Execute `code` as one cell; past `timeout` (or a sandbox limit) interrupt it."""
        started = time.monotonic()
        notice = await self._ensure_started()
        assert self._client is not None and self._proc is not None
        sink = CappedOutput(self._max_output_bytes)
        msg_id = self._client.execute(code, store_history=False, allow_stdin=False)
        status, stop = await self._collect(msg_id, sink, time.monotonic() + timeout, timeout)
        notes = [stop] if stop else []
        if stop is not None and status is None:
            signal_all(self._kernel_procs(), signal.SIGINT)
            status, _ = await self._collect(msg_id, sink, time.monotonic() + self._grace_s, None)
            if status is None:
                notes.append(f"the kernel did not stop and was restarted: {_LOST}")
                await self.close()
        if status is None and self._proc is not None and self._proc.returncode is not None:
            notes.append(
                f"the Python kernel died (exit {self._proc.returncode}) while running this cell, e.g. out "
                f"of memory; a new one starts with the next call and {_LOST}"
            )
            await self.close()
        exit_code = {"ok": 0, "error": 1, "aborted": 1}.get(status or "", -signal.SIGKILL)
        output = notice + sink.text() + "".join(f"\n[{n}]" for n in notes)
        timed_out = stop is not None and stop.startswith("timed out")
        return ExecResult(exit_code, output, time.monotonic() - started, timed_out, sink.dropped_bytes)

    async def close(self) -> None:
        """Stop the kernel and everything it started."""
        client, self._client = self._client, None
        if client is not None:
            client.stop_channels()
        proc, self._proc = self._proc, None
        if proc is not None:
            kill_session(proc)
            # A kernel of an earlier event loop cannot be awaited from this one.
            if self._loop is asyncio.get_running_loop():
                with contextlib.suppress(ProcessLookupError, TimeoutError):
                    await asyncio.wait_for(proc.wait(), 5)

    async def _ensure_started(self) -> str:
        """Start the kernel if needed; return a notice for the agent when this is a restart."""
        loop = asyncio.get_running_loop()
        notice = ""
        if self._proc is not None and (self._loop is not loop or self._proc.returncode is not None):
            if self._proc.returncode is not None:
                notice = f"[the Python kernel had died (exit {self._proc.returncode}); restarted: {_LOST}]\n"
            await self.close()
        if self._proc is not None:
            return notice
        if self._starts and not notice:
            notice = f"[a new Python kernel was started: {_LOST}]\n"
        self._starts += 1
        name = f"kernel-{self._starts}"
        info: dict[str, Any] = {
            "transport": "ipc",
            "signature_scheme": "hmac-sha256",
            "key": secrets.token_hex(16),
            "kernel_name": "python3",
            **{f"{c}_port": i for i, c in enumerate(("shell", "iopub", "stdin", "control", "hb"), 1)},
        }
        folders = self._spec.folders
        conn = self._spec.hand_over(
            f"{name}.json", json.dumps({**info, "ip": f"{folders.ipc_inside}/{name}"}).encode()
        )
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", conn, "--HistoryManager.enabled=False"]
        self._proc = await self._spec.start(argv, pipes=False)
        self._loop = loop
        try:
            await self._adopt_sockets(name, time.monotonic() + _READY_S)
            client = AsyncKernelClient()
            host_info: Any = {**info, "ip": str(folders.links_host / name)}
            client.load_connection_info(host_info)
            client.start_channels()
            self._client = client
            await _wait_ready(client, self._proc, _READY_S)
        except (RuntimeError, UnsafeFileError) as e:
            await self.close()
            raise OSError(f"the Python kernel did not start in the sandbox: {e}") from None
        return notice

    async def _adopt_sockets(self, name: str, deadline: float) -> None:
        """Wait for the kernel's five sockets in the ipc folder, then adopt each into the worker's
        own folder (safe_files.adopt_socket): the client connects there, never to a name the
        sandbox can change."""
        assert self._proc is not None
        folders = self._spec.folders
        pending = [f"{name}-{port}" for port in range(1, 6)]
        while pending:
            if self._proc.returncode is not None:
                raise RuntimeError(f"the kernel exited (status {self._proc.returncode}) before it answered")
            try:
                adopt_socket(str(folders.ipc_host), pending[0], str(folders.links_host), self._spec.owner)
                pending.pop(0)
                continue
            except FileNotFoundError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the kernel made no socket {pending[0]} within {_READY_S:g} s")
            await asyncio.sleep(0.05)

    def _kernel_procs(self) -> set[Proc]:
        """The kernel process itself, not the bwrap processes around it (SIGINT would end those)."""
        assert self._proc is not None
        me = read_proc(self._proc.pid)
        procs = descendants(self._proc.pid) | ({me} if me else set())
        return {p for p in procs if _cmdline(p.pid).startswith(sys.executable.encode() + b"\0-m\0ipykernel")}

    async def _collect(
        self, msg_id: str, sink: CappedOutput, deadline: float, timeout: float | None
    ) -> tuple[str | None, str | None]:
        """Read the cell's output until it is idle; return (status, why it was stopped)."""
        assert self._client is not None and self._proc is not None
        status: str | None = None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                why = f"timed out after {timeout:g} s: the cell was interrupted" if timeout else None
                return status, why
            try:
                msg = await self._client.get_iopub_msg(timeout=min(left, _WATCH_EVERY_S))
            except Exception:  # queue.Empty under its async face: nothing arrived yet
                if self._proc.returncode is not None:
                    return status, None
                if timeout is not None and self._spec.watch is not None and (why := self._spec.watch()):
                    return status, why
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                sink.add(content["text"].encode())
            elif kind in ("execute_result", "display_data"):
                text = content["data"].get("text/plain")
                if text:
                    sink.add((text + "\n").encode())
            elif kind == "error":
                sink.add((_ANSI_RE.sub("", "\n".join(content["traceback"])) + "\n").encode())
                status = "error"
            elif kind == "status" and content["execution_state"] == "idle":
                return status or "ok", None


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""
