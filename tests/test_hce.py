"""Hidden Consistent Evaluation on small synthetic tasks: splits, the public copy, scoring."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.hce import HiddenConsistentEvaluation
from evaluation.metrics import Metric
from evaluation.split_store import SplitTamperedError, file_sha256, ids_sha256, split_path
from evaluation.splits import group_split, hce_split, time_split
from evaluation.task import Task, TaskError, load_task

N_TRAIN, N_TEST = 200, 50
OPAQUE = re.compile(r"^r[0-9a-f]{10}$")


def make_task(root: Path, kind: str = "classification", shuffle_rows: bool = False) -> Task:
    """A task whose every row has a unique input `x`, so tests can find a row's label from its inputs."""
    rng = np.random.default_rng(1)
    n = N_TRAIN + N_TEST
    x = rng.permutation(n) / 7.0
    if kind == "classification":
        y = np.array(["cat", "dog", "eel"])[(x * 7).astype(int) % 3]
        metric, sample_value = "accuracy", "cat"
    else:
        y = np.round(x * 3.3 + rng.normal(size=n), 6) + 1000.123457
        metric, sample_value = "root-mean-squared-error", "0.0"
    # Train and test ids overlap on purpose, as on Kaggle (both often count from 0).
    train = pd.DataFrame(
        {"id": range(N_TRAIN), "x": x[:N_TRAIN], "noise": rng.random(N_TRAIN), "y": y[:N_TRAIN]}
    )
    test = pd.DataFrame({"id": range(N_TEST), "x": x[N_TRAIN:], "noise": rng.random(N_TEST)})
    if shuffle_rows:
        train = train.sample(frac=1, random_state=5)
    public, private = root / "prepared" / "public", root / "prepared" / "private"
    public.mkdir(parents=True)
    private.mkdir(parents=True)
    (root / "task.yaml").write_text(f"name: toy\nmetric: {metric}\nid_column: id\ntarget_columns: [y]\n")
    (public / "description.md").write_text("# Toy task\n\nPredict y from x.\n")
    train.to_csv(public / "train.csv", index=False)
    test.to_csv(public / "test.csv", index=False)
    pd.DataFrame({"id": test["id"], "y": sample_value}).to_csv(public / "sample_submission.csv", index=False)
    pd.DataFrame({"id": test["id"], "y": y[N_TRAIN:]}).to_csv(private / "test.csv", index=False)
    return load_task(root)


@pytest.fixture
def task(tmp_path: Path) -> Task:
    return make_task(tmp_path / "task")


@pytest.fixture
def hce(task: Task) -> HiddenConsistentEvaluation:
    return HiddenConsistentEvaluation(task, split_seed=2603)


def labels_by_x(task: Task) -> dict[float, object]:
    train = pd.read_csv(task.train_csv)
    answers = pd.read_csv(task.answers_csv).merge(pd.read_csv(task.test_csv), on="id")
    return {
        **dict(zip(train["x"], train["y"], strict=True)),
        **dict(zip(answers["x"], answers["y"], strict=True)),
    }


def perfect_submission(task: Task, public: Path) -> pd.DataFrame:
    test = pd.read_csv(public / "test.csv")
    label = labels_by_x(task)
    return pd.DataFrame({"id": test["id"], "y": [label[x] for x in test["x"]]})


def to_bytes(table: pd.DataFrame) -> bytes:
    return table.to_csv(index=False).encode()


def test_splits_are_disjoint_complete_and_sized(hce: HiddenConsistentEvaluation, task: Task) -> None:
    splits = hce.split_ids()
    assert set(splits) == {"train", "search", "val", "test"}
    train_ids = set(pd.read_csv(task.train_csv, dtype={"id": str})["id"])
    parts = [set(splits[name]) for name in ("train", "search", "val")]
    assert set.union(*parts) == train_ids
    assert sum(len(p) for p in parts) == len(train_ids)
    assert [len(splits[name]) for name in ("train", "search", "val")] == [160, 20, 20]
    assert splits["test"] == [str(i) for i in range(N_TEST)]


