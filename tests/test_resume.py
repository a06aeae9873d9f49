"""Resume checks the config: the same experiment goes on; another one is one clear error, before Ray."""

import json
from pathlib import Path

import pytest
import yaml

from evaluation.task import Task, load_task
from launcher.resume import HISTORY_FILE, ResumeError, check_resume, record_config
from tests.conftest import compose_config, run_launch


@pytest.fixture
def digits(digits_task_dir: Path) -> Task:
    return load_task(digits_task_dir)


def test_budgets_workers_and_policy_may_change_and_the_history_keeps_each_config(
    tmp_path: Path, digits: Task
) -> None:
    record_config(tmp_path, compose_config(), digits)
    (tmp_path / "journal.jsonl").write_text("")
    later = compose_config(
        f"resume={tmp_path}", "search.num_workers=3", "search.budget.max_nodes=99", "policy=replay",
        "policy.path=/dev/null", "agent.max_steps=4",
    )  # fmt: skip
    record_config(tmp_path, later, digits)
    history = [json.loads(line) for line in (tmp_path / HISTORY_FILE).read_text().splitlines()]
    assert [h["resumed"] for h in history] == [False, True]
    assert [h["config"]["search"]["num_workers"] for h in history] == [2, 3]
    assert all(h["metric"] == "accuracy" and h["task_name"] == digits.spec.name for h in history)
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["search"]["num_workers"] == 3


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("hce.split_seed=7", "hce.split_seed"),
        ("hce.enabled=false", "hce.enabled"),
        ("hce.fractions=[0.7,0.2,0.1]", "hce.fractions"),
        ("task.bundled=wine", "task.bundled"),
        ("seed=3", "seed"),
    ],
)
def test_another_task_split_or_seed_is_refused_naming_the_key(
    tmp_path: Path, digits: Task, override: str, key: str
) -> None:
    record_config(tmp_path, compose_config(), digits)
    before = (tmp_path / "config.yaml").read_text()
    with pytest.raises(ResumeError, match=rf"cannot resume .*\n  {key}: the run has .*, this command "):
        record_config(tmp_path, compose_config(f"resume={tmp_path}", override), digits)
    assert (tmp_path / "config.yaml").read_text() == before  # nothing overwritten
    assert len((tmp_path / HISTORY_FILE).read_text().splitlines()) == 1


def test_another_metric_is_refused(tmp_path: Path, digits: Task) -> None:
    record_config(tmp_path, compose_config(), digits)
    other = Task(digits.spec.model_copy(update={"metric": "log-loss"}), digits.root)
    with pytest.raises(ResumeError, match=r"metric: the run has 'accuracy', this command 'log-loss'"):
        check_resume(tmp_path, compose_config(f"resume={tmp_path}"), other)


def test_launch_refuses_a_mismatched_resume_before_starting_anything(tmp_path: Path, digits: Task) -> None:
    record_config(tmp_path, compose_config(), digits)
    (tmp_path / "journal.jsonl").write_text("")
    proc = run_launch(f"resume={tmp_path}", "hce.split_seed=7", timeout=300)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "hce.split_seed: the run has 2603, this command 7" in proc.stdout
    assert "policy server" not in proc.stdout  # refused before Ray and the policy server
