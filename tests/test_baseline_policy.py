"""The LLM-free baseline policy: whole episodes in-process, drafts, mutation, crossover, fallback."""

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pytest
from openai.types.chat import ChatCompletion
from sklearn.datasets import make_classification, make_regression

from agents.config import load_agent_config
from agents.job_facts import JobFacts, ParentFacts
from agents.prompt import ParentCode, parent_file, render_system_prompt, render_user_message
from agents.react import run_episode
from agents.task_card import TaskCard
from agents.tools import tool_schemas
from policies._baseline_config import (
    BaselineConfig,
    crossover_config,
    fallback_config,
    mutate_config,
    parse_config_line,
)
from policies._baseline_script import SUBMISSION_WRITTEN, render_script
from policies.baseline import BaselinePolicy
from sandbox import ProcessSandbox

AGENT = load_agent_config(max_steps=6, max_consecutive_errors=3, observation_chars=4000)
HGB = BaselineConfig(
    model="hist_gradient_boosting",
    params={"learning_rate": 0.1, "max_iter": 100, "max_leaf_nodes": 31, "l2_regularization": 1.0},
    scale=False,
    impute="mean",
)


class PolicyClientDouble:
    """A test double for serving.client.PolicyClient that answers every request with
    BaselinePolicy.respond, the way the policy server does, without HTTP."""

    def __init__(self) -> None:
        self.policy = BaselinePolicy()

    async def complete(
        self,
        model: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        seed: int,
        job: dict[str, Any] | None = None,
    ) -> ChatCompletion:
        message = self.policy.respond(messages, tools, seed, JobFacts.model_validate(job) if job else None)
        choice = {"index": 0, "finish_reason": "tool_calls", "message": message}
        return ChatCompletion.model_validate(
            {
                "id": "cmpl",
                "object": "chat.completion",
                "created": 0,
                "model": "aira-baseline",
                "choices": [choice],
            }
        )


def make_task(root: Path, kind: str = "classification") -> Path:
    """A small task directory: train.csv (with labels), test.csv, sample_submission.csv, answers.csv."""
    root.mkdir(parents=True, exist_ok=True)
    if kind == "regression":
        X, y = make_regression(n_samples=300, n_features=5, noise=5.0, random_state=0)
        target: Any = y
    else:
        n_classes = 2 if kind == "binary" else 3
        X, y = make_classification(
            n_samples=300, n_features=6, n_informative=4, n_classes=n_classes, random_state=0
        )
        target = np.array(["cat", "dog", "eel"])[y]
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    frame.loc[::7, "f0"] = np.nan
    frame["color"] = np.where(X[:, 1] > 0, "red", "blue")
    frame.insert(0, "id", [f"r{i}" for i in range(len(frame))])
    frame["label"] = target
    train, test = frame.iloc[:240], frame.iloc[240:]
    train.to_csv(root / "train.csv", index=False)
    test.drop(columns="label").to_csv(root / "test.csv", index=False)
    test[["id", "label"]].to_csv(root / "answers.csv", index=False)
    if kind == "multiclass-proba":
        sample = pd.DataFrame({"id": test["id"], "cat": 1 / 3, "dog": 1 / 3, "eel": 1 / 3})
    else:
        sample = pd.DataFrame({"id": test["id"], "label": test["label"].iloc[0]})
    sample.to_csv(root / "sample_submission.csv", index=False)
    return root


def card_for(data: Path, metric: str = "accuracy", targets: list[str] | None = None) -> TaskCard:
    return TaskCard(
        name="synthetic",
        metric=metric,
        lower_is_better=metric in ("multi-class-log-loss", "root-mean-squared-error"),
        id_column="id",
        target_columns=targets or ["label"],
        data_dir=str(data),
        description="A synthetic task.",
    )


class Chat(NamedTuple):
    """A conversation as the policy server gets it: the messages and the job's facts beside them."""

    messages: list[dict[str, Any]]
    job: JobFacts