def test_split_is_stratified_for_classification(hce: HiddenConsistentEvaluation, task: Task) -> None:
    label = pd.read_csv(task.train_csv, dtype={"id": str}).set_index("id")["y"]
    overall = label.value_counts(normalize=True)
    for name in ("search", "val"):
        share = label.loc[hce.split_ids()[name]].value_counts(normalize=True)
        assert (share - overall).abs().max() < 0.06


def test_split_depends_on_split_seed_only(tmp_path: Path, task: Task) -> None:
    first = HiddenConsistentEvaluation(task, split_seed=7).split_ids()
    assert HiddenConsistentEvaluation(task, split_seed=7).split_ids() == first
    reordered = make_task(tmp_path / "reordered", shuffle_rows=True)
    again = HiddenConsistentEvaluation(reordered, split_seed=7).split_ids()
    assert {k: set(v) for k, v in again.items()} == {k: set(v) for k, v in first.items()}
    other = HiddenConsistentEvaluation(task, split_seed=8).split_ids()
    assert set(other["search"]) != set(first["search"])


def test_regression_split_sizes(tmp_path: Path) -> None:
    hce = HiddenConsistentEvaluation(make_task(tmp_path / "reg", kind="regression"), split_seed=1)
    assert [len(hce.split_ids()[name]) for name in ("train", "search", "val")] == [160, 20, 20]


def test_public_copy_hides_labels(tmp_path: Path, hce: HiddenConsistentEvaluation, task: Task) -> None:
    public = tmp_path / "public"
    hce.write_public(public)
    splits = hce.split_ids()
    assert sorted(p.name for p in public.iterdir()) == [
        "description.md",
        "sample_submission.csv",
        "test.csv",
        "train.csv",
    ]
    train = pd.read_csv(public / "train.csv", dtype={"id": str})
    assert list(train.columns) == ["id", "x", "noise", "y"]
    assert set(train["id"]) == set(splits["train"])
    assert len(train) == len(splits["train"])
    test = pd.read_csv(public / "test.csv")
    assert list(test.columns) == ["id", "x", "noise"]
    assert len(test) == 20 + 20 + N_TEST
    assert all(OPAQUE.match(i) for i in test["id"]) and test["id"].is_unique
    # Every input row of the hidden splits is there once, none of the agent's training rows.
    hidden_x = set(labels_by_x(task)) - set(train["x"])
    assert set(test["x"]) == hidden_x
    sample = pd.read_csv(public / "sample_submission.csv")
    assert list(sample.columns) == ["id", "y"]
    assert list(sample["id"]) == list(test["id"])
    assert set(sample["y"]) == {"cat"}
    description = (public / "description.md").read_text()
    assert description.startswith("# Toy task")
    assert "hidden" in description and "test.csv" in description


def test_no_file_holds_a_hidden_label(tmp_path: Path) -> None:
    # Regression targets are unique numbers, so any leak would show up as text.
    task = make_task(tmp_path / "reg", kind="regression")
    hce = HiddenConsistentEvaluation(task, split_seed=3)
    public = tmp_path / "public"
    hce.write_public(public)
    text = "".join(p.read_text() for p in public.iterdir())
    train = pd.read_csv(task.train_csv, dtype=str).set_index("id")
    hidden = list(train.loc[hce.split_ids()["search"] + hce.split_ids()["val"], "y"])
    hidden += list(pd.read_csv(task.answers_csv, dtype=str)["y"])
    assert hidden and not [label for label in hidden if label in text]


