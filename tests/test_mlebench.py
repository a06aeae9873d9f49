"""MLE-bench competitions read from a prepared data directory and an mle-bench checkout (made here)."""

import importlib.util
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.hce import HiddenConsistentEvaluation
from evaluation.leaderboard import Leaderboard
from evaluation.mlebench import COVERED, NOT_YET, grade_on_answers, load_mlebench_task
from evaluation.task import TaskError
from launcher.config import TaskConfig
from launcher.task_source import resolve_task

PATENTS = "us-patent-phrase-to-phrase-matching"


def prepare(
    data: Path, repo: Path, competition: str = PATENTS, grader: str = "pearson-correlation-coefficient"
) -> None:
    """A competition laid out as `mlebench prepare` writes it, and its folder in an mle-bench checkout."""
    rng = np.random.default_rng(0)
    public, private = data / competition / "prepared" / "public", data / competition / "prepared" / "private"
    public.mkdir(parents=True)
    private.mkdir(parents=True)
    n_train, n_test = 300, 60
    score = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], n_train + n_test)
    table = pd.DataFrame(
        {
            "id": [f"{k:016x}" for k in rng.permutation(10**6)[: n_train + n_test]],
            "anchor": rng.choice(["abatement", "wheel", "rotor"], n_train + n_test),
            "context": rng.choice(["A47", "B60"], n_train + n_test),
            "score": score,
        }
    )
    table.iloc[:n_train].to_csv(public / "train.csv", index=False)
    table.iloc[n_train:].drop(columns="score").to_csv(public / "test.csv", index=False)
    table.iloc[n_train:][["id", "score"]].to_csv(private / "test.csv", index=False)
    table.iloc[n_train:][["id"]].assign(score=0.5).to_csv(public / "sample_submission.csv", index=False)
    (public / "description.md").write_text("# Patent phrase matching\n")
    config = repo / "mlebench" / "competitions" / competition
    config.mkdir(parents=True)
    (config / "config.yaml").write_text(f"id: {competition}\ngrader:\n  name: {grader}\n")
    pd.DataFrame({"score": np.linspace(0.87, 0.1, 40)}).to_csv(config / "leaderboard.csv", index=False)


def test_a_prepared_competition_is_a_task_with_its_grader_and_leaderboard(tmp_path: Path) -> None:
    prepare(tmp_path / "data", tmp_path / "repo")
    cfg = TaskConfig(
        kind="mlebench",
        name=PATENTS,
        data_dir=tmp_path / "data",
        mlebench_repo=tmp_path / "repo",
        cache_dir=tmp_path / "cache",
    )
    task = resolve_task(cfg)
    assert (task.spec.metric, task.spec.id_column, task.spec.target_columns) == (
        "pearson-correlation-coefficient",
        "id",
        ["score"],
    )
    assert task.leaderboard_csv is not None and not task.lower_is_better
    assert Leaderboard.from_csv(task.leaderboard_csv).medal(0.9) == "gold"
    hce = HiddenConsistentEvaluation(task, split_seed=2603)
    assert len(hce.split_ids()["test"]) == 60
    public = tmp_path / "public"
    hce.write_public(public)
    assert "score" not in pd.read_csv(public / "test.csv").columns
    # The answers themselves, graded on the competition's test set, correlate perfectly.
    answers = tmp_path / "answers.csv"
    pd.read_csv(task.answers_csv).to_csv(answers, index=False)
    assert grade_on_answers(task, answers) == pytest.approx(1.0)
    # Loading again reuses the same directory.
    assert resolve_task(cfg).root == task.root


