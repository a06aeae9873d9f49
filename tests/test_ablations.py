"""The paper's ablation switches as pure logic (no Ray): `hce.enabled=false` (no hidden split, the
agent's own validation score as the search's) and `agent.operator=single_turn` (one script per call,
debug rounds), with the scripted baseline policy answering either form. Their end-to-end runs are in
tests/test_ablation_runs.py."""

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.neighbors import KNeighborsClassifier

from agents.config import AgentConfig, load_agent_config
from agents.job_facts import JobFacts
from agents.react import EPISODE_TOKENS_REASON, EpisodeOutcome
from agents.single_turn import NO_CODE, extract_code, reported_score, run_single_turn
from agents.task_card import TaskCard
from agents.tools import ToolLimits, call_tool, tool_schemas
from evaluation.config import ScoringLimits
from evaluation.evaluator import HCEEvaluator
from evaluation.hce import HiddenConsistentEvaluation
from evaluation.scores import Scores
from evaluation.self_reported import NO_SELF_REPORT, best_self_reported, with_self_report
from evaluation.task import load_task
from launcher.config import ConfigError
from policies.baseline import BaselinePolicy
from policies.replay import ReplayError, ReplayPolicy
from sandbox import ProcessSandbox
from search.node import Node
from search.population import Population
from tests.conftest import compose_config
from tests.test_react import ScriptedClientDouble

CARD = TaskCard(
    name="toy",
    metric="accuracy",
    lower_is_better=False,
    id_column="id",
    target_columns=["y"],
    data_dir="/data/toy",
    description="Predict y.",
)
WRITES = (
    "import pathlib\n"
    "pathlib.Path('submission.csv').write_text('id,y\\n1,0\\n')\n"
    "print('validation_score: 0.75')\n"
)
FAILS = "raise SystemExit('boom: no model')\n"


# hce.enabled=false: the self-reported score is the search's, in the metric's direction


def test_a_self_reported_score_becomes_the_search_score_and_the_test_score_stays() -> None:
    scored = Scores(valid=True, test=0.61)
    assert with_self_report(scored, 0.9) == Scores(valid=True, search=0.9, val=None, test=0.61)


def test_a_valid_submission_without_a_self_reported_score_is_invalid_with_that_reason() -> None:
    missing = with_self_report(Scores(valid=True, test=0.61), None)
    assert not missing.valid and missing.reason == NO_SELF_REPORT and missing.test is None
    assert "hce.enabled=false" in NO_SELF_REPORT and "validation_score" in NO_SELF_REPORT
    nan = with_self_report(Scores(valid=True, test=0.61), float("nan"))
    assert not nan.valid and nan.reason is not None and "not a finite number" in nan.reason
    bad = Scores(valid=False, reason="ids: 3 missing")
    assert with_self_report(bad, 0.9) == bad  # the submission's own problem is the reason


def test_the_final_pick_follows_the_self_reported_score_in_the_metrics_direction() -> None:
    scored = [
        (1, Scores(valid=True, search=0.30, test=0.99)),
        (2, Scores(valid=True, search=0.80, test=0.10)),
        (3, Scores(valid=True, search=0.80, test=0.50)),
        (4, Scores(valid=False, reason="bad")),
    ]
    high = best_self_reported(scored, lower_is_better=False)
    assert high is not None and high[0] == 2  # ties go to the earlier node; the test score plays no part
    low = best_self_reported(scored, lower_is_better=True)
    assert low is not None and low[0] == 1
    assert best_self_reported(scored[3:], lower_is_better=False) is None


def _node(i: int, score: float) -> Node:
    return Node(
        id=i,
        operator="draft",
        valid=True,
        search_score=score,
        worker_id=0,
        started_at=0,
        ended_at=0,
        scored_at=0,
    )


@pytest.mark.parametrize(("lower_is_better", "best"), [(False, 2), (True, 1)])
def test_the_searchs_fitness_of_self_reported_scores_keeps_the_direction(
    lower_is_better: bool, best: int
) -> None:
    population = Population(lower_is_better)
    for i, score in enumerate([0.5, 0.2, 0.9]):
        population.add(_node(i, score))
    top = population.best()
    assert top is not None and top.id == best


# hce.enabled=false: no hidden split in the agent's data


