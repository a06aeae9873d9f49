"""The journal and the atomic state writes survive crashes: no node lost, no corruption passed over."""

import json
import os
from pathlib import Path

import pytest

from search.journal import Journal
from search.jsonl import JsonlCorruptError
from search.node import Node
from search.run_dir import write_json_atomic


def node(i: int) -> Node:
    return Node(
        id=i, operator="draft", valid=True, search_score=i / 10, worker_id=0,
        started_at=0.0, ended_at=1.0, scored_at=1.0,
    )  # fmt: skip


def test_a_torn_tail_is_cut_off_before_the_next_append(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    j = Journal(path)
    j.append(node(1))
    with path.open("a") as f:  # a crash in the middle of writing a line
        f.write('{"id": 9, "operator": "dra')
    assert [n.id for n in j.load()] == [1]  # reading alone skips the torn tail
    j.append(node(2))
    j.append(node(3))
    assert [n.id for n in Journal(path).load()] == [1, 2, 3]
    assert path.read_text().count("\n") == 3
    assert (tmp_path / "journal.jsonl.torn").read_text() == '{"id": 9, "operator": "dra\n'


def test_a_whole_last_record_without_newline_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_text(node(1).model_dump_json())
    j = Journal(path)
    assert [n.id for n in j.load()] == [1]
    j.append(node(2))
    assert [n.id for n in j.load()] == [1, 2]
    assert not (tmp_path / "journal.jsonl.torn").exists()


def test_a_bad_line_in_the_middle_stops_the_load_with_its_number(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    j = Journal(path)
    j.append(node(1))
    with path.open("a") as f:
        f.write("not json at all\n")
    j.append(node(3))
    with pytest.raises(
        JsonlCorruptError, match=r"journal.jsonl line 2 is not a valid node .*delete that line"
    ):
        j.load()


def test_a_torn_tail_of_a_file_with_no_newline_at_all(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_text('{"id": 1, "oper')
    j = Journal(path)
    assert j.load() == []
    j.append(node(1))
    assert [n.id for n in j.load()] == [1]


def test_write_json_atomic_replaces_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    write_json_atomic(target, {"a": 1})
    write_json_atomic(target, {"a": 2, "b": [1, 2]})
    assert json.loads(target.read_text()) == {"a": 2, "b": [1, 2]}
    assert os.listdir(tmp_path) == ["state.json"]
    assert target.stat().st_mode & 0o777 == 0o644
