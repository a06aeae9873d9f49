"""Row files inside zip archives (aerial-cactus-identification keeps its images in train.zip, test.zip).

A row_files pattern whose path passes through a `.zip` file names a member of that archive:
`train.zip/{id}` is the member `{id}` of prepared/public/train.zip. The agent's copy gets archives of
its own, written afresh, holding only the members its rows name (D_train's under their names, the
hidden rows' under their opaque ids); a member can also come from or go to a plain file.
"""

import zipfile
from pathlib import Path, PurePosixPath
from types import TracebackType


def member_info(name: str, level: int | None = None) -> zipfile.ZipInfo:
    """A zip member `name`, deflated (at zlib's `level`, its default if None), stamped with a fixed
    time, not the clock's.

    The same split then writes the same bytes (the copy and the refit's alike), and no member's time
    tells when, or in which order, a copy was written.
    """
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # the earliest a zip can carry
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    # What ZipFile(compresslevel=...) sets on the members it names itself (typeshed lacks it).
    info._compresslevel = level  # type: ignore[attr-defined]
    return info


def split_archive(name: str) -> tuple[str, str] | None:
    """(the archive's path, the member's name) when `name` passes through a `.zip`, else None."""
    parts = PurePosixPath(name).parts
    for i, part in enumerate(parts[:-1]):
        if part.endswith(".zip"):
            return "/".join(parts[: i + 1]), "/".join(parts[i + 1 :])
    return None


class ArchiveMembers:
    """Open source archives for reading and the copy's archives for writing, for one placement."""

    def __init__(self, public: Path, dest: Path) -> None:
        self._public, self._dest = public, dest
        self._sources: dict[str, zipfile.ZipFile] = {}
        self._targets: dict[str, zipfile.ZipFile] = {}

    def __enter__(self) -> "ArchiveMembers":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        for archive in [*self._sources.values(), *self._targets.values()]:
            archive.close()

    def read(self, name: str) -> bytes | None:
        """The bytes of `name` under prepared/public, a member or a plain file; None when missing."""
        inside = split_archive(name)
        if inside is None:
            path = self._public / name
            return path.read_bytes() if path.is_file() else None
        archive, member = inside
        if archive not in self._sources:
            path = self._public / archive
            if not path.is_file():
                return None
            self._sources[archive] = zipfile.ZipFile(path)
        try:
            return self._sources[archive].read(member)
        except KeyError:
            return None

    def write(self, name: str, data: bytes) -> None:
        """Write `name` into the copy: a member of a fresh archive there, or a plain file."""
        inside = split_archive(name)
        if inside is None:
            path = self._dest / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            return
        archive, member = inside
        if archive not in self._targets:
            path = self._dest / archive
            path.parent.mkdir(parents=True, exist_ok=True)
            self._targets[archive] = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED)
        self._targets[archive].writestr(member_info(member), data)