def test_without_hce_the_agent_sees_every_labelled_row_and_only_the_competitions_test_inputs(
    digits_task_dir: Path, tmp_path: Path
) -> None:
    task = load_task(digits_task_dir)
    original_train = pd.read_csv(task.train_csv, dtype=str)
    original_test = pd.read_csv(task.test_csv, dtype=str)
    HiddenConsistentEvaluation(task, 2603, hidden_split=False).write_public(tmp_path / "off")
    train = pd.read_csv(tmp_path / "off" / "train.csv", dtype=str)
    test = pd.read_csv(tmp_path / "off" / "test.csv", dtype=str)
    # every labelled row, labels and all, and nothing held out
    assert sorted(train["id"]) == sorted(original_train["id"])
    pd.testing.assert_frame_equal(
        train.sort_values("id").reset_index(drop=True),
        original_train.sort_values("id").reset_index(drop=True),
    )
    hidden = HiddenConsistentEvaluation(task, 2603).split_ids()
    assert set(hidden["search"]) | set(hidden["val"]) <= set(train["id"])
    # the test inputs are the competition's test rows only
    assert len(test) == len(original_test)
    features = [c for c in original_test.columns if c != "id"]
    assert sorted(map(tuple, test[features].to_numpy())) == sorted(
        map(tuple, original_test[features].to_numpy())
    )
    with_hce = HiddenConsistentEvaluation(task, 2603)
    assert len(with_hce.split_ids()["train"]) < len(train)


def test_without_hce_a_wrong_self_reported_score_picks_the_final_node(
    digits_task_dir: Path, tmp_path: Path
) -> None:
    ev = HCEEvaluator(
        str(digits_task_dir),
        2603,
        (0.8, 0.1, 0.1),
        str(tmp_path / "task_public"),
        str(tmp_path / "hce_private" / "sealed_scores.jsonl"),
        ScoringLimits(processes=1),
        enabled=False,
    )
    try:
        train = pd.read_csv(ev.public_dir / "train.csv")
        test = pd.read_csv(ev.public_dir / "test.csv")
        model = KNeighborsClassifier(3).fit(train.drop(columns=["id", "label"]), train["label"])
        good = pd.DataFrame({"id": test["id"], "label": model.predict(test.drop(columns=["id"]))})
        bad = pd.DataFrame({"id": test["id"], "label": 0})
        as_csv = lambda frame: frame.to_csv(index=False).encode()  # noqa: E731
        honest = ev.score(0, as_csv(good), None, 0.2)  # a good model that under-reports
        boast = ev.score(1, as_csv(bad), None, 0.99)  # a constant that over-reports
        silent = ev.score(2, as_csv(good), None, None)
        assert honest.valid and honest.search == 0.2 and boast.search == 0.99
        assert not silent.valid and silent.reason == NO_SELF_REPORT
        final = ev.select_final([0, 1], lower_is_better=False)
        assert final is not None and final.node_id == 1
        assert final.scores.val is None and final.scores.test is not None
        assert final.scores.test < 0.2 < (ev.sealed[0].test or 0.0)  # the wrong report drove the pick
    finally:
        ev.close()


# the submit tool takes validation_score only when the agent reports one


def test_submit_takes_a_validation_score_only_when_the_agent_reports_its_own(tmp_path: Path) -> None:
    names = {
        s["function"]["name"]: s["function"]["parameters"]["properties"]
        for s in tool_schemas(self_report=True)
    }
    assert names["submit"]["validation_score"]["type"] == "number"
    assert (
        "validation_score"
        not in next(s for s in tool_schemas() if s["function"]["name"] == "submit")["function"]["parameters"][
            "properties"
        ]
    )
    box = ProcessSandbox(tmp_path / "ws", tmp_path, kill_grace_s=0.5)
    (tmp_path / "ws" / "submission.csv").write_text("id,y\n1,0\n")
    limits = ToolLimits(10, 2000)
    args = {"validation_score": 0.42}
    reported = asyncio.run(call_tool(box, "submit", args, limits, self_report=True))
    assert reported.submitted is not None and reported.submitted.validation_score == 0.42
    refused = asyncio.run(call_tool(box, "submit", args, limits))
    assert (
        refused.submitted is None and refused.error and "unknown argument 'validation_score'" in refused.error
    )


# agent.operator=single_turn


def test_a_reply_is_read_for_its_last_code_block_and_a_run_for_its_last_score_line() -> None:
    assert extract_code("plan\n```python\nprint(1)\n```\nbetter:\n```python\nprint(2)\n```") == "print(2)\n"
    assert extract_code("no code here") is None
    assert reported_score("validation_score: 0.5\nretrained\nvalidation_score: 0.61\n") == 0.61
    assert reported_score("validation_score: n/a\n") is None and reported_score("") is None


