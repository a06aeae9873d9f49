"""load_task: a valid task directory loads; each kind of broken one gives one clear TaskError."""

from pathlib import Path

import pytest

from evaluation.task import Task, TaskError, TaskSpec, load_task

TASK_YAML = "name: toy\nmetric: accuracy\nid_column: id\ntarget_columns: [y]\n"


def make_task(root: Path, task_yaml: str = TASK_YAML) -> Path:
    public, private = root / "prepared" / "public", root / "prepared" / "private"
    public.mkdir(parents=True)
    private.mkdir(parents=True)
    (root / "task.yaml").write_text(task_yaml)
    (public / "description.md").write_text("# Toy\n")
    (public / "train.csv").write_text("id,x,y\n1,0.5,a\n2,0.7,b\n")
    (public / "test.csv").write_text("id,x\n3,0.1\n")
    (public / "sample_submission.csv").write_text("id,y\n3,a\n")
    (private / "test.csv").write_text("id,y\n3,b\n")
    return root


def test_valid_task_loads_with_paths_and_direction(tmp_path: Path) -> None:
    task = load_task(make_task(tmp_path / "t"))
    assert isinstance(task, Task)
    assert task.spec == TaskSpec(name="toy", metric="accuracy", id_column="id", target_columns=["y"])
    assert task.train_csv == tmp_path / "t" / "prepared" / "public" / "train.csv"
    assert task.answers_csv == tmp_path / "t" / "prepared" / "private" / "test.csv"
    assert task.sample_submission_csv.name == "sample_submission.csv"
    assert task.description_md.name == "description.md"
    assert task.test_csv.parent == task.public_dir
    assert task.leaderboard_csv is None
    assert task.spec.leaderboard_kind == "kaggle"
    assert task.lower_is_better is False  # accuracy's own direction


def test_direction_and_leaderboard_from_task_yaml(tmp_path: Path) -> None:
    root = make_task(tmp_path / "t", TASK_YAML + "lower_is_better: true\nleaderboard: lb.csv\n")
    (root / "lb.csv").write_text("rank,score\n1,0.1\n")
    task = load_task(root)
    assert task.lower_is_better is True
    assert task.leaderboard_csv == root / "lb.csv"


def _broken(tmp_path: Path, task_yaml: str = TASK_YAML) -> Path:
    return make_task(tmp_path / "t", task_yaml)


@pytest.mark.parametrize(
    ("task_yaml", "reason"),
    [
        ("name: [unclosed\n", "not valid YAML"),
        ("- a list\n", "must be a YAML mapping"),
        (TASK_YAML + "colour: blue\n", "unknown key 'colour'"),
        ("name: toy\nmetric: accuracy\ntarget_columns: [y]\n", "required key 'id_column' is missing"),
        (TASK_YAML.replace("accuracy", "f2-score"), "unknown metric 'f2-score'"),
        (TASK_YAML.replace("[y]", "[]"), "target_columns is empty"),
        (TASK_YAML.replace("[y]", "[z]"), "lacks the column(s) 'z'"),
        (TASK_YAML.replace("id_column: id", "id_column: key"), "lacks the column(s) 'key'"),
        (TASK_YAML + "leaderboard: nowhere.csv\n", "leaderboard file"),
        (TASK_YAML + "leaderboard_kind: ladder\n", "leaderboard_kind"),
    ],
)
def test_bad_task_yaml(tmp_path: Path, task_yaml: str, reason: str) -> None:
    with pytest.raises(TaskError) as err:
        load_task(_broken(tmp_path, task_yaml))
    assert reason in str(err.value)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(TaskError, match="does not exist"):
        load_task(tmp_path / "nope")


def test_missing_task_yaml(tmp_path: Path) -> None:
    root = make_task(tmp_path / "t")
    (root / "task.yaml").unlink()
    with pytest.raises(TaskError, match=r"task.yaml is missing"):
        load_task(root)


@pytest.mark.parametrize(
    "relative",
    [
        "prepared/public/description.md",
        "prepared/public/train.csv",
        "prepared/public/test.csv",
        "prepared/public/sample_submission.csv",
        "prepared/private/test.csv",
    ],
)
def test_missing_layout_file_is_named(tmp_path: Path, relative: str) -> None:
    root = make_task(tmp_path / "t")
    (root / relative).unlink()
    with pytest.raises(TaskError) as err:
        load_task(root)
    assert relative in str(err.value)


@pytest.mark.parametrize(
    ("relative", "content"),
    [
        ("prepared/public/train.csv", "id,x\n1,0.5\n"),
        ("prepared/private/test.csv", "id,label\n3,b\n"),
        ("prepared/public/sample_submission.csv", "id,pred\n3,a\n"),
    ],
)
def test_target_missing_from_a_file_names_file_and_column(
    tmp_path: Path, relative: str, content: str
) -> None:
    root = make_task(tmp_path / "t")
    (root / relative).write_text(content)
    with pytest.raises(TaskError) as err:
        load_task(root)
    assert relative.split("/")[-1] in str(err.value)
    assert "'y'" in str(err.value)
