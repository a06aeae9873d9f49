"""new-york-city-taxi-fare-prediction laid out as mle-bench's prepare.py writes it (data made here,
shaped like the real files): labels.csv, test.csv and the answers; labels.csv streamed in chunks of
lines (the real one has 55M rows), D_search and D_val capped."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import evaluation.streamed_table as streamed
from evaluation.layouts import hidden_consistent_evaluation
from evaluation.mlebench import COVERED, grade_on_answers
from evaluation.streamed_table import StreamedTableHCE
from evaluation.task import TaskError, load_task
from tests.test_mlebench_presets import SEED, lay_out, load, to_bytes

TAXI = "new-york-city-taxi-fare-prediction"
ROWS, TEST_ROWS = 1000, 40


def taxi(tmp_path: Path) -> pd.DataFrame:
    """The labelled and the test rows, as one table; the competition's files written."""
    rng = np.random.default_rng(4)
    n = ROWS + TEST_ROWS
    seconds = rng.integers(1_230_768_000, 1_435_708_800, n)
    stamp = pd.to_datetime(seconds, unit="s").strftime("%Y-%m-%d %H:%M:%S")
    table = pd.DataFrame(
        {
            "key": [f"{s}.{k:07d}" for k, s in enumerate(stamp)],
            "fare_amount": rng.gamma(2.0, 5.5, n).round(2),
            "pickup_datetime": [f"{s} UTC" for s in stamp],
            "pickup_longitude": rng.normal(-73.97, 0.04, n).round(6),
            "passenger_count": rng.integers(1, 7, n),
        }
    )
    train, test = table.iloc[:ROWS], table.iloc[ROWS:]
    lay_out(
        tmp_path / "data",
        tmp_path / "repo",
        TAXI,
        "root-mean-squared-error",
        train,
        test.drop(columns="fare_amount"),
        test[["key", "fare_amount"]],
        test[["key"]].assign(fare_amount=11.35),
    )
    public = tmp_path / "data" / TAXI / "prepared" / "public"
    (public / "train.csv").rename(public / "labels.csv")
    return table


def capped(tmp_path: Path, rows: int) -> StreamedTableHCE:
    """The taxi task with at most `rows` rows per hidden split (the preset has 200,000)."""
    task = load(tmp_path, TAXI)
    spec = yaml.safe_load((task.root / "task.yaml").read_text())
    (task.root / "task.yaml").write_text(yaml.safe_dump({**spec, "max_hidden_rows": rows}))
    hce = hidden_consistent_evaluation(load_task(task.root), SEED)
    assert isinstance(hce, StreamedTableHCE)
    return hce


def test_taxi_streams_labels_csv_and_hides_capped_splits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streamed, "CHUNK_LINES", 37)  # many chunks, the last one short
    table = taxi(tmp_path)
    assert TAXI in COVERED
    task = load(tmp_path, TAXI)
    hce = hidden_consistent_evaluation(task, SEED)
    assert isinstance(hce, StreamedTableHCE)
    split = hce.split_ids()
    assert 60 < len(split["search"]) < 140 and 60 < len(split["val"]) < 140  # their 10% under the cap
    assert set(split["search"]).isdisjoint(split["val"]) and len(split["test"]) == TEST_ROWS

    copy = tmp_path / "public"
    hce.write_public(copy)
    hidden = set(split["search"]) | set(split["val"])
    lines = task.train_csv.read_text().splitlines()
    kept = [lines[0], *(line for line in lines[1:] if line.split(",")[0] not in hidden)]
    assert (copy / "labels.csv").read_text().splitlines() == kept  # byte for byte, hidden rows dropped
    test = pd.read_csv(copy / "test.csv", dtype={"key": str})
    assert "fare_amount" not in test.columns and len(test) == len(hidden) + TEST_ROWS
    assert not set(test["key"]) & set(table["key"])  # opaque ids
    text = (copy / "test.csv").read_text() + (copy / "sample_submission.csv").read_text()
    assert not any(k in text for k in hidden)

    # The fare of each hidden row, found back through its inputs (as the answers have it).
    by_inputs = table.set_index(["pickup_datetime", "pickup_longitude"])["fare_amount"]
    inputs = zip(test["pickup_datetime"], test["pickup_longitude"], strict=True)
    right = test[["key"]].assign(fare_amount=[by_inputs[(d, x)] for d, x in inputs])
    scores = hce.score(to_bytes(right))
    assert scores.valid and (scores.search, scores.val, scores.test) == (0.0, 0.0, 0.0)
    constant = hce.score(to_bytes(right.assign(fare_amount=11.35)))
    answers = table[table["key"].isin(split["test"])]["fare_amount"]
    assert constant.test == pytest.approx(float(np.sqrt(np.mean((answers - 11.35) ** 2))))
    nan = hce.score(to_bytes(right.assign(fare_amount=np.nan)))
    assert not nan.valid and "fare_amount" in str(nan.reason)

    refit = tmp_path / "refit"
    hce.write_refit(refit)
    assert (refit / "labels.csv").read_bytes() == task.train_csv.read_bytes()  # every labelled row
    refit_test = pd.read_csv(refit / "test.csv", dtype={"key": str})
    assert len(refit_test) == TEST_ROWS and set(refit_test["key"]) <= set(test["key"])
    assert hce.scorer().score_refit(to_bytes(right[right["key"].isin(refit_test["key"])])).test == 0.0

    submission = tmp_path / "submission.csv"
    table.iloc[ROWS:][["key", "fare_amount"]].to_csv(submission, index=False)
    assert grade_on_answers(task, submission) == 0.0

    # The cap: at most ~`rows` per hidden split (a keyed hash draws each row with that chance).
    small = capped(tmp_path, 20).split_ids()
    assert 5 < len(small["search"]) < 40 and 5 < len(small["val"]) < 40
    # hce.enabled=false: no hidden split, the whole table in the agent's copy.
    whole = hidden_consistent_evaluation(task, SEED, hidden_split=False)
    assert whole.split_ids()["search"] == [] and whole.split_ids()["val"] == []
    whole.write_public(tmp_path / "whole")
    assert (tmp_path / "whole" / "labels.csv").read_bytes() == task.train_csv.read_bytes()
    assert len(pd.read_csv(tmp_path / "whole" / "test.csv")) == TEST_ROWS


def test_taxi_refuses_a_cell_spanning_lines_and_a_missing_id(tmp_path: Path) -> None:
    taxi(tmp_path)
    labels = tmp_path / "data" / TAXI / "prepared" / "public" / "labels.csv"
    text = labels.read_text().splitlines()
    cells = text[5].split(",")
    cells[2] = f'"{cells[2]}\nlate"'  # a quoted cell holding a newline
    text[5] = ",".join(cells)
    labels.write_text("\n".join(text) + "\n")
    with pytest.raises(TaskError, match="a quoted cell spans lines"):
        hidden_consistent_evaluation(load(tmp_path, TAXI), SEED)