def single_turn(
    client: ScriptedClientDouble, sandbox: ProcessSandbox, agent: AgentConfig, self_report: bool = False
) -> EpisodeOutcome:
    return asyncio.run(
        run_single_turn(
            client, "test-model", sandbox, CARD, "draft", [], 7, time.time() + 60, agent, 30.0, self_report
        )
    )


def code_reply(code: str) -> dict[str, Any]:
    return {"role": "assistant", "content": f"Here it is.\n```python\n{code}```"}


@pytest.fixture
def box(tmp_path: Path) -> ProcessSandbox:
    return ProcessSandbox(tmp_path / "ws", tmp_path, kill_grace_s=0.5)


def test_a_failed_script_gets_a_debug_call_with_its_output_and_the_fixed_one_is_submitted(
    box: ProcessSandbox,
) -> None:
    client = ScriptedClientDouble(code_reply(FAILS), code_reply(WRITES))
    out = single_turn(client, box, load_agent_config(max_steps=5, max_debug_rounds=2), self_report=True)
    assert out.reason is None and out.submission == b"id,y\n1,0\n" and out.code == WRITES
    assert out.validation_score == 0.75
    assert len(client.requests) == 2 and all(r["tools"] == [] for r in client.requests)
    first, debug = (r["messages"] for r in client.requests)
    assert [m["role"] for m in first] == [m["role"] for m in debug] == ["system", "user"]
    assert "validation_score" in first[0]["content"]  # the self-reporting rule is in the prompt
    assert "# Operator: debug" in debug[1]["content"] and FAILS in debug[1]["content"]
    assert "boom: no model" in debug[1]["content"]  # the error output reaches the debug call
    assert [r["job"]["form"] for r in client.requests] == ["single_turn", "single_turn"]
    assert [r["job"]["turn"] for r in client.requests] == [0, 1]
    steps = out.trajectory.steps
    assert [s.index for s in steps] == [0, 1] and steps[0].error and steps[1].error is None
    assert steps[1].tool == "bash" and "[exit 0" in steps[1].observation
    assert out.trajectory.prompt_tokens == 200 and len(out.trajectory.messages) == 5


def test_no_submission_after_the_last_debug_round_ends_without_one(box: ProcessSandbox) -> None:
    client = ScriptedClientDouble(code_reply(FAILS), {"role": "assistant", "content": "I cannot."})
    out = single_turn(client, box, load_agent_config(max_steps=5, max_debug_rounds=1))
    assert out.submission is None and out.reason is not None
    assert "after 1 debug round(s)" in out.reason and NO_CODE in out.reason
    zero = single_turn(
        ScriptedClientDouble(code_reply(FAILS)), box, load_agent_config(max_steps=5, max_debug_rounds=0)
    )
    assert zero.submission is None and zero.reason is not None and "exit 1" in zero.reason


def test_a_script_that_writes_no_submission_is_debugged_and_a_stale_one_does_not_count(
    box: ProcessSandbox,
) -> None:
    client = ScriptedClientDouble(code_reply(WRITES), code_reply("print('forgot to write it')\n"))
    agent = load_agent_config(max_steps=5, max_debug_rounds=1)
    out = single_turn(client, box, agent)
    assert out.submission is not None and out.validation_score is None  # HCE on: no score is read
    again = single_turn(
        ScriptedClientDouble(code_reply("print('nothing')\n"), code_reply("print('no')\n")), box, agent
    )
    assert again.submission is None and again.reason is not None and "wrote no submission.csv" in again.reason


def test_a_submission_over_the_cap_is_named_in_the_debug_call_and_not_handed_in(box: ProcessSandbox) -> None:
    big = "with open('submission.csv', 'w') as f:\n    f.write('id,y\\n' + '1,0\\n' * 600_000)\n"  # 2.4 MB
    client = ScriptedClientDouble(code_reply(big), code_reply(big))
    out = single_turn(client, box, load_agent_config(max_steps=5, max_debug_rounds=1, max_submission_mb=1))
    assert out.submission is None and out.reason is not None and "cannot be handed in" in out.reason
    debug = client.requests[1]["messages"][1]["content"]
    assert "submission.csv cannot be handed in" in debug and "agent.max_submission_mb" in debug