def test_public_copy_is_stable_across_instances_and_processes(tmp_path: Path, task: Task) -> None:
    HiddenConsistentEvaluation(task, split_seed=11).write_public(tmp_path / "a")
    HiddenConsistentEvaluation(task, split_seed=11).write_public(tmp_path / "b")
    code = (
        "import sys; from pathlib import Path; from evaluation.hce import HiddenConsistentEvaluation; "
        "from evaluation.task import load_task; task = load_task(Path(sys.argv[1])); "
        "HiddenConsistentEvaluation(task, split_seed=11).write_public(Path(sys.argv[2]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    subprocess.run([sys.executable, "-c", code, str(task.root), str(tmp_path / "c")], check=True, env=env)
    for name in ("train.csv", "test.csv", "sample_submission.csv", "description.md"):
        content = (tmp_path / "a" / name).read_bytes()
        assert (tmp_path / "b" / name).read_bytes() == content
        assert (tmp_path / "c" / name).read_bytes() == content
    HiddenConsistentEvaluation(task, split_seed=12).write_public(tmp_path / "d")
    assert (tmp_path / "d" / "test.csv").read_bytes() != (tmp_path / "a" / "test.csv").read_bytes()


@pytest.mark.parametrize("kind", ["classification", "regression"])
def test_perfect_submission_scores_best_on_all_splits(tmp_path: Path, kind: str) -> None:
    task = make_task(tmp_path / "task", kind=kind)
    hce = HiddenConsistentEvaluation(task, split_seed=2603)
    hce.write_public(tmp_path / "public")
    scores = hce.score(to_bytes(perfect_submission(task, tmp_path / "public")))
    best = 0.0 if task.lower_is_better else 1.0
    assert scores.valid and scores.reason is None
    assert (scores.search, scores.val, scores.test) == (
        pytest.approx(best),
        pytest.approx(best),
        pytest.approx(best),
    )


def test_row_order_does_not_matter_and_splits_score_separately(
    tmp_path: Path, hce: HiddenConsistentEvaluation, task: Task
) -> None:
    hce.write_public(tmp_path / "public")
    submission = perfect_submission(task, tmp_path / "public")
    # Spoil 41 rows: they fall in all three splits, and each split counts its own errors.
    spoiled = submission.copy()
    spoiled.loc[:40, "y"] = "zebra"
    scores = hce.score(to_bytes(spoiled))
    shuffled = hce.score(to_bytes(spoiled.sample(frac=1, random_state=3)))
    assert scores == shuffled
    assert scores.valid and scores.search is not None and scores.val is not None and scores.test is not None
    wrong = [round((1 - scores.search) * 20), round((1 - scores.val) * 20), round((1 - scores.test) * N_TEST)]
    assert sum(wrong) == 41 and all(w > 0 for w in wrong)


def _good(hce: HiddenConsistentEvaluation, public: Path) -> pd.DataFrame:
    hce.write_public(public)
    return pd.read_csv(public / "sample_submission.csv")


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (lambda s: to_bytes(s.rename(columns={"y": "label"})), "lacks the column(s) 'y'"),
        (lambda s: to_bytes(s.assign(extra=1)), "unexpected column(s) 'extra'"),
        (lambda s: to_bytes(s.assign(y=[None] + ["cat"] * (len(s) - 1))), "empty or NaN"),
        (lambda s: to_bytes(s.iloc[5:]), "missing 5 ids"),
        (lambda s: to_bytes(pd.concat([s, s.iloc[:2]])), "2 duplicate ids"),
        (
            lambda s: to_bytes(pd.concat([s, pd.DataFrame({"id": ["r0000000000"], "y": ["cat"]})])),
            "1 unknown id",
        ),
        (lambda s: b"\x00\x9f\x92\x96 not a csv \xff", "not a UTF-8"),
        (lambda s: b"", "empty"),
    ],
)
def test_malformed_submissions_are_invalid_with_a_reason(
    tmp_path: Path, hce: HiddenConsistentEvaluation, spoil: object, reason: str
) -> None:
    sample = _good(hce, tmp_path / "public")
    assert callable(spoil)
    scores = hce.score(spoil(sample))
    assert not scores.valid
    assert scores.search is None and scores.val is None and scores.test is None
    assert scores.reason is not None and reason in scores.reason


