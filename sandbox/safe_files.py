"""Reading and writing workspace files from the worker without trusting what the agent left there.

The agent's code owns the workspace and runs while the worker reads it, so any check of a path made
before the read can be raced (a file swapped for a symlink between check and open). Here nothing is
checked by path: the file is reached from a descriptor of the workspace one component at a time,
each opened with O_NOFOLLOW (a symlink anywhere on the way is refused, never followed, so the walk
cannot leave the workspace), and what is read is judged on the open descriptor itself: a regular
file, its size from fstat under a cap, no holes (a sparse file claims gigabytes it never stored).
A FIFO or a device is opened non-blocking and refused, so it cannot hang the worker.
"""

import contextlib
import errno
import os
import stat
import time

# Opened without side effects: a FIFO must not block the open, a tty must not become ours.
_LEAF_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC
_CHUNK = 1 << 20


class UnsafeFileError(ValueError):
    """A workspace file the worker refuses to read or write: a link, not a regular file, too big..."""


def _components(rel: str) -> list[str]:
    """The path's parts below the workspace; absolute paths and `..` are refused, not resolved."""
    if not rel or rel.startswith("/"):
        raise UnsafeFileError(
            f"{rel!r} is outside the workspace: use a path relative to the working directory"
        )
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeFileError(
            f"{rel!r} is outside the workspace: use a path relative to the working directory"
        )
    if not parts:
        raise UnsafeFileError(f"{rel!r} names the working directory itself, not a file")
    return parts


def _open_step(name: str, flags: int, parent: int, rel: str, mode: int = 0o644) -> int:
    try:
        return os.open(name, flags, mode, dir_fd=parent)
    except OSError as e:
        # O_NOFOLLOW on a symlink fails with ELOOP; O_DIRECTORY on one (or on a file) with ENOTDIR.
        if e.errno in (errno.ELOOP, errno.EMLINK) or (e.errno == errno.ENOTDIR and flags & os.O_DIRECTORY):
            raise UnsafeFileError(
                f"{rel!r}: {name!r} is a symbolic link or not a directory; the worker follows no links: "
                "write a regular file in the working directory (copy it, do not link it)"
            ) from None
        raise


def _open_parent(root: str, parts: list[str], rel: str, create: bool = False) -> int:
    """A descriptor of the directory holding the last part, walked down from `root` without links."""
    fd = os.open(root, _DIR_FLAGS)
    try:
        for name in parts[:-1]:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o755, dir_fd=fd)
            child = _open_step(name, _DIR_FLAGS, fd, rel)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _check_regular(fd: int, rel: str, max_bytes: int) -> int:
    """The size of the open file when it is one the worker may read; UnsafeFileError otherwise."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        kind = (
            "a FIFO"
            if stat.S_ISFIFO(info.st_mode)
            else "a device"
            if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
            else "not a regular file"
        )
        raise UnsafeFileError(f"{rel!r} is {kind}: write your output to a regular file")
    if info.st_size > max_bytes:
        raise UnsafeFileError(
            f"{rel!r} holds {info.st_size} bytes, more than the {max_bytes} the worker reads: "
            "write a smaller file"
        )
    # A hole before the end: the file claims bytes it never stored (e.g. truncate -s 20G).
    try:
        first_hole = os.lseek(fd, 0, os.SEEK_HOLE)
    except OSError:
        first_hole = info.st_size  # the filesystem cannot say; the cap still holds
    finally:
        os.lseek(fd, 0, os.SEEK_SET)
    if first_hole < info.st_size:
        raise UnsafeFileError(f"{rel!r} is a sparse file (it has holes): write the data itself")
    return info.st_size


def read_beneath(root: str, rel: str, max_bytes: int, timeout_s: float) -> bytes:
    """The bytes of the regular file `rel` below directory `root`, reached without following links.

    FileNotFoundError when it does not exist; UnsafeFileError (a ValueError, with what to do) for a
    path outside `root`, a link on the way, a FIFO, a device, a sparse file, more than `max_bytes`
    (also when it grows past them while read) or a read slower than `timeout_s`.
    """
    parts = _components(rel)
    parent = _open_parent(root, parts, rel)
    try:
        fd = _open_step(parts[-1], _LEAF_FLAGS, parent, rel)
    finally:
        os.close(parent)
    try:
        _check_regular(fd, rel, max_bytes)
        deadline = time.monotonic() + timeout_s
        chunks: list[bytes] = []
        total = 0
        while chunk := os.read(fd, _CHUNK):
            total += len(chunk)
            if total > max_bytes:
                raise UnsafeFileError(
                    f"{rel!r} grew past the {max_bytes} bytes the worker reads while it was read"
                )
            if time.monotonic() > deadline:
                raise UnsafeFileError(
                    f"reading {rel!r} took longer than {timeout_s:g} s: write a smaller file"
                )
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def write_beneath(root: str, rel: str, data: bytes, owner: int | None) -> None:
    """Write `data` to `rel` below `root`, creating parent directories, without following links.

    An existing symlink or non-regular file at the path (or on the way) is refused, so a workspace
    prepared by the agent cannot redirect the worker's write outside it. `owner` (a uid) gets the file.
    """
    parts = _components(rel)
    parent = _open_parent(root, parts, rel, create=True)
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
        fd = _open_step(parts[-1], flags, parent, rel)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise UnsafeFileError(
                    f"{rel!r} exists and is not a regular file: the worker does not write to it"
                )
            os.ftruncate(fd, 0)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if owner is not None:  # the sandbox's own user must be able to change what it was given
                os.fchown(fd, owner, owner)
        finally:
            os.close(fd)
    finally:
        os.close(parent)