def conversation(card: TaskCard, operator: str = "draft", parents: list[ParentCode] | None = None) -> Chat:
    prompts = AGENT.prompts
    messages = [
        {"role": "system", "content": render_system_prompt(prompts, card, 120, AGENT.max_steps)},
        {"role": "user", "content": render_user_message(prompts, card, operator, parents or [], 6000)},
    ]
    facts = [
        ParentFacts(node_id=p.node_id, search_score=p.search_score, file=parent_file(i), code=p.code)
        for i, p in enumerate(parents or [], start=1)
    ]
    return Chat(messages, JobFacts(operator=operator, parents=facts, card=card))


def respond(chat: Chat, seed: int = 0) -> dict[str, Any]:
    return BaselinePolicy().respond(chat.messages, tool_schemas(), seed, chat.job)


def script_of(message: dict[str, Any]) -> str:
    (call,) = message["tool_calls"]
    assert call["function"]["name"] == "bash"
    return json.loads(call["function"]["arguments"])["command"]


def config_of(message: dict[str, Any]) -> BaselineConfig:
    config = parse_config_line(script_of(message).split("\n", 1)[1])
    assert config is not None
    return config


def parent(node_id: int, config: BaselineConfig, score: float, card: TaskCard) -> ParentCode:
    return ParentCode(node_id=node_id, code=render_script(config, card), search_score=score)


def run_script(tmp_path: Path, card: TaskCard, config: BaselineConfig) -> tuple[str, pd.DataFrame]:
    sandbox = ProcessSandbox(tmp_path / "ws", Path(card.data_dir))
    asyncio.run(sandbox.write_file("solution.py", render_script(config, card)))
    result = asyncio.run(sandbox.exec(["python", "solution.py"], 120))
    assert result.exit_code == 0, result.output
    return result.output, pd.read_csv(sandbox.workspace / "submission.csv")


# The prompts reworded: the baseline reads the job's facts, never the prose, so its runs stay valid.
REWORDED = AGENT.prompts.model_copy(
    update={
        "system": "Data: {data_dir}. Metric {metric} ({direction}). Tools:\n{tools}",
        "draft": "Solve it.\n{description}\n{card}",
    }
)


@pytest.mark.parametrize("prompts", [AGENT.prompts, REWORDED], ids=["default", "reworded"])
def test_a_full_episode_writes_a_valid_submission(tmp_path: Path, prompts: Any) -> None:
    agent = AGENT.model_copy(update={"prompts": prompts})
    data = make_task(tmp_path / "task")
    card = card_for(data)
    sandbox = ProcessSandbox(tmp_path / "ws", data)
    outcome = asyncio.run(
        run_episode(
            PolicyClientDouble(),
            "aira-baseline",
            sandbox,
            card,
            "draft",
            [],
            3,
            time.time() + 300,
            agent,
            120,
        )
    )
    assert outcome.reason is None, outcome.trajectory.steps
    assert [s.tool for s in outcome.trajectory.steps] == ["bash", "submit"]
    assert "local validation accuracy" in outcome.trajectory.steps[0].observation
    assert parse_config_line(outcome.code) is not None
    submission = pd.read_csv(sandbox.workspace / "submission.csv")
    answers = pd.read_csv(data / "answers.csv")
    assert outcome.submission == (sandbox.workspace / "submission.csv").read_bytes()
    assert list(submission.columns) == ["id", "label"]
    assert submission["id"].tolist() == answers["id"].tolist()
    assert set(submission["label"]) <= {"cat", "dog", "eel"}
    assert (submission["label"] == answers["label"]).mean() > 0.5


def test_without_the_jobs_facts_it_explains_what_it_needs() -> None:
    message = BaselinePolicy().respond([{"role": "user", "content": "Solve MNIST."}], tool_schemas(), 0, None)
    assert "tool_calls" not in message
    assert "`aira_job`" in message["content"] and "not a language model" in message["content"]
    assert "policy.job_facts" in message["content"]


def test_without_bash_and_submit_tools_it_says_so(tmp_path: Path) -> None:
    chat = conversation(card_for(tmp_path))
    message = BaselinePolicy().respond(chat.messages, [tool_schemas()[1]], 0, chat.job)
    assert "tool_calls" not in message and "`bash` and `submit`" in message["content"]