def test_unexpected_scoring_errors_become_invalid_scores(
    tmp_path: Path, hce: HiddenConsistentEvaluation
) -> None:
    sample = _good(hce, tmp_path / "public")

    def broken(answers: pd.DataFrame, submission: pd.DataFrame, columns: list[str]) -> float:
        raise RuntimeError("boom")

    hce.metric = Metric("accuracy", False, False, broken)
    scores = hce.score(to_bytes(sample))
    assert not scores.valid
    assert scores.reason is not None and "boom" in scores.reason and "search" in scores.reason


def test_card(hce: HiddenConsistentEvaluation) -> None:
    assert hce.card() == {
        "name": "toy",
        "metric": "accuracy",
        "lower_is_better": False,
        "id_column": "id",
        "target_columns": ["y"],
        "key_columns": [],
    }


def test_hce_split_ignores_input_order_and_rejects_tiny_sets() -> None:
    ids = [f"i{k}" for k in range(100)]
    labels = [str(k % 4) for k in range(100)]
    forward = hce_split(ids, labels, seed=5, fractions=(0.8, 0.1, 0.1))
    backward = hce_split(ids[::-1], labels[::-1], seed=5, fractions=(0.8, 0.1, 0.1))
    assert {k: set(v) for k, v in forward.items()} == {k: set(v) for k, v in backward.items()}
    with pytest.raises(ValueError, match="at least one row per split"):
        hce_split(["a", "b"], None, seed=5, fractions=(0.8, 0.1, 0.1))


def test_group_split_keeps_groups_whole_and_near_the_fractions() -> None:
    ids = [f"r{k}" for k in range(2000)]
    groups = [f"breath{k // 20}" for k in range(2000)]  # 100 breaths of 20 time steps
    split = group_split(ids, groups, key=b"k7", fractions=(0.8, 0.1, 0.1))
    group_of = dict(zip(ids, groups, strict=True))
    seen = [{group_of[i] for i in split[name]} for name in ("train", "search", "val")]
    assert not (seen[0] & seen[1]) and not (seen[0] & seen[2]) and not (seen[1] & seen[2])
    assert sorted(i for part in split.values() for i in part) == sorted(ids)
    assert 1500 <= len(split["train"]) <= 1700 and 100 <= len(split["search"]) <= 300
    assert len(split["val"]) >= 100
    assert group_split(ids[::-1], groups[::-1], b"k7", (0.8, 0.1, 0.1))["val"] == split["val"][::-1]
    with pytest.raises(ValueError, match="2 group"):
        group_split(["a", "b", "c"], ["g", "g", "h"], b"k7", (0.8, 0.1, 0.1))


def test_task_group_column_gives_a_group_split(tmp_path: Path) -> None:
    task = make_task(tmp_path / "t")
    train = pd.read_csv(task.train_csv)
    train["series"] = train["id"] // 10  # 20 series of 10 rows
    train.to_csv(task.train_csv, index=False)
    (task.root / "task.yaml").write_text(
        "name: toy\nmetric: accuracy\nid_column: id\ntarget_columns: [y]\ngroup_column: series\n"
    )
    grouped = load_task(task.root)
    split = HiddenConsistentEvaluation(grouped, split_seed=1).split_ids()
    series = dict(zip(train["id"].astype(str), train["series"], strict=True))
    train_series = {series[i] for i in split["train"]}
    assert train_series.isdisjoint(series[i] for i in split["search"] + split["val"])


