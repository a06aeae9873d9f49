"""The search journal: one JSON line per finished node, fsync'd to disk the moment it is scored."""

from pathlib import Path

from search.jsonl import JsonlFile
from search.node import Node


class Journal:
    """Append-only JSONL file of nodes; `load` reads it back for resume and reports.

    A line torn by a crash is cut off (kept in `journal.jsonl.torn`) before the next append, so the
    next node is never glued to it; any other bad line stops `load` with its line number.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = JsonlFile(path, Node.model_validate_json, "node")

    def append(self, node: Node) -> None:
        self._file.append(node.model_dump_json())

    def load(self) -> list[Node]:
        """All nodes in the order they were recorded; a torn last line is skipped."""
        return self._file.load()


class JournalUsage:
    """The tokens of the nodes recorded in a journal since the last call (node id -> (prompt,
    completion)), read on from where the last call stopped; the first call reads the whole journal."""

    def __init__(self, path: Path) -> None:
        self._file = JsonlFile(path, Node.model_validate_json, "node")
        self.offset = 0

    def __call__(self) -> dict[int, tuple[int, int]]:
        nodes, self.offset = self._file.read_from(self.offset)
        return {n.id: (n.prompt_tokens, n.completion_tokens) for n in nodes}
