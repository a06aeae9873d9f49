"""The outage circuit breaker: while the policy server is down, the coordinator dispatches no new jobs.

Every worker's policy client reports an outage (a request still failing after its quick retries)
and the recovery (the next request that gets through). Workers and the coordinator live in other
processes, so the run holds one breaker actor, found by name like the token ledger. The coordinator
asks `hold()` before each dispatch: the reason to hold, or None. While open, `hold()` also probes the
server itself, so that dispatching resumes even when no episode is left to report the recovery.
The breaker actor restarts after a crash; its history is kept in a file of the run (`record`), so a
restarted breaker still knows the outages so far, and one still open stays open until it ends.
"""

import json
import os
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol

import httpx
import ray
from pydantic import BaseModel

# How often an open breaker probes the server itself.
PROBE_EVERY_S = 5.0
_PROBE_TIMEOUT_S = 5.0

Probe = Callable[[], Coroutine[Any, Any, str | None]]


class Outage(BaseModel):
    """One outage of the policy server, as the run's result records it."""

    started_at: float
    ended_at: float | None = None  # None while it lasts
    error: str

    @property
    def duration_s(self) -> float:
        """How long it lasted (so far)."""
        return (self.ended_at or time.time()) - self.started_at


class OutageReporter(Protocol):
    """What a policy client reports to: the run's breaker (or a local one in tests)."""

    async def down(self, error: str) -> None:
        """A request still fails after its quick retries: the server is down or overloaded."""
        ...

    async def up(self) -> None:
        """A request got through again."""
        ...


def http_probe(base_url: str) -> Probe:
    """A probe that GETs `{base_url}/models`: any answer below 500 (401 included) means the server is up."""

    async def probe() -> str | None:
        try:
            async with httpx.AsyncClient(timeout=_PROBE_TIMEOUT_S) as client:
                response = await client.get(f"{base_url.rstrip('/')}/models")
        except httpx.HTTPError as e:
            return f"{type(e).__name__}: {e}"
        return f"HTTP {response.status_code}" if response.status_code >= 500 else None

    return probe


class OutageBreaker:
    """Open from the first outage report until a recovery report or a successful probe."""

    def __init__(
        self,
        probe: Probe | None = None,
        probe_every_s: float = PROBE_EVERY_S,
        record: str | Path | None = None,
    ) -> None:
        self.probe = probe
        self.probe_every_s = probe_every_s
        self.record = Path(record) if record is not None else None
        self.history: list[Outage] = self._load()
        self.last_probe = 0.0

    def _load(self) -> list[Outage]:
        if self.record is None or not self.record.exists():
            return []
        try:
            return [Outage.model_validate(o) for o in json.loads(self.record.read_text())]
        except ValueError:  # written atomically, so only a hand edit breaks it: start a new history
            return []

    def _save(self) -> None:
        if self.record is None:
            return
        tmp = self.record.with_name(self.record.name + ".tmp")
        tmp.write_text(json.dumps([o.model_dump() for o in self.history]))
        os.replace(tmp, self.record)

    @property
    def current(self) -> Outage | None:
        """The outage going on now, if any."""
        return self.history[-1] if self.history and self.history[-1].ended_at is None else None

    async def down(self, error: str) -> None:
        """Open the breaker (a report while open only refreshes the error)."""
        if self.current is None:
            self.history.append(Outage(started_at=time.time(), error=error[:500]))
            self.last_probe = time.time()
        else:
            self.current.error = error[:500]
        self._save()

    async def up(self) -> None:
        """Close the breaker: the server answers again."""
        if (outage := self.current) is not None:
            outage.ended_at = time.time()
            self._save()

    async def hold(self) -> str | None:
        """Why dispatching should wait (the server is down), or None to go on."""
        outage = self.current
        if outage is None:
            return None
        if self.probe is not None and time.time() - self.last_probe >= self.probe_every_s:
            self.last_probe = time.time()
            if await self.probe() is None:
                await self.up()
                return None
        return f"policy server down for {outage.duration_s:.0f} s: {outage.error}"

    def outages(self) -> list[Outage]:
        """Every outage of the run so far, oldest first."""
        return list(self.history)


class OutageBreakerHandle:
    """A worker's reporter to the run's breaker actor (found by name)."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor

    async def down(self, error: str) -> None:
        """Report an outage to the run's breaker."""
        await self.actor.down.remote(error)

    async def up(self) -> None:
        """Report the recovery to the run's breaker."""
        await self.actor.up.remote()


# Restarted after a crash with its history from `record`; the clients' and the coordinator's calls
# wait for it and are retried.
OutageBreakerActor = ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)(OutageBreaker)