def test_a_saved_split_edited_behind_its_checksum_is_refused(tmp_path: Path) -> None:
    task = make_task(tmp_path / "t")
    HiddenConsistentEvaluation(task, split_seed=11)
    saved = split_path(task, 11, (0.8, 0.1, 0.1))
    stored = json.loads(saved.read_text())
    stored["ids"]["search"], stored["ids"]["val"] = stored["ids"]["val"], stored["ids"]["search"]
    saved.write_text(json.dumps(stored))
    with pytest.raises(SplitTamperedError, match="do not match their recorded checksum"):
        HiddenConsistentEvaluation(task, split_seed=11)


def test_answers_changed_under_a_saved_split_are_refused(tmp_path: Path) -> None:
    task = make_task(tmp_path / "t")
    HiddenConsistentEvaluation(task, split_seed=11)
    # Answers rewritten to agree with some submission, the training rows left as they were.
    answers = pd.read_csv(task.answers_csv)
    answers[answers.columns[-1]] = answers[answers.columns[-1]].iloc[::-1].to_numpy()
    answers.to_csv(task.answers_csv, index=False)
    with pytest.raises(SplitTamperedError, match="changed since the split"):
        HiddenConsistentEvaluation(task, split_seed=11)


def test_split_is_saved_with_a_checksum_and_reused(tmp_path: Path) -> None:
    task = make_task(tmp_path / "t")
    first = HiddenConsistentEvaluation(task, split_seed=11).split_ids()
    saved = split_path(task, 11, (0.8, 0.1, 0.1))
    stored = json.loads(saved.read_text())
    assert stored["train_sha256"] == file_sha256(task.train_csv) and stored["split_seed"] == 11
    assert stored["ids_sha256"] == ids_sha256(stored["ids"])
    assert stored["answers_sha256"] == file_sha256(task.answers_csv)
    # A saved split that matches is what the next evaluator uses (here: edited, checksum and all, to
    # prove it is read).
    stored["ids"]["search"], stored["ids"]["val"] = stored["ids"]["val"], stored["ids"]["search"]
    stored["ids_sha256"] = ids_sha256(stored["ids"])
    saved.write_text(json.dumps(stored))
    reused = HiddenConsistentEvaluation(task, split_seed=11).split_ids()
    assert reused["search"] == first["val"] and reused["val"] == first["search"]
    # A changed train.csv no longer matches the checksum: the split is computed anew.
    with task.train_csv.open("a") as f:
        f.write("9999,123.5,0.5,cat\n")
    fresh = HiddenConsistentEvaluation(task, split_seed=11).split_ids()
    assert sum(len(fresh[n]) for n in ("train", "search", "val")) == N_TRAIN + 1


def _timed_task(root: Path, times: list[str], extra_yaml: str = "time_column: day\n") -> Task:
    """The toy task with a `day` column (train.csv's rows in the order given) and task.yaml's extras."""
    task = make_task(root)
    train = pd.read_csv(task.train_csv)
    train["day"] = times
    train.to_csv(task.train_csv, index=False)
    (task.root / "task.yaml").write_text(
        "name: toy\nmetric: accuracy\nid_column: id\ntarget_columns: [y]\n" + extra_yaml
    )
    return load_task(task.root)


