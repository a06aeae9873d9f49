"""The search journal: one JSON line per finished node, flushed to disk the moment it is scored."""

import os
from pathlib import Path

from search.node import Node


class Journal:
    """Append-only JSONL file of nodes; `load` reads it back for resume and reports."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, node: Node) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(node.model_dump_json() + "\n")
            f.flush()
            os.fsync(f.fileno())

    def load(self) -> list[Node]:
        """All complete lines; a torn last line (a crash mid-write) is skipped."""
        if not self.path.exists():
            return []
        nodes = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                nodes.append(Node.model_validate_json(line))
            except ValueError:
                continue
        return nodes
