"""The sandbox interface: where agent code runs. Providers (bubblewrap, a bare process group) plug in here."""

from pathlib import Path
from typing import NamedTuple, Protocol


class ExecResult(NamedTuple):
    """The result of one command run in a sandbox.

    `output` is stdout and stderr interleaved as the command wrote them; when the command printed more
    than the sandbox keeps, the middle is dropped and `truncated_bytes` counts what was dropped.
    A command past its timeout is killed with everything it started: `timed_out` is True and
    `exit_code` is the (negative) signal number that ended it.
    """

    exit_code: int
    output: str
    duration_s: float
    timed_out: bool = False
    truncated_bytes: int = 0


class Sandbox(Protocol):
    """An isolated place to run the agent's commands and read and write its files.

    `workspace` is the host path of the writable working directory; `data_dir` is the path of the
    read-only task data as the agent's code sees it (inside the sandbox). File paths given to
    `read_file`/`write_file` are relative to the workspace.
    """

    @property
    def workspace(self) -> Path: ...

    @property
    def data_dir(self) -> str: ...

    async def exec(self, argv: list[str], timeout: float, input: str | None = None) -> ExecResult:
        """Run `argv` in the workspace; kill it and everything it started after `timeout` seconds."""
        ...

    async def run_shell(self, command: str, timeout: float) -> ExecResult:
        """Run `command` in the episode's persistent bash; cwd, variables and background jobs persist.
        Past `timeout` the command is interrupted and the session goes on (or restarts, saying so)."""
        ...

    async def run_python(self, code: str, timeout: float) -> ExecResult:
        """Run `code` as a cell of the episode's persistent Python kernel; variables persist. Past
        `timeout` the cell is interrupted; a dead kernel is restarted and the output says so."""
        ...

    async def read_data(self, rel: str) -> bytes:
        """Read a file of the read-only task data (relative to the data directory)."""
        ...

    async def read_file(self, rel: str, max_bytes: int | None = None) -> bytes:
        """Read a workspace file; FileNotFoundError when it does not exist, a ValueError saying why
        when it is refused (a link, a FIFO, more than `max_bytes`: None is the sandbox's own cap)."""
        ...

    async def write_file(self, rel: str, data: bytes | str) -> None:
        """Write a workspace file, creating its parent directories."""
        ...

    async def close(self) -> None:
        """Stop whatever still runs in the sandbox and release its resources."""
        ...