def test_the_episode_token_limit_ends_the_debug_rounds(box: ProcessSandbox) -> None:
    client = ScriptedClientDouble(code_reply(FAILS), code_reply(WRITES))
    agent = load_agent_config(max_steps=5, max_debug_rounds=2, max_episode_tokens=100)
    out = single_turn(client, box, agent)
    assert out.submission is None and out.reason == EPISODE_TOKENS_REASON and len(client.requests) == 1


# the baseline answers either form


def facts(form: str, turn: int = 0, self_report: bool = False) -> JobFacts:
    return JobFacts.model_validate(
        {
            "operator": "draft",
            "parents": [],
            "card": CARD.model_dump(),
            "turn": turn,
            "form": form,
            "self_report": self_report,
        }
    )


def test_the_baseline_answers_the_single_turn_form_with_a_script_and_falls_back_when_debugging() -> None:
    policy = BaselinePolicy()
    first = policy.respond([], None, 3, facts("single_turn"))
    debug = policy.respond([], None, 3, facts("single_turn", turn=1, self_report=True))
    assert "tool_calls" not in first and "tool_calls" not in debug
    script, fixed = extract_code(first["content"]), extract_code(debug["content"])
    assert script and fixed and "REPORT_SCORE = False" in script and "REPORT_SCORE = True" in fixed
    assert "fall back" in debug["content"]
    assert extract_code(policy.respond([], None, 3, facts("single_turn", turn=2))["content"]) is None


def test_the_baseline_passes_its_printed_score_to_submit_when_it_must_report_one() -> None:
    run = {
        "id": "call_0",
        "type": "function",
        "function": {"name": "bash", "arguments": '{"command": "cat > solution.py x"}'},
    }
    observation = (
        "[exit 0, 1.00 s]\nlocal validation accuracy: 0.9\nvalidation_score: 0.912345\nsubmission written: ok"
    )
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "u"},
        {"role": "assistant", "content": "run", "tool_calls": [run]},
        {"role": "tool", "tool_call_id": "call_0", "content": observation},
    ]
    submit = BaselinePolicy().respond(messages, tool_schemas(True), 0, facts("react", self_report=True))
    args = json.loads(submit["tool_calls"][0]["function"]["arguments"])
    assert submit["tool_calls"][0]["function"]["name"] == "submit" and args["validation_score"] == 0.912345
    plain = BaselinePolicy().respond(messages, tool_schemas(), 0, facts("react"))
    assert "validation_score" not in json.loads(plain["tool_calls"][0]["function"]["arguments"])


def test_the_switches_are_config_keys_with_clear_errors() -> None:
    cfg = compose_config("hce.enabled=false", "agent.operator=single_turn", "agent.max_debug_rounds=1")
    assert not cfg.hce.enabled and cfg.agent.operator == "single_turn" and cfg.agent.max_debug_rounds == 1
    default = compose_config()
    assert default.hce.enabled and default.agent.operator == "react"
    with pytest.raises(ConfigError, match=r"agent\.operator: Input should be 'react' or 'single_turn'"):
        compose_config("agent.operator=one_shot")
    with pytest.raises(ConfigError, match=r"agent\.max_debug_rounds"):
        compose_config("agent.max_debug_rounds=-1")


# the replay's alternatives: one script, episodes that differ


def test_replay_alternatives_hand_each_request_for_a_turn_the_next_one(tmp_path: Path) -> None:
    script = tmp_path / "alt.jsonl"
    a, b = {"content": "a"}, {"content": "b"}
    script.write_text(json.dumps({"alternatives": [a, b]}) + "\n" + json.dumps({"content": "end"}) + "\n")
    policy = ReplayPolicy(script)
    assert [policy.turn_for([], 0).message["content"] for _ in range(3)] == ["a", "b", "a"]
    assert [policy.turn_for([], 1).message["content"] for _ in range(2)] == ["end", "end"]
    bad_lines: list[dict[str, Any]] = [
        {"alternatives": []},
        {"alternatives": [a], "content": "x"},
        {"alternatives": [{"alternatives": [a]}]},
    ]
    for bad in bad_lines:
        script.write_text(json.dumps(bad) + "\n")
        with pytest.raises(ReplayError, match=r"line 1: alternatives must be the line's only key"):
            ReplayPolicy(script)
    script.write_text(json.dumps({"alternatives": [a, {"content": "c", "oops": 1}]}) + "\n")
    with pytest.raises(ReplayError, match=r"line 1, alternative 2: unknown keys \['oops'\]"):
        ReplayPolicy(script)
