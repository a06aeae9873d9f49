"""Workspace files read and written by the worker: no link followed, regular files only, capped."""

import os
from pathlib import Path

import pytest

from sandbox.safe_files import UnsafeFileError, read_beneath, write_beneath

CAP = 1 << 20


def read(root: Path, rel: str, cap: int = CAP, timeout_s: float = 10) -> bytes:
    return read_beneath(str(root), rel, cap, timeout_s)


def test_a_regular_file_below_the_root_is_read(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.csv").write_bytes(b"id,y\n1,2\n")
    assert read(tmp_path, "sub/a.csv") == read(tmp_path, "./sub//a.csv") == b"id,y\n1,2\n"
    with pytest.raises(FileNotFoundError):
        read(tmp_path, "missing.csv")


@pytest.mark.parametrize("rel", ["../x", "/etc/passwd", "sub/../../x", "", "."])
def test_paths_outside_the_root_are_refused_not_resolved(tmp_path: Path, rel: str) -> None:
    with pytest.raises(UnsafeFileError, match=r"outside the workspace|working directory itself"):
        read(tmp_path, rel)


def test_links_are_never_followed_even_inside_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("SECRET")
    root = tmp_path / "root"
    root.mkdir()
    (root / "file_link").symlink_to(outside / "secret")
    (root / "dir_link").symlink_to(outside)
    (root / "inner").write_text("x")
    (root / "inner_link").symlink_to("inner")
    (root / "proc_root").symlink_to("/proc/1/root")
    for rel in ("file_link", "dir_link/secret", "inner_link", "proc_root/etc/hostname"):
        with pytest.raises(UnsafeFileError, match="symbolic link"):
            read(root, rel)


def test_fifos_devices_sparse_and_oversized_files_are_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(UnsafeFileError, match="is a FIFO"):
        read(tmp_path, "fifo")  # returns at once: the FIFO is opened non-blocking
    (tmp_path / "dev").symlink_to("/dev/zero")
    with pytest.raises(UnsafeFileError, match="symbolic link"):
        read(tmp_path, "dev")
    with pytest.raises(UnsafeFileError, match="is a device"):
        read(Path("/dev"), "zero")
    with open(tmp_path / "sparse", "wb") as f:
        f.truncate(CAP // 2)  # under the cap, but all hole
        f.seek(CAP // 2)
        f.write(b"end")
    with pytest.raises(UnsafeFileError, match="sparse"):
        read(tmp_path, "sparse")
    (tmp_path / "big").write_bytes(b"x" * (CAP + 1))
    with pytest.raises(UnsafeFileError, match="more than the 1048576 the worker reads"):
        read(tmp_path, "big")
    (tmp_path / "dir").mkdir()
    with pytest.raises(UnsafeFileError, match="not a regular file"):
        read(tmp_path, "dir")


def test_writes_create_parents_and_never_go_through_a_link(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    write_beneath(str(root), "a/b/c.py", b"print(1)\n", None)
    assert (root / "a" / "b" / "c.py").read_bytes() == b"print(1)\n"
    write_beneath(str(root), "a/b/c.py", b"2", None)
    assert (root / "a" / "b" / "c.py").read_bytes() == b"2"
    (root / "link.py").symlink_to(outside / "planted.py")
    (root / "dir").symlink_to(outside)
    for rel in ("link.py", "dir/x.py"):
        with pytest.raises(UnsafeFileError, match="symbolic link"):
            write_beneath(str(root), rel, b"x", None)
    assert list(outside.iterdir()) == []
