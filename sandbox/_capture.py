"""Bounded capture of a command's output: keep the head and the tail, count the dropped middle."""

import asyncio


class CappedOutput:
    """Collects at most `limit` bytes: the first half as it comes, then a rolling tail.

    Both ends matter: the head shows what the command set out to do, the tail holds the traceback
    or the final result; the middle of a flood (a loop printing 100 MB) is what can go.
    """

    def __init__(self, limit: int) -> None:
        self._head_limit = limit // 2
        self._tail_limit = limit - self._head_limit
        self._head = bytearray()
        self._tail = bytearray()
        self.total_bytes = 0

    def add(self, chunk: bytes) -> None:
        """Append a chunk, dropping from the middle once the limit is reached."""
        self.total_bytes += len(chunk)
        room = self._head_limit - len(self._head)
        if room > 0:
            self._head += chunk[:room]
            chunk = chunk[room:]
        self._tail += chunk
        if len(self._tail) > self._tail_limit:
            del self._tail[: len(self._tail) - self._tail_limit]

    @property
    def dropped_bytes(self) -> int:
        """How many bytes were read but not kept."""
        return self.total_bytes - len(self._head) - len(self._tail)

    def text(self) -> str:
        """The kept output as text, with a marker where the middle was dropped."""
        head = self._head.decode(errors="replace")
        tail = self._tail.decode(errors="replace")
        if self.dropped_bytes == 0:
            return head + tail
        return f"{head}\n... [{self.dropped_bytes} bytes of output dropped] ...\n{tail}"


class CaptureProtocol(asyncio.SubprocessProtocol):
    """Feeds a subprocess's output pipe into a `CappedOutput` and signals exit and end of output.

    Separate signals because they differ: a background job can hold the pipe open long after the
    command itself exited (asyncio's Process.wait() would wait for both).
    """

    def __init__(self, sink: CappedOutput) -> None:
        loop = asyncio.get_running_loop()
        self.sink = sink
        self.exited: asyncio.Future[None] = loop.create_future()
        self.output_closed: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        self.sink.add(data.encode() if isinstance(data, str) else data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1 and not self.output_closed.done():
            self.output_closed.set_result(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)
