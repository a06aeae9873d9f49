"""MLE-bench competitions as task directories: the data of `mlebench prepare`, the grader of mle-bench.

A competition prepared by mle-bench lives in `<data_dir>/<competition>/prepared/{public,private}`; its
grader name and leaderboard live in the user's mle-bench checkout
(`<repo>/mlebench/competitions/<competition>/{config.yaml,leaderboard.csv}`). This module writes a
small task directory into the cache (task.yaml + a link to the prepared data), so the rest of the
project treats a competition like any other task. Nothing is copied from mle-bench into the project.

What each competition needs besides its files (a preset of task.yaml keys, an adapter's layout, a
grader fix) is in evaluation/mlebench_presets.py; a competition not covered there is refused with a
clear "not supported yet" and its reason.
"""

import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from evaluation.grading import grade_aligned, read_sample
from evaluation.metrics import UnknownMetricError, get_metric
from evaluation.mlebench_presets import COVERED, GRADER_FIXES, NOT_YET, PRESETS
from evaluation.qa_metrics import read_answers_jsonl
from evaluation.submission import read_submission, row_keys
from evaluation.task import Task, TaskError, load_task


def competition_dir(mlebench_repo: Path, competition: str) -> Path:
    """The competition's folder in an mle-bench checkout (config.yaml, grade.py, leaderboard.csv)."""
    return Path(mlebench_repo).expanduser() / "mlebench" / "competitions" / competition


def _config(mlebench_repo: Path | None, competition: str) -> dict[str, Any]:
    """mle-bench's config.yaml of the competition ({} without a checkout when none is needed)."""
    if mlebench_repo is None:
        if competition in GRADER_FIXES:
            return {}
        raise TaskError(
            f"{competition}: the grader is named in mle-bench's competition config; clone mle-bench and "
            "set task.mlebench_repo (or MLEBENCH_REPO) to the checkout"
        )
    config = competition_dir(mlebench_repo, competition) / "config.yaml"
    try:
        raw = yaml.safe_load(config.read_text())
    except FileNotFoundError:
        raise TaskError(
            f"{competition}: {config} not found; set task.mlebench_repo to an mle-bench checkout that "
            "has this competition"
        ) from None
    except yaml.YAMLError as e:
        raise TaskError(f"{config} is not valid YAML ({e})") from None
    if not isinstance(raw, dict):
        raise TaskError(f"{config} is not a mapping; is it an mle-bench competition config?")
    return raw


def grader_name(config: dict[str, Any], competition: str) -> str:
    """The grader name in the competition's config.yaml (see `_config`), with known fixes applied."""
    if competition in GRADER_FIXES:
        return GRADER_FIXES[competition]
    try:
        return str(config["grader"]["name"])
    except (KeyError, TypeError) as e:
        raise TaskError(
            f"{competition}: mle-bench's config.yaml has no grader.name ({e}); is it an mle-bench "
            "competition config?"
        ) from None


def answers_file(config: dict[str, Any], private: Path) -> str:
    """The answers file under prepared/private: config.yaml's `dataset.answers`, else the one there is."""
    dataset = config.get("dataset")
    named = dataset.get("answers") if isinstance(dataset, dict) else None
    if isinstance(named, str) and Path(named).parent.name == "private":
        return Path(named).name
    for name in ("test.csv", "answers.csv"):
        if (private / name).is_file():
            return name
    return "test.csv"


def _header(path: Path) -> list[str]:
    try:
        return [str(c) for c in pd.read_csv(path, nrows=0).columns]
    except (OSError, ValueError) as e:
        raise TaskError(f"{path} is not a readable CSV ({e})") from None


def not_supported(competition: str, why: str) -> TaskError:
    """The "not supported yet" error, listing the competitions that are covered."""
    return TaskError(
        f"MLE-bench competition {competition} is not supported yet: {why}. HCE covers competitions "
        "whose labelled rows are in a CSV, with inputs in its columns or in files per row; covered of "
        f"MLE-bench-30 and Lite: {', '.join(sorted(COVERED))}"
    )


