"""The run directory layout (DESIGN.md): config, journal, one folder per node, result.json."""

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from search.jsonl import fsync_dir
from search.node import Node


class RunDir:
    """Paths inside a run directory and the writers of node folders."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def journal(self) -> Path:
        return self.root / "journal.jsonl"

    @property
    def state(self) -> Path:
        return self.root / "search_state.json"

    @property
    def result(self) -> Path:
        return self.root / "result.json"

    @property
    def outages(self) -> Path:
        """The outage breaker's history of policy-server outages (kept across its restarts)."""
        return self.root / "outages.json"

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def public_dir(self) -> Path:
        """The agent-visible copy of the task written by the evaluator."""
        return self.root / "task_public"

    @property
    def hidden_dir(self) -> Path:
        """The evaluator's own files (sealed scores); never given to agents."""
        return self.root / "hce_private"

    @property
    def workspaces(self) -> Path:
        return self.root / "workspaces"

    def node_dir(self, node_id: int) -> Path:
        return self.root / "nodes" / f"{node_id:04d}"

    def solution_code(self, node_id: int) -> str:
        path = self.node_dir(node_id) / "solution.py"
        return path.read_text() if path.exists() else ""

    def write_node(self, node: Node, code: str, submission: bytes | None, trajectory: dict[str, Any]) -> Path:
        """Write a node's folder: code, submission, trajectory, scores (with times and worker)."""
        d = self.node_dir(node.id)
        d.mkdir(parents=True, exist_ok=True)
        (d / "solution.py").write_text(code)
        if submission is not None:
            (d / "submission.csv").write_bytes(submission)
        (d / "trajectory.json").write_text(json.dumps(trajectory, indent=1, default=str))
        write_json_atomic(d / "scores.json", node.model_dump())
        return d


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so that a reader, or a restart after a crash, sees the old file or the new, never half."""
    write_text_atomic(path, json.dumps(data, indent=2, default=str))


def write_text_atomic(path: Path, text: str) -> None:
    """Replace `path` by `text` whole: a reader, or a restart after a crash, sees the old file or the new.

    The file is fsync'd before it replaces the old one and the directory after, so the rename itself
    survives a power loss; the temporary name is unique, so concurrent writers do not clobber it.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide result.json from the user's other tools
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
