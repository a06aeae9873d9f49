"""Every file operation of a privileged process (the worker, the evaluator, the refit) inside a place
a sandbox can write, done without trusting what the agent left there.

The agent's code owns the workspace and runs while the worker reads it, so any check of a path made
before the read can be raced (a file swapped for a symlink between check and open). Here nothing is
checked by path: the file is reached from a descriptor of the workspace one component at a time,
each opened with O_NOFOLLOW (a symlink anywhere on the way is refused, never followed, so the walk
cannot leave the workspace), and what is read is judged on the open descriptor itself: a regular
file, its size from fstat under a cap, no holes (a sparse file claims gigabytes it never stored).
A FIFO or a device is opened non-blocking and refused, so it cannot hang the worker.

The control files a session hands to its sandbox (command scripts, the kernel's connection file)
live in a folder the sandbox sees read-only, and are created here with O_EXCL | O_NOFOLLOW
(`create_control_file`). The one place a sandbox must write for the worker, the kernel's ipc
sockets, is never connected to by name: each socket is hard-linked, link and all, into a folder
only the worker can write, and used from there only when it is a socket of the sandbox's own user
(`adopt_socket`). Trees are removed by `remove_tree` (descriptor-based, never through a link).
"""

import contextlib
import errno
import os
import shutil
import stat
import time

# Opened without side effects: a FIFO must not block the open, a tty must not become ours.
_LEAF_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC
_CHUNK = 1 << 20


class UnsafeFileError(ValueError):
    """A workspace file the worker refuses to read or write: a link, not a regular file, too big..."""


class FileTooLargeError(UnsafeFileError):
    """A workspace file refused for its size alone: over the cap it was read with."""


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


def _open_parent(
    root: str, parts: list[str], rel: str, create: bool = False, owner: int | None = None
) -> int:
    """A descriptor of the directory holding the last part, walked down from `root` without links;
    with `create`, missing directories are made on the way and given to `owner`."""
    fd = os.open(root, _DIR_FLAGS)
    try:
        for name in parts[:-1]:
            made = False
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o755, dir_fd=fd)
                    made = True
            child = _open_step(name, _DIR_FLAGS, fd, rel)
            os.close(fd)
            fd = child
            if made and owner is not None:  # on the descriptor: the name may be a link by now
                os.fchown(fd, owner, owner)
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
        raise FileTooLargeError(
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
                raise FileTooLargeError(
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
    parent = _open_parent(root, parts, rel, create=True, owner=owner)
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


def create_control_file(folder: str, name: str, data: bytes, group: int | None) -> None:
    """Create the new file `name` in `folder` (a control folder only the worker writes, which the
    sandbox sees read-only) holding `data`, readable by `group` (the sandbox's own), never anyone
    else's. Whatever already has the name, a link included, is refused (FileExistsError), not
    followed or replaced."""
    if "/" in name or name in ("", ".", ".."):
        raise UnsafeFileError(f"{name!r} is not a file name")
    dir_fd = os.open(folder, _DIR_FLAGS)
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC
        fd = os.open(name, flags, 0o600, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
    try:
        if group is not None:
            os.fchown(fd, -1, group)
        os.fchmod(fd, 0o640)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def remove_control_file(folder: str, name: str) -> None:
    """Remove `name` from a control folder (the entry itself, never what a link names)."""
    dir_fd = os.open(folder, _DIR_FLAGS)
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)


def adopt_socket(shared: str, name: str, private: str, owner: int | None) -> str:
    """The path, in `private` (a folder only the worker writes), of the unix socket `name` that a
    sandboxed process made in `shared` (a folder the sandbox writes).

    The entry is hard-linked as it is, never through a link, so what the worker then connects to
    cannot be swapped: a symbolic link the agent left there stays a symbolic link and is refused, as
    is anything not a socket or (with `owner`) not the sandbox user's. A socket of the host cannot be
    planted either: hard links do not cross mounts, and the sandbox mounts no host socket.
    """
    if "/" in name or name in ("", ".", ".."):
        raise UnsafeFileError(f"{name!r} is not a file name")
    src_fd = os.open(shared, _DIR_FLAGS)
    dst_fd = os.open(private, _DIR_FLAGS)
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=dst_fd)
        os.link(name, name, src_dir_fd=src_fd, dst_dir_fd=dst_fd, follow_symlinks=False)
        info = os.stat(name, dir_fd=dst_fd, follow_symlinks=False)
        if not stat.S_ISSOCK(info.st_mode) or (owner is not None and info.st_uid != owner):
            os.unlink(name, dir_fd=dst_fd)
            what = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a socket of the sandbox"
            raise UnsafeFileError(
                f"{name!r} in the sandbox's ipc folder is {what}: the worker does not use it"
            )
    finally:
        os.close(src_fd)
        os.close(dst_fd)
    return os.path.join(private, name)


def remove_tree(path: str) -> None:
    """Delete the directory tree `path` (a workspace, a control folder), whatever an agent left in
    it: shutil.rmtree walks it by descriptors where the platform has them and unlinks links as links,
    never what they name. Refuses to run where it could be fooled by a link swapped in mid-walk."""
    if not shutil.rmtree.avoids_symlink_attacks:
        raise RuntimeError(
            "this platform has no descriptor-based rmtree: workspaces cannot be removed safely"
        )
    shutil.rmtree(path, ignore_errors=True)
