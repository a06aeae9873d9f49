"""read_submission: good CSVs parse, every kind of bad input gives one clear SubmissionError."""

import contextlib
import os
import random

import pandas as pd
import pytest

from evaluation.submission import SubmissionError, read_submission

SAMPLE = pd.DataFrame({"id": ["a", "b", "c"], "prob": [0.5, 0.5, 0.5], "label": ["x", "x", "x"]})
TARGETS = ["prob", "label"]
IDS = {"a", "b", "c"}


def read(data: bytes, expected: set[str] | None = IDS, max_bytes: int = 10_000) -> pd.DataFrame:
    return read_submission(data, SAMPLE, "id", TARGETS, expected, max_bytes=max_bytes)


def test_good_submission_in_any_row_and_column_order() -> None:
    table = read(b"label,id,prob\ny,c,0.25\nx,a,1\nz,b,0\n")
    assert list(table.columns) == ["id", "prob", "label"]
    assert list(table["id"]) == ["c", "a", "b"]
    assert table["prob"].tolist() == [0.25, 1.0, 0.0]
    assert table["label"].tolist() == ["y", "x", "z"]


def test_ids_are_compared_as_strings() -> None:
    sample = pd.DataFrame({"id": ["007", "8"], "y": [1, 1]})
    table = read_submission(b"id,y\n007,1\n8,0\n", sample, "id", ["y"], {"007", "8"})
    assert list(table["id"]) == ["007", "8"]
    with pytest.raises(SubmissionError, match="missing 1 id"):
        read_submission(b"id,y\n7,1\n8,0\n", sample, "id", ["y"], {"007", "8"})


def test_expected_ids_none_skips_the_id_set_check() -> None:
    assert len(read(b"id,prob,label\nzz,0.1,x\n", expected=None)) == 1


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"  \n\n", "empty"),
        (b"id,prob,label\n", "no rows"),
        (random.Random(46).randbytes(64) + b"\xff\xfe", "not a UTF-8"),
        (b'id,prob,label\na,0.1,"x\nb,0.2,y\n', "not parseable as CSV"),
        (b"id,prob,label\na,0.1,x,extra,more\nb,0.2,y\n", "not parseable as CSV"),
        (b"id,prob\na,0.1\nb,0.2\nc,0.3\n", "lacks the column(s) 'label'"),
        (b"id,prob,label,note\na,0.1,x,n\nb,0.2,y,n\nc,0.3,z,n\n", "unexpected column(s) 'note'"),
        (b",id,prob,label\n0,a,0.1,x\n1,b,0.2,y\n2,c,0.3,z\n", "index=False"),
        (b"id,prob,label\na,0.1,x\nb,0.2,y\n", "missing 1 id"),
        (b"id,prob,label\na,0.1,x\nb,0.2,y\nc,0.3,z\nd,0.4,w\n", "1 unknown id"),
        (b"id,prob,label\na,0.1,x\na,0.2,y\nc,0.3,z\n", "1 duplicate id"),
        (b"id,prob,label\na,0.1,x\n,0.2,y\nc,0.3,z\n", "empty 'id'"),
        (b"id,prob,label\na,,x\nb,NaN,y\nc,0.3,z\n", "'prob' has 2 empty or NaN values"),
        (b"id,prob,label\na,0.1,\nb,0.2,y\nc,0.3,z\n", "'label' has 1 empty or NaN value"),
        (b"id,prob,label\na,inf,x\nb,-inf,y\nc,1e999,z\n", "'prob' has 3 infinite values"),
        (b"id,prob,label\na,high,x\nb,0.2,y\nc,0.3,z\n", "'prob' must hold numbers"),
    ],
)
def test_bad_submissions_give_one_clear_reason(data: bytes, reason: str) -> None:
    with pytest.raises(SubmissionError) as err:
        read(data)
    assert reason in str(err.value)
    assert "\n" not in str(err.value)


def test_too_large() -> None:
    with pytest.raises(SubmissionError, match="too large"):
        read(b"id,prob,label\n" + b"a,0.1,x\n" * 100, max_bytes=100)


def test_missing_ids_are_counted_with_examples() -> None:
    expected = {f"r{i:03d}" for i in range(50)}
    sample = pd.DataFrame({"id": sorted(expected), "y": [0.0] * 50})
    with pytest.raises(SubmissionError) as err:
        read_submission(b"id,y\nr000,1\n", sample, "id", ["y"], expected)
    assert "missing 49 ids" in str(err.value)
    assert "'r001'" in str(err.value)


def test_garbage_never_crashes() -> None:
    for seed in range(50):
        data = os.urandom(seed * 7) if seed % 2 else bytes(range(32, 127)) * seed
        with contextlib.suppress(SubmissionError):
            read(data)


@pytest.mark.parametrize(
    "data",
    [
        b"id,prob,label\na,0.1,x\nb,1e-3,y\nc,2,z\n",
        b"\xef\xbb\xbfid,prob,label\na,0.1,x\nb,-0,y\nc,3,NA-ish\n",  # a BOM; text that merely looks missing
        b'label,prob,id\n"x, quoted",.5,c\ny,5.,a\nz,7,b\n',  # columns in any order, quoted commas
        b"id,prob,label\n\na,0.1,x\n\nb,0.2,y\nc,0.3,z\n",  # blank lines
        b"id,prob,label\r\na,0.1,x\r\nb,0.2,y\r\nc,0.3,z\r\n",  # Windows line ends
    ],
)
def test_the_columnar_reader_and_the_careful_one_agree(data: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    from evaluation import submission

    fast = read(data)
    monkeypatch.setattr(submission, "_read_well_formed", lambda *args: None)
    careful = read(data)
    pd.testing.assert_frame_equal(fast, careful)


def test_locate_submission_gives_each_rows_position_in_the_expected_order() -> None:
    from evaluation.submission import ExpectedIds, locate_submission

    expected = ExpectedIds(["c", "a", "b"])
    for data in (
        b"id,prob,label\nb,0.2,x\nc,0.3,x\na,0.1,x\n",
        b"id,prob,label\nb, 0.2 ,x\nc,0.3,x\na,0.1,x\n",
    ):
        table, positions = locate_submission(data, SAMPLE, "id", TARGETS, expected)
        assert list(table["id"]) == ["b", "c", "a"]
        assert positions.tolist() == [2, 0, 1]
