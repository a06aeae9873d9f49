"""The evaluator's sealed scores on disk: one fsync'd JSON line per scored node, never read by agents."""

from pathlib import Path

from pydantic import BaseModel

from evaluation.scores import Scores
from search.jsonl import JsonlFile


class SealedRecord(BaseModel):
    node_id: int
    scores: Scores


class SealedScores:
    """`hce_private/sealed_scores.jsonl`: a torn last line (a crash mid-write) is cut off at the next
    append and does not stop a restart; the last record of a node wins (a node scored again)."""

    def __init__(self, path: Path) -> None:
        self._file = JsonlFile(path, SealedRecord.model_validate_json, "sealed score")

    def load(self) -> dict[int, Scores]:
        """Every node's scores; raises JsonlCorruptError for a bad line other than a torn tail."""
        return {record.node_id: record.scores for record in self._file.load()}

    def append(self, node_id: int, scores: Scores) -> None:
        self._file.append(SealedRecord(node_id=node_id, scores=scores).model_dump_json())
