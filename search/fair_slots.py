"""Slots shared fairly among keys: the dispatch loop's scoring slots, one key per worker.

Plain asyncio, no Ray. A slot that is free goes at once to whoever asks. When none is free, callers
wait in one queue per key, and each slot that frees goes to the next key that waits, in round-robin
order of the keys after the one served last (first come, first served within a key). A key with a
long backlog so takes one turn per round, like any other waiting key: one worker whose submissions
are slow to score (each bounded by hce.scoring.timeout_s) and who hands in many of them cannot hold
another worker's submission behind its backlog; it waits for at most one slot to free per other key
waiting before it.
"""

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator


class FairSlots:
    """At most `capacity` holders at once, handed out round-robin among the keys that wait."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"FairSlots needs at least one slot, got {capacity}")
        self.capacity = capacity
        self._free = capacity
        self._waiting: dict[int, deque[asyncio.Future[None]]] = {}
        self._last: int | None = None  # the key served last: the round goes on after it

    @property
    def waiting(self) -> dict[int, int]:
        """How many callers wait, by key."""
        return {key: len(queue) for key, queue in self._waiting.items()}

    @contextlib.asynccontextmanager
    async def slot(self, key: int) -> AsyncIterator[None]:
        """Hold a slot for the body: at once when one is free, else at `key`'s turn."""
        await self.acquire(key)
        try:
            yield
        finally:
            self.release()

    async def acquire(self, key: int) -> None:
        """Take a slot (waiting for `key`'s turn when none is free); release() gives it back."""
        if self._free > 0 and not self._waiting:
            self._free -= 1
            self._last = key
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, deque()).append(granted)
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():  # given a slot as it was cancelled: pass it on
                self.release()
            else:
                self._forget(key, granted)
            raise

    def release(self) -> None:
        """Give a slot back: to the next waiting key in the round, or to the free ones."""
        while (key := self._next_key()) is not None:
            queue = self._waiting[key]
            granted = queue.popleft()
            if not queue:
                del self._waiting[key]
            if not granted.done():  # a caller cancelled while it waited is skipped
                granted.set_result(None)
                self._last = key
                return
        self._free += 1

    def _next_key(self) -> int | None:
        if not self._waiting:
            return None
        keys = sorted(self._waiting)
        if self._last is None:
            return keys[0]
        return next((k for k in keys if k > self._last), keys[0])

    def _forget(self, key: int, granted: asyncio.Future[None]) -> None:
        queue = self._waiting.get(key)
        if queue is None:
            return
        with contextlib.suppress(ValueError):
            queue.remove(granted)
        if not queue:
            del self._waiting[key]