def test_time_column_puts_d_search_and_d_val_after_every_d_train_row(tmp_path: Path) -> None:
    # Dates out of row order and out of id order, two rows a day (the day's rows stay together).
    days = pd.date_range("2020-01-01", periods=N_TRAIN // 2, freq="D").strftime("%Y-%m-%d")
    order = np.random.default_rng(3).permutation(N_TRAIN)
    times = [days[k // 2] for k in order]
    task = _timed_task(tmp_path / "t", times)
    split = HiddenConsistentEvaluation(task, split_seed=4).split_ids()
    day = dict(zip(map(str, range(N_TRAIN)), pd.to_datetime(times), strict=True))
    train_days = [day[i] for i in split["train"]]
    search_days = [day[i] for i in split["search"]]
    val_days = [day[i] for i in split["val"]]
    assert [len(split[n]) for n in ("train", "search", "val")] == [160, 20, 20]
    assert max(train_days) < min(search_days + val_days)
    # D_search and D_val share the later stretch of time, neither nearer to D_train than the other.
    assert min(val_days) < max(search_days) and min(search_days) < max(val_days)
    # Another seed draws D_search and D_val apart otherwise; D_train stays the earliest rows.
    other = HiddenConsistentEvaluation(task, split_seed=5).split_ids()
    assert set(other["train"]) == set(split["train"]) and set(other["search"]) != set(split["search"])
    assert json.loads(split_path(task, 4, (0.8, 0.1, 0.1)).read_text())["time_column"] == "day"


def test_time_split_keeps_one_times_rows_on_one_side_and_takes_numbers() -> None:
    ids = [f"r{k}" for k in range(100)]
    times = [k // 10 for k in range(100)]  # ten rows at each of ten times
    split = time_split(ids[::-1], times[::-1], b"k", (0.75, 0.125, 0.125))
    time_of = dict(zip(ids, times, strict=True))
    assert {time_of[i] for i in split["train"]} == set(range(7))  # 75 rows would cut time 7 in two
    assert len(split["search"]) + len(split["val"]) == 30 and len(split["search"]) == 15
    assert split["train"] == [i for i in ids[::-1] if time_of[i] < 7]  # the order of `ids`
    with pytest.raises(ValueError, match="earliest time"):
        time_split(ids, [1] * 100, b"k", (0.8, 0.1, 0.1))


def test_a_saved_split_is_reused_only_for_the_same_time_column(tmp_path: Path) -> None:
    times = [f"2021-03-{1 + k % 28:02d}" for k in range(N_TRAIN)]
    timed = _timed_task(tmp_path / "t", times)
    by_time = HiddenConsistentEvaluation(timed, split_seed=3).split_ids()
    saved = split_path(timed, 3, (0.8, 0.1, 0.1))
    # The same train.csv without time_column: the saved split in time is not reused.
    (timed.root / "task.yaml").write_text("name: toy\nmetric: accuracy\nid_column: id\ntarget_columns: [y]\n")
    plain = load_task(timed.root)
    at_random = HiddenConsistentEvaluation(plain, split_seed=3).split_ids()
    assert set(at_random["train"]) != set(by_time["train"])
    assert json.loads(saved.read_text())["time_column"] is None
    # A split saved before time_column existed (no such key) is still reused for a task without it ...
    stored = json.loads(saved.read_text())
    del stored["time_column"]
    stored["ids"]["search"], stored["ids"]["val"] = stored["ids"]["val"], stored["ids"]["search"]
    stored["ids_sha256"] = ids_sha256(stored["ids"])
    saved.write_text(json.dumps(stored))
    assert HiddenConsistentEvaluation(plain, split_seed=3).split_ids()["search"] == at_random["val"]
    # ... and never for one with it.
    (timed.root / "task.yaml").write_text(
        "name: toy\nmetric: accuracy\nid_column: id\ntarget_columns: [y]\ntime_column: day\n"
    )
    assert HiddenConsistentEvaluation(load_task(timed.root), split_seed=3).split_ids() == by_time


def test_time_column_must_exist_be_alone_and_hold_times(tmp_path: Path) -> None:
    with pytest.raises(TaskError, match=r"lacks the column.*'when'"):
        _timed_task(tmp_path / "a", ["2020-01-01"] * N_TRAIN, "time_column: when\n")
    with pytest.raises(TaskError, match="one of group_column and time_column"):
        _timed_task(tmp_path / "b", ["2020-01-01"] * N_TRAIN, "time_column: day\ngroup_column: day\n")
    garbled = _timed_task(tmp_path / "c", ["2020-01-01"] * (N_TRAIN - 1) + ["soon"])
    with pytest.raises(TaskError, match="time column 'day'"):
        HiddenConsistentEvaluation(garbled, split_seed=1)
