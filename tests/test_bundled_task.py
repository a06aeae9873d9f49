"""The bundled digits task: deterministic, a valid task directory, a sensible ladder, HCE works on it."""

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

import evaluation.bundled as bundled
from evaluation.bundled import bundled_names, ensure_bundled
from evaluation.bundled.local_tasks import LOCAL_TASKS
from evaluation.hce import HiddenConsistentEvaluation
from evaluation.leaderboard import Leaderboard
from evaluation.metrics import get_metric
from evaluation.task import Task, TaskError, load_task


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_bundled("digits", tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def digits(digits_dir: Path) -> Task:
    return load_task(digits_dir)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_layout_and_spec(digits_dir: Path, digits: Task) -> None:
    assert digits_dir.name == "digits-v1" and digits_dir.parent.name == "tasks"
    assert set(_files(digits_dir)) == {
        "task.yaml",
        "leaderboard.csv",
        "leaderboard.md",
        "prepared/public/description.md",
        "prepared/public/train.csv",
        "prepared/public/test.csv",
        "prepared/public/sample_submission.csv",
        "prepared/private/test.csv",
        "CHECKSUMS.json",
    }
    spec = digits.spec
    assert (spec.name, spec.metric, spec.id_column, spec.target_columns) == (
        "digits",
        "accuracy",
        "id",
        ["label"],
    )
    assert spec.lower_is_better is False and spec.leaderboard_kind == "reference-ladder"
    assert digits.leaderboard_csv == digits_dir / "leaderboard.csv"
    assert "not a Kaggle leaderboard" in (digits_dir / "leaderboard.md").read_text()
    assert "digits-v1" in (digits_dir / "leaderboard.md").read_text()


def test_competition_split_and_columns(digits: Task) -> None:
    train = pd.read_csv(digits.train_csv)
    test = pd.read_csv(digits.test_csv)
    answers = pd.read_csv(digits.answers_csv)
    sample = pd.read_csv(digits.sample_submission_csv)
    pixels = [f"p{i}" for i in range(64)]
    assert list(train.columns) == ["id", *pixels, "label"]
    assert list(test.columns) == ["id", *pixels]
    assert list(answers.columns) == ["id", "label"] and list(sample.columns) == ["id", "label"]
    assert len(train) + len(test) == 1797 and len(test) == 450
    assert set(train["id"]).isdisjoint(test["id"]) and list(answers["id"]) == list(test["id"])
    assert train["id"].str.fullmatch(r"d\d{5}").all()
    assert train[pixels].min().min() == 0 and train[pixels].max().max() == 16
    # Stratified: every digit has about a quarter of its images in the test set.
    share = answers["label"].value_counts() / (
        answers["label"].value_counts() + train["label"].value_counts()
    )
    assert share.between(0.22, 0.28).all()
    description = digits.description_md.read_text()
    for needed in ("p0", "p63", "8x8", "0 (blank) to 16", "accuracy", "id,label"):
        assert needed in description


def test_reference_ladder(digits: Task) -> None:
    assert digits.leaderboard_csv is not None
    ladder = pd.read_csv(digits.leaderboard_csv)
    assert list(ladder.columns) == ["rank", "score", "entry"]
    assert len(ladder) >= 50
    assert list(ladder["rank"]) == list(range(1, len(ladder) + 1))
    assert ladder["score"].is_monotonic_decreasing
    assert ladder["score"].iloc[0] > 0.95
    assert ladder["score"].iloc[-1] == pytest.approx(0.1, abs=0.02)
    assert ladder["entry"].str.contains("constant").any() and ladder["entry"].str.contains("frac=0.05").any()
    assert ladder["entry"].is_unique
    board = Leaderboard.from_csv(digits.leaderboard_csv, lower_is_better=digits.lower_is_better)
    assert board.medal(1.0) == "gold" and board.medal(0.1) is None


def test_build_is_deterministic(tmp_path: Path, digits_dir: Path) -> None:
    again = ensure_bundled("digits", tmp_path / "other-cache")
    assert _files(again) == _files(digits_dir)


def test_existing_build_is_reused(digits_dir: Path) -> None:
    before = (digits_dir / "task.yaml").stat().st_mtime_ns
    assert ensure_bundled("digits", digits_dir.parent.parent) == digits_dir
    assert (digits_dir / "task.yaml").stat().st_mtime_ns == before


def test_a_cached_task_whose_answers_changed_is_built_again(tmp_path: Path) -> None:
    built = ensure_bundled("digits", tmp_path / "cache")
    answers = built / "prepared" / "private" / "test.csv"
    original = answers.read_bytes()
    assert oct(answers.stat().st_mode & 0o777) == "0o644"  # nobody but its owner writes it
    answers.write_text(answers.read_text().replace(",1\n", ",7\n"))  # rewritten to suit a submission
    again = ensure_bundled("digits", tmp_path / "cache")
    assert again == built and answers.read_bytes() == original
    (aside,) = (tmp_path / "cache" / "tasks").glob(".digits-v1.changed-*")
    assert (aside / "prepared" / "private" / "test.csv").read_bytes() != original  # kept to look at
    answers.chmod(0o666)  # a file anyone may write is not trusted either
    ensure_bundled("digits", tmp_path / "cache")
    assert len(list((tmp_path / "cache" / "tasks").glob(".digits-v1.changed-*"))) == 2


def test_unknown_bundled_task_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(TaskError) as err:
        ensure_bundled("mnist", tmp_path)
    assert "'mnist'" in str(err.value) and "digits" in str(err.value)
    assert "digits" in bundled_names() and len(bundled_names()) == len(LOCAL_TASKS) + 1


def test_racing_builds_end_with_one_complete_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def slow_build(dest: Path) -> None:
        calls.append(1)
        (dest / "part.txt").write_text("half")
        time.sleep(0.2)
        (dest / "task.yaml").write_text("name: fake\n")

    monkeypatch.setitem(bundled.BUNDLED, "fake", (3, slow_build))
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(ensure_bundled("fake", tmp_path))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    target = tmp_path / "tasks" / "fake-v3"
    assert results == [target] * 4 and 1 <= len(calls) <= 4
    assert sorted(p.name for p in (tmp_path / "tasks").iterdir()) == ["fake-v3"]
    assert sorted(p.name for p in target.iterdir()) == ["CHECKSUMS.json", "part.txt", "task.yaml"]


def test_hce_on_digits(tmp_path: Path, digits: Task) -> None:
    hce = HiddenConsistentEvaluation(digits, split_seed=2603)
    sizes = {name: len(ids) for name, ids in hce.split_ids().items()}
    assert sizes == {"train": 1078, "search": 135, "val": 134, "test": 450}
    public = tmp_path / "public"
    hce.write_public(public)
    train = pd.read_csv(public / "train.csv")
    test = pd.read_csv(public / "test.csv")
    assert len(train) == 1078 and "label" not in test.columns and len(test) == 135 + 134 + 450
    constant = hce.score((public / "sample_submission.csv").read_bytes())
    assert constant.valid and constant.search is not None and constant.search < 0.2

    # A simple model fitted on the agent's train.csv scores high on all three hidden splits.
    from sklearn.neighbors import KNeighborsClassifier

    pixels = [f"p{i}" for i in range(64)]
    model = KNeighborsClassifier(n_neighbors=1).fit(train[pixels], train["label"])
    submission = pd.DataFrame({"id": test["id"], "label": model.predict(test[pixels])})
    scores = hce.score(submission.to_csv(index=False).encode())
    assert scores.valid
    assert all(s is not None and s > 0.9 for s in (scores.search, scores.val, scores.test))


def test_every_local_task_loads_with_the_network_off(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise OSError("network is off in this test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    for task in LOCAL_TASKS:
        train, test = task.load()
        assert len(train) >= 100 and len(test) >= 40, task.name
        for column in task.target_columns:
            assert column in train.columns and column in test.columns, task.name
            assert train[column].notna().all() and test[column].notna().all(), task.name
        assert list(train.columns) == list(test.columns), task.name
        get_metric(task.metric)


def test_local_tasks_cover_the_kinds_of_problem() -> None:
    kinds = {(t.problem, len(t.target_columns) > 1, t.text_column is not None) for t in LOCAL_TASKS}
    assert ("classification", False, True) in kinds  # text
    assert ("regression", True, False) in kinds  # multi-target
    metrics = {t.metric for t in LOCAL_TASKS}
    assert {"auc-roc", "accuracy", "root-mean-squared-error"} <= metrics


@pytest.fixture(scope="module")
def wine_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_bundled("wine", tmp_path_factory.mktemp("cache"))


def test_a_local_task_is_a_deterministic_task_with_a_ladder(tmp_path: Path, wine_dir: Path) -> None:
    task = load_task(wine_dir)
    assert (task.spec.name, task.spec.metric, task.spec.target_columns) == ("wine", "accuracy", ["cultivar"])
    assert task.spec.leaderboard_kind == "reference-ladder"
    assert task.leaderboard_csv is not None
    ladder = pd.read_csv(task.leaderboard_csv)
    assert len(ladder) >= 50 and ladder["score"].is_monotonic_decreasing and ladder["entry"].is_unique
    assert "not a Kaggle leaderboard" in (wine_dir / "leaderboard.md").read_text()
    assert _files(ensure_bundled("wine", tmp_path / "again")) == _files(wine_dir)

    hce = HiddenConsistentEvaluation(task, split_seed=2603)
    public = tmp_path / "public"
    hce.write_public(public)
    assert hce.score((public / "sample_submission.csv").read_bytes()).valid


def test_a_regression_ladder_is_best_first_by_lower_error(tmp_path: Path) -> None:
    task = load_task(ensure_bundled("diabetes", tmp_path))
    assert task.lower_is_better and task.leaderboard_csv is not None
    board = Leaderboard.from_csv(task.leaderboard_csv, lower_is_better=True)
    ladder = pd.read_csv(task.leaderboard_csv)
    assert ladder["score"].is_monotonic_increasing and len(ladder) >= 50
    assert ladder["entry"].iloc[-1].startswith(("constant", "knn k=1", "tree"))
    # The train mean, predicted for every row, is below the ladder's median; a perfect answer tops it.
    answers = pd.read_csv(task.answers_csv)
    train = pd.read_csv(task.train_csv)
    constant = float(((answers["progression"] - train["progression"].mean()) ** 2).mean() ** 0.5)
    assert not board.above_median(constant) and board.percentile_rank(constant) < 50
    assert board.medal(constant) is None
    assert board.percentile_rank(0.0) == 100.0 and board.medal(0.0) == "gold"


def test_build_command_rejects_an_unknown_name(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "evaluation.bundled", "--cache-dir", str(tmp_path), "wine", "mnist"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        timeout=120,
    )
    assert proc.returncode == 2 and "unknown task(s) mnist" in proc.stderr and "wine" in proc.stderr
    assert not (tmp_path / "tasks").exists()