def test_drafts_depend_on_the_seed_only(tmp_path: Path) -> None:
    messages = conversation(card_for(tmp_path))
    assert respond(messages, seed=5) == respond(messages, seed=5)
    configs = [config_of(respond(messages, seed)) for seed in range(20)]
    assert len({c.model for c in configs}) >= 4
    assert len({c.line() for c in configs}) == 20
    assert all(c.model != "ridge" for c in configs)  # a regression-only family on a classification task


def test_the_script_writes_and_runs_solution_py(tmp_path: Path) -> None:
    command = script_of(respond(conversation(card_for(tmp_path))))
    assert command.startswith("cat > solution.py <<'AIRA_SOLUTION_EOF'\n# aira-baseline-config: {")
    assert command.endswith("\nAIRA_SOLUTION_EOF\npython solution.py")


def test_mutation_changes_one_or_two_hyperparameters_of_the_parent(tmp_path: Path) -> None:
    card = card_for(tmp_path)
    messages = conversation(card, "mutate", [parent(4, HGB, 0.9, card)])
    children = [config_of(respond(messages, seed)) for seed in range(30)]
    assert all(child != HGB for child in children)
    same_family = [c for c in children if c.model == HGB.model]
    assert len(same_family) >= 20  # a family switch is the exception
    for child in same_family:
        changed = [k for k in HGB.params if child.params[k] != HGB.params[k]]
        assert 1 <= len(changed) <= 2
        assert (child.scale, child.impute) == (HGB.scale, HGB.impute)
    assert "Mutation of node 4" in respond(messages)["content"]


def test_mutation_stays_within_bounds() -> None:
    import random

    config = BaselineConfig(model="knn", params={"n_neighbors": 1, "weights": "uniform"})
    rng = random.Random(0)
    for _ in range(200):
        config = mutate_config(config, "classification", rng)
        if config.model == "knn":
            assert 1 <= int(config.params["n_neighbors"]) <= 50


def test_crossover_takes_the_family_of_the_better_parent_and_the_preprocessing_of_the_other(
    tmp_path: Path,
) -> None:
    card = card_for(tmp_path)
    other = BaselineConfig(
        model="knn", params={"n_neighbors": 7, "weights": "distance"}, scale=True, impute="median"
    )
    for better_first in (True, False):
        parents = [parent(1, HGB, 0.95, card), parent(2, other, 0.80, card)]
        messages = conversation(card, "crossover", parents if better_first else parents[::-1])
        child = config_of(respond(messages, seed=1))
        assert child.model == HGB.model and child.params == HGB.params
        assert (child.scale, child.impute) == (True, "median")


def test_crossover_of_one_family_mixes_the_parameters() -> None:
    import random

    a = HGB
    b = HGB.model_copy(
        update={
            "params": {"learning_rate": 0.3, "max_iter": 200, "max_leaf_nodes": 8, "l2_regularization": 5.0},
            "scale": True,
            "impute": "median",
        }
    )
    children = [crossover_config(a, b, "classification", random.Random(seed)) for seed in range(10)]
    for child in children:
        assert all(child.params[k] in (a.params[k], b.params[k]) for k in a.params)
        assert (child.scale, child.impute) == (b.scale, b.impute)
    assert any(child.params not in (a.params, b.params) for child in children)


def test_a_lower_is_better_metric_picks_the_lower_score(tmp_path: Path) -> None:
    card = card_for(tmp_path, metric="root-mean-squared-error")
    ridge = BaselineConfig(model="ridge", params={"alpha": 2.0}, scale=False, impute="mean")
    parents = [parent(1, HGB, 9.0, card), parent(2, ridge, 3.0, card)]
    child = config_of(respond(conversation(card, "crossover", parents), seed=2))
    assert child.model == "ridge" and child.impute == HGB.impute


