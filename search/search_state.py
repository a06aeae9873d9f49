"""search_state.json: what a restarted or resumed coordinator needs besides the journal.

The journal holds every finished node; this file holds the rest, rewritten atomically at every
dispatch and every record: the next node id, the search time used, the session's deadline, the
restarts so far, and the jobs that are running (so that a restarted coordinator can run them again,
at most once more).
"""

import json
import logging
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from search.job import Job
from search.run_dir import write_json_atomic

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
    """Replace the state file atomically (may raise OSError, e.g. ENOSPC on a full disk)."""
    write_json_atomic(path, state.model_dump(mode="json"))
