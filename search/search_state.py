"""search_state.json: what a restarted or resumed coordinator needs besides the journal.

The journal holds every finished node; this file holds the rest, rewritten atomically at every
dispatch: the next node id, the search time used, the session's deadline, the restarts so far, and
the jobs that are running (so that a restarted coordinator can run them again, at most once more).
A job that is journaled but still listed here is finished: the journal wins.
"""

import asyncio
import json
import logging
import os
from concurrent.futures import Executor
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from search.job import Job

log = logging.getLogger(__name__)

# A job is run at most this many times: once, and once more after a coordinator died while it ran.
MAX_ATTEMPTS = 2


class RunningJob(BaseModel):
    """A dispatched job whose node is not journaled yet."""

    job: Job
    worker_id: int
    attempt: int = Field(1, ge=1, description="1 = first run; 2 = re-dispatched after a restart")


class SearchState(BaseModel):
    session: str | None = None  # who runs this session: the coordinator actor's id under Ray
    elapsed_s: float = 0.0  # search time used, carried over by a resume
    next_id: int = 1
    deadline: float | None = None  # this session's end (unix time): a restarted coordinator keeps it
    restarts: int = 0  # coordinator restarts in this run
    running: dict[int, RunningJob] = Field(default_factory=dict)


def load_state(path: Path) -> SearchState:
    """The saved state, or a fresh one when there is none.

    The file is only ever replaced atomically, so an unreadable one means a crash of the machine
    itself; the journal still holds every node, so the search goes on from it and says so.
    """
    if not path.exists():
        return SearchState()
    try:
        return SearchState.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, ValidationError) as e:
        log.warning(
            "%s is unreadable (%s): continuing from the journal alone; jobs that were running are not "
            "run again",
            path,
            str(e).splitlines()[0],
        )
        return SearchState()


def save_state(path: Path, state: SearchState) -> None:
    """Replace the state file atomically (may raise OSError, e.g. ENOSPC on a full disk).

    Compact JSON from pydantic's serialiser: this runs at every dispatch, at 64 workers 64 times a
    second, and an indented dump through the json module cost a loaded machine ~15 ms a time.
    """
    write_state_text(path, state.model_dump_json())


def state_text(state: SearchState, running: dict[int, str]) -> str:
    """The state's JSON, with `running` given as each running job's JSON (kept from its dispatch).

    At every dispatch only the new job is serialised, not all that run (at 64 workers, dumping the
    whole state each time was the coordinator's largest cost).
    """
    head = state.model_dump_json(exclude={"running"})
    body = ",".join(f'"{node_id}":{text}' for node_id, text in running.items())
    return f'{head[:-1]},"running":{{{body}}}}}'


def write_state_text(path: Path, text: str) -> None:
    """Replace the state file with `text` (a SearchState's JSON) atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class StateWriter:
    """Writes state snapshots in `executor`, one write at a time, the newest snapshot each time.

    `await write(text)` returns once a snapshot at least as new as `text` is on disk (or raises its
    OSError), so dispatches that come while a write is under way share the next one.
    """

    def __init__(self, path: Path, executor: Executor) -> None:
        self.path = path
        self.executor = executor
        self.latest = ""
        self.version = 0
        self.written = 0
        self._writing: asyncio.Future[None] | None = None

    async def write(self, text: str) -> None:
        self.version += 1
        mine = self.version
        self.latest = text
        while self.written < mine:
            if self._writing is None:
                self._writing = asyncio.ensure_future(self._write_latest())
            # Shielded: a cancelled dispatch must not cancel the write that others wait for.
            await asyncio.shield(self._writing)

    async def _write_latest(self) -> None:
        version, text = self.version, self.latest
        try:
            await asyncio.get_running_loop().run_in_executor(self.executor, write_state_text, self.path, text)
            self.written = version
        finally:
            self._writing = None