def test_parents_without_a_config_line_are_drafted_from_scratch(tmp_path: Path) -> None:
    card = card_for(tmp_path)
    messages = conversation(card, "mutate", [ParentCode(3, "print('hand-written')", 0.5)])
    message = respond(messages)
    assert "no baseline config line" in message["content"]
    assert parse_config_line(script_of(message).split("\n", 1)[1]) is not None


def _after_run(chat: Chat, first: dict[str, Any], observation: str) -> Chat:
    call_id = first["tool_calls"][0]["id"]
    observed = {"role": "tool", "tool_call_id": call_id, "content": observation}
    return chat._replace(messages=[*chat.messages, first, observed])


def test_after_a_failed_run_it_falls_back_then_gives_up(tmp_path: Path) -> None:
    messages = conversation(card_for(tmp_path))
    first = respond(messages)
    failed = _after_run(messages, first, "[exit 1, 0.50 s]\nTraceback (most recent call last):\nMemoryError")
    second = respond(failed)
    assert config_of(second) == fallback_config("classification")
    assert "fall back" in second["content"]
    assert second["tool_calls"][0]["id"] != first["tool_calls"][0]["id"]
    failed_again = _after_run(failed, second, "[exit 1, 0.40 s]\nstill broken")
    assert "tool_calls" not in respond(failed_again)


def test_a_run_that_wrote_no_submission_counts_as_failed(tmp_path: Path) -> None:
    messages = conversation(card_for(tmp_path, metric="root-mean-squared-error"))
    first = respond(messages)
    second = respond(_after_run(messages, first, "[exit 0, 3.00 s]\ntraining finished"))
    assert config_of(second) == fallback_config("regression")


def test_after_a_successful_run_it_submits(tmp_path: Path) -> None:
    messages = conversation(card_for(tmp_path))
    first = respond(messages)
    observation = (
        f"[exit 0, 2.10 s]\nlocal validation accuracy: 0.9\n{SUBMISSION_WRITTEN} submission.csv (60 rows)"
    )
    (call,) = respond(_after_run(messages, first, observation))["tool_calls"]
    assert call["function"]["name"] == "submit"
    assert json.loads(call["function"]["arguments"]) == {
        "submission_path": "submission.csv",
        "code_path": "solution.py",
    }


def _validation_score(output: str) -> float:
    match = re.search(r"local validation [\w-]+ \(label, 20% hold-out of train.csv\): ([\d.]+)", output)
    assert match, output
    return float(match.group(1))


def test_configs_give_genuinely_different_scores(tmp_path: Path) -> None:
    card = card_for(make_task(tmp_path / "task"))
    weak = BaselineConfig(model="logistic_regression", params={"C": 0.001}, scale=False)
    strong = BaselineConfig(model="knn", params={"n_neighbors": 5, "weights": "distance"}, scale=True)
    weak_score = _validation_score(run_script(tmp_path / "a", card, weak)[0])
    strong_score = _validation_score(run_script(tmp_path / "b", card, strong)[0])
    assert abs(strong_score - weak_score) > 0.05


@pytest.mark.parametrize(
    ("kind", "metric", "targets", "columns"),
    [
        ("binary", "auc-roc", ["label"], ["id", "label"]),
        ("multiclass-proba", "multi-class-log-loss", ["cat", "dog", "eel"], ["id", "cat", "dog", "eel"]),
        ("regression", "root-mean-squared-error", ["label"], ["id", "label"]),
    ],
)
def test_the_script_writes_the_sample_submissions_format(
    tmp_path: Path, kind: str, metric: str, targets: list[str], columns: list[str]
) -> None:
    card = card_for(make_task(tmp_path / "task", kind), metric=metric, targets=targets)
    output, submission = run_script(
        tmp_path, card, fallback_config("regression" if kind == "regression" else "classification")
    )
    assert f"local validation {metric}" in output
    assert list(submission.columns) == columns and len(submission) == 60
    predictions = submission[columns[1:]]
    assert predictions.notna().all().all()
    if metric != "root-mean-squared-error":
        assert ((predictions >= 0) & (predictions <= 1)).all().all()
    if metric == "multi-class-log-loss":
        assert np.allclose(predictions.sum(axis=1), 1.0)
