"""An append-only JSON-lines file that survives crashes: fsync'd appends, a torn tail cut off and kept.

A crash mid-append leaves a fragment without its newline at the end of the file. Appending right after
it would glue the next record onto the fragment and lose that record too, so every append first cuts
such a fragment off (saving it beside the file, `<name>.torn`). Reading skips a torn tail; a bad
complete line anywhere else is corruption, and stops the read with its line number.
"""

import os
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


class JsonlCorruptError(ValueError):
    """A complete line of a JSON-lines file is not a valid record; the message names the line and the fix."""


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (a new, renamed or truncated file) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class JsonlFile(Generic[T]):
    """Records of type T, one JSON line each, read with `parse` (which raises ValueError on a bad line)."""

    def __init__(self, path: Path, parse: Callable[[str], T], what: str) -> None:
        self.path = path
        self.parse = parse
        self.what = what  # what one line holds, for error messages: "node", "sealed score"
        path.parent.mkdir(parents=True, exist_ok=True)

    @property
    def torn_path(self) -> Path:
        return self.path.with_name(self.path.name + ".torn")

    def append(self, line: str) -> None:
        """Append one record (a JSON text without newline) and fsync it, after cutting off a torn tail."""
        if "\n" in line:
            raise ValueError(f"a {self.what} record must be a single line")
        with self.path.open("a+b") as f:
            self._cut_torn_tail(f.fileno())
            f.write(line.encode("utf-8") + b"\n")
            f.flush()
            os.fsync(f.fileno())

    def _cut_torn_tail(self, fd: int) -> None:
        size = os.fstat(fd).st_size
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return
        start = self._tail_start(fd, size)
        fragment = os.pread(fd, size - start, start)
        if self._parses(fragment):
            # A whole record that only lacks its newline (written by hand, say): keep it.
            os.write(fd, b"\n")
            return
        with self.torn_path.open("ab") as aside:
            aside.write(fragment + b"\n")
            aside.flush()
            os.fsync(aside.fileno())
        os.ftruncate(fd, start)
        os.fsync(fd)

    @staticmethod
    def _tail_start(fd: int, size: int) -> int:
        """Offset just past the file's last newline (0 when it has none)."""
        end = size
        while end > 0:
            begin = max(0, end - (1 << 16))
            newline = os.pread(fd, end - begin, begin).rfind(b"\n")
            if newline >= 0:
                return begin + newline + 1
            end = begin
        return 0

    def _parses(self, fragment: bytes) -> bool:
        try:
            self.parse(fragment.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return False
        return True

    def _parse_lines(self, lines: list[bytes], after: str) -> list[T]:
        """The records of complete lines (blank ones skipped); JsonlCorruptError names a bad one."""
        records = []
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            try:
                records.append(self.parse(raw.decode("utf-8")))
            except (ValueError, UnicodeDecodeError) as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise JsonlCorruptError(
                    f"{self.path} line {number}{after} is not a valid {self.what} ({first}); the file was "
                    f"edited or damaged: restore it from a copy, or delete that line (its {self.what} is "
                    "then lost), and start again"
                ) from None
        return records

    def load(self) -> list[T]:
        """Every record in file order; a torn last line (a crash mid-write) is skipped.

        Raises JsonlCorruptError for a bad line that is not the torn tail.
        """
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        torn = lines.pop()  # b"" when the file ends with a newline
        records = self._parse_lines(lines, "")
        if torn.strip() and self._parses(torn):
            records.append(self.parse(torn.decode("utf-8")))
        return records

    def read_from(self, offset: int) -> tuple[list[T], int]:
        """The whole records after byte `offset` and the offset just past them, for a reader that
        follows the file while it grows; a last line still without its newline is left for later.

        Raises JsonlCorruptError for a bad complete line (its number counted from `offset`).
        """
        if not self.path.exists():
            return [], offset
        with self.path.open("rb") as f:
            f.seek(offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        after = "" if offset == 0 else f" after byte {offset}"
        return self._parse_lines(data[:end].split(b"\n")[:-1], after), offset + end