def test_unsupported_competitions_say_so_and_list_the_covered_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, repo = tmp_path / "data", tmp_path / "repo"
    prepare(data, repo, "an-image-competition", "auc-roc")
    # Outside the known lists, the files decide: the submission's labels are not columns of train.csv.
    train = data / "an-image-competition" / "prepared" / "public" / "train.csv"
    pd.read_csv(train).rename(columns={"score": "has_cactus_elsewhere"}).to_csv(train, index=False)
    with pytest.raises(TaskError, match=r"not supported yet: train\.csv lacks") as err:
        load_mlebench_task(data, "an-image-competition", repo, tmp_path / "cache")
    assert all(name in str(err.value) for name in COVERED)
    # A covered competition whose folder lacks its files (CSVs where prepare.py writes archives) names them.
    prepare(data, repo, "dogs-vs-cats-redux-kernels-edition", "log-loss")
    with pytest.raises(TaskError, match=r"lacks prepared/public/train\.zip, prepared/public/test\.zip"):
        load_mlebench_task(data, "dogs-vs-cats-redux-kernels-edition", repo, tmp_path / "cache")
    # None of MLE-bench-30 and Lite is refused today; one listed in NOT_YET is, with its reason.
    monkeypatch.setitem(NOT_YET, "a-video-competition", "its inputs are videos of unknown layout")
    for refused, why in NOT_YET.items():
        prepare(data, repo, refused, "auc-roc")
        with pytest.raises(TaskError, match=re.escape(f"{refused} is not supported yet: {why}")):
            load_mlebench_task(data, refused, repo, tmp_path / "cache")
    prepare(data, repo, "some-future-competition", "video-tracking-score")
    with pytest.raises(TaskError, match="'video-tracking-score' needs more than a CSV"):
        load_mlebench_task(data, "some-future-competition", repo, tmp_path / "cache")
    assert set(COVERED).isdisjoint(NOT_YET)


def test_every_competition_of_mlebench30_and_lite_is_covered_or_says_why_not() -> None:
    listing = Path(__file__).resolve().parents[2] / "shared" / "mlebench" / "competitions.tsv"
    if not listing.is_file():
        pytest.skip(f"{listing} is not beside the project")
    names = set(pd.read_csv(listing, sep="\t")["competition"])
    assert names == set(COVERED) | set(NOT_YET)


def test_missing_data_or_checkout_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(TaskError, match=r"mlebench prepare -c spaceship-titanic.*task\.data_dir"):
        load_mlebench_task(tmp_path, "spaceship-titanic", None, tmp_path / "cache")
    prepare(tmp_path / "data", tmp_path / "repo")
    with pytest.raises(TaskError, match=r"task\.mlebench_repo"):
        load_mlebench_task(tmp_path / "data", PATENTS, None, tmp_path / "cache")
    with pytest.raises(TaskError, match=r"config\.yaml not found"):
        load_mlebench_task(tmp_path / "data", PATENTS, tmp_path / "elsewhere", tmp_path / "cache")


@pytest.mark.skipif(importlib.util.find_spec("mlebench") is None, reason="mlebench is not installed")
def test_graders_agree_with_mlebench_on_prepared_competitions(tmp_path: Path) -> None:
    """With mle-bench installed and competitions prepared: both graders score the same submissions alike."""
    from mlebench.grade import grade_csv  # type: ignore[import-not-found]
    from mlebench.registry import registry  # type: ignore[import-not-found]

    repo = Path(os.environ.get("MLEBENCH_REPO", Path.home() / "mle-bench"))
    data = registry.get_data_dir()
    prepared = [c for c in sorted(COVERED) if (data / c / "prepared" / "private").is_dir()]
    if not prepared:
        pytest.skip(f"no covered competition is prepared under {data}")
    rng = np.random.default_rng(0)
    for competition in prepared:
        task = load_mlebench_task(data, competition, repo, tmp_path / "cache")
        answers = pd.read_csv(task.answers_csv)
        sample = pd.read_csv(task.sample_submission_csv)
        submissions = {"sample": sample}
        noisy = answers[list(sample.columns)].copy()
        for column in task.spec.target_columns:
            if pd.api.types.is_float_dtype(noisy[column]):
                noisy[column] = noisy[column].abs() * rng.uniform(0.8, 1.2, len(noisy))
        submissions["noisy answers"] = noisy
        for label, table in submissions.items():
            path = tmp_path / f"{competition}-{label}.csv"
            table.to_csv(path, index=False)
            theirs = grade_csv(path, registry.get_competition(competition)).score
            assert grade_on_answers(task, path) == pytest.approx(theirs, rel=1e-6), (competition, label)