def mlebench_task_dir(
    data_dir: Path,
    competition: str,
    mlebench_repo: Path | None,
    cache_dir: Path,
    group_column: str | None = None,
) -> Path:
    """Write (or refresh) the task directory of a prepared competition under `cache_dir/mlebench/`."""
    prepared = Path(data_dir).expanduser() / competition / "prepared"
    if not (prepared / "public").is_dir() or not (prepared / "private").is_dir():
        raise TaskError(
            f"MLE-bench data for {competition!r} not found under task.data_dir={data_dir}: prepare it with "
            f"`mlebench prepare -c {competition}` (needs a Kaggle account) and set task.data_dir"
        )
    if competition in NOT_YET:
        raise not_supported(competition, NOT_YET[competition])
    config = _config(mlebench_repo, competition)
    metric = grader_name(config, competition)
    try:
        get_metric(metric)
    except UnknownMetricError:
        raise not_supported(
            competition, f"its grader {metric!r} needs more than a CSV of predictions"
        ) from None
    preset = dict(PRESETS.get(competition, {}))
    sample_folder = "private" if preset.get("sample_in_private") else "public"
    sample = _header(prepared / sample_folder / str(preset.get("sample_file", "sample_submission.csv")))
    train_file = str(preset.get("train_file", "train.csv"))
    id_column = str(preset.get("id_column", sample[0]))
    targets = list(preset.get("target_columns", [c for c in sample if c != id_column]))
    # A layout's adapter reads and checks its own files (evaluation.layouts).
    train = [] if "layout" in preset else _header(prepared / "public" / train_file)
    if "label_column" in preset:
        labels = [preset["label_column"]]
    elif preset.get("targets_in_answers", True):
        labels = targets
    else:
        renamed = preset.get("train_columns", {})
        labels = [renamed.get(c, c) for c in preset["answer_columns"]]
    missing = [c for c in [id_column, *labels] if c not in train]
    if missing and "layout" not in preset:
        raise not_supported(competition, f"{train_file} lacks the column(s) {missing} the grader needs")
    spec: dict[str, object] = {
        "name": competition,
        "metric": metric,
        "id_column": id_column,
        "target_columns": targets,
        "leaderboard_kind": "kaggle",
        "answers_file": answers_file(config, prepared / "private"),
        **preset,
    }
    if (
        mlebench_repo is not None
        and (competition_dir(mlebench_repo, competition) / "leaderboard.csv").is_file()
    ):
        spec["leaderboard"] = str((competition_dir(mlebench_repo, competition) / "leaderboard.csv").resolve())
    if group_column is not None:
        spec["group_column"] = group_column
    root = Path(cache_dir).expanduser() / "mlebench" / competition
    root.mkdir(parents=True, exist_ok=True)
    link = root / "prepared"
    if not link.is_symlink() or Path(os.readlink(link)) != prepared.resolve():
        tmp_link = root / f".prepared.{os.getpid()}"
        tmp_link.unlink(missing_ok=True)
        tmp_link.symlink_to(prepared.resolve(), target_is_directory=True)
        os.replace(tmp_link, link)
    fd, tmp = tempfile.mkstemp(dir=root, prefix=".task.yaml.")
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(spec, f, sort_keys=False)
    os.replace(tmp, root / "task.yaml")
    return root


def grade_on_answers(task: Task, submission_csv: Path) -> float:
    """Score a submission for the competition's own test set, like mle-bench's grade_csv: it holds the
    answers' rows, or the sample's where those are more (the answers score some of them).

    Raises SubmissionError for a malformed submission (mle-bench reports it as invalid).
    """
    spec = task.spec
    if spec.row_key is not None:
        raise TaskError(
            f"{spec.name}: the ids of its submission repeat ({spec.id_column!r}, several rows each), so "
            "rows cannot be matched to answers by id; it is graded under HCE, where each hidden row "
            "has an id of its own (the D_test score is the competition's test set)"
        )
    metric = get_metric(spec.metric)
    sample = read_sample(task.sample_submission_csv, spec.id_column, metric)
    text = [] if not metric.exact_text else list(spec.target_columns)
    if task.answers_csv.suffix == ".jsonl":  # tensorflow2-question-answering's annotated examples
        answers = read_answers_jsonl(task.answers_csv)
    else:
        answers = pd.read_csv(
            task.answers_csv,
            dtype=dict.fromkeys([spec.id_column, *spec.key_columns, *text], str),
            keep_default_na=not metric.exact_text,
        )
    keys = row_keys(answers, spec.id_column, spec.key_columns)
    expected = set(keys.tolist())
    listed = set(row_keys(sample, spec.id_column, spec.key_columns).tolist())
    if listed > expected:  # h-and-m: the sample lists every customer, the answers the week's buyers
        expected = listed
    table = read_submission(
        submission_csv.read_bytes(),
        sample,
        spec.id_column,
        spec.target_columns,
        expected,
        accepts_empty=metric.accepts_empty,
        key_columns=spec.key_columns,
    )
    # The keys are unique and complete (read_submission checked): align by position lookup.
    positions = pd.Index(row_keys(table, spec.id_column, spec.key_columns)).get_indexer(keys)
    aligned = table.iloc[positions].reset_index(drop=True)
    return grade_aligned(spec, answers, aligned)


def load_mlebench_task(
    data_dir: Path,
    competition: str,
    mlebench_repo: Path | None,
    cache_dir: Path,
    group_column: str | None = None,
) -> Task:
    """The loaded task of a prepared MLE-bench competition (see `mlebench_task_dir`)."""
    return load_task(mlebench_task_dir(data_dir, competition, mlebench_repo, cache_dir, group_column))
