"""What a sandbox must not see although it lies inside what it mounts, covered by something empty and
read-only: the paths of `sandbox.hide` (the package data bundled tasks are built from, a user's own),
and the files of the worker's Python environment that only tell where things lie on the host.
"""

import atexit
import contextlib
import functools
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path


def host_path_files(*prefixes: str) -> list[str]:
    """Files of the Python environments `prefixes` that only tell where things lie on the host: an
    editable install's finder and .pth (they name the project's checkout), egg-links, and each
    distribution's direct_url.json that points at a local directory. Masked in every sandbox."""
    found: set[str] = set()
    for prefix in dict.fromkeys(prefixes):
        for site in Path(prefix).glob("lib/python*/site-packages"):
            for pattern in ("__editable__*", "*.egg-link", "*.pth"):
                for path in site.glob(pattern):
                    if pattern != "*.pth" or _names_host_path(path):
                        found.add(str(path))
            for url in site.glob("*.dist-info/direct_url.json"):
                with contextlib.suppress(OSError):
                    if '"file:' in url.read_text():
                        found.add(str(url))
    return sorted(found)


def _names_host_path(pth: Path) -> bool:
    """Whether a .pth file adds an absolute path or an editable install's finder."""
    try:
        lines = pth.read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return True
    return any(line.startswith("/") or "__editable__" in line for line in lines)


def mask_argv(paths: Sequence[str]) -> list[str]:
    """bwrap options that cover each existing path with something empty and read-only: an empty
    tmpfs over a directory, an empty file over anything else. Links are masked where they point,
    since that is what a reader inside would reach."""
    argv: list[str] = []
    for path in dict.fromkeys(os.path.realpath(p) for p in paths):
        if os.path.isdir(path):
            argv += ["--perms", "0555", "--tmpfs", path, "--remount-ro", path]
        elif os.path.exists(path):
            argv += ["--ro-bind", empty_file(), path]
    return argv


@functools.cache
def empty_file() -> str:
    """An empty, read-only file of this process to bind over files to hide (not /dev/null: bwrap
    binds it nodev, and a device on a nodev mount cannot even be opened for reading)."""
    folder = tempfile.mkdtemp(prefix="aira-empty-")
    path = os.path.join(folder, "empty")
    with open(path, "x"):
        pass
    os.chmod(path, 0o444)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return path
