"""The ablations `hce.enabled=false` and `agent.operator=single_turn` end to end: `python launch.py`
on the embedded default (real Ray, Ray Serve, HTTP, bubblewrap sandboxes, the HCE evaluator), each
with the smallest budget that shows the switch. The policies are the scripted test doubles, not
language models: the replay policy where a wrong self-reported score must be shown to drive
selection (the baseline reports honest ones), the baseline for the single-turn operator."""

import json
from pathlib import Path

import pandas as pd

from evaluation.sealed import SealedScores
from tests.conftest import run_launch

# Episode 1 submits a constant prediction and claims 0.99; episode 2 a 3-nearest-neighbour model
# and claims 0.1. The replay's alternatives hand each episode its own version of the two turns.
_CONSTANT = (
    "python -c \"import pandas as pd; t = pd.read_csv('/data/test.csv'); "
    "pd.DataFrame({'id': t['id'], 'label': 0}).to_csv('submission.csv', index=False)\""
)
_KNN = (
    'python -c "import pandas as pd; from sklearn.neighbors import KNeighborsClassifier as K; '
    "a = pd.read_csv('/data/train.csv'); t = pd.read_csv('/data/test.csv'); "
    "m = K(3).fit(a.drop(columns=['id', 'label']), a['label']); "
    "p = m.predict(t.drop(columns=['id'])); "
    "pd.DataFrame({'id': t['id'], 'label': p}).to_csv('submission.csv', index=False)\""
)


def _bash(command: str) -> dict[str, object]:
    return {
        "content": "writing the predictions",
        "tool_calls": [{"name": "bash", "arguments": {"command": command}}],
    }


def _submit(score: float) -> dict[str, object]:
    call = {"name": "submit", "arguments": {"validation_score": score}}
    return {"content": f"my validation score is {score}", "tool_calls": [call]}


def test_without_hce_a_wrong_self_reported_score_drives_the_search_and_the_final_pick(tmp_path: Path) -> None:
    script = tmp_path / "boast.jsonl"
    lines = [
        {"alternatives": [_bash(_CONSTANT), _bash(_KNN)]},
        {"alternatives": [_submit(0.99), _submit(0.1)]},
    ]
    script.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "run"
    proc = run_launch(
        "hce.enabled=false",
        "policy=replay",
        f"policy.path={script}",
        "search.num_workers=1",
        "search.budget.max_nodes=2",
        "search.budget.wall_clock_s=300",
        "wandb.mode=disabled",
        f"hydra.run.dir={out}",
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    journal = {n["id"]: n for n in map(json.loads, (out / "journal.jsonl").read_text().splitlines())}
    assert [(n["valid"], n["search_score"]) for _, n in sorted(journal.items())] == [
        (True, 0.99),
        (True, 0.1),
    ]
    result = json.loads((out / "result.json").read_text())
    assert result["final_selection"] == "self_reported"
    assert result["best_node"] == result["best_search_node"] == 1 and result["search_score"] == 0.99
    assert result["val_score"] is None
    sealed = SealedScores(out / "hce_private" / "sealed_scores.jsonl").load()
    assert all(s.val is None for s in sealed.values())
    # the competition's test set is still scored: the boast is far worse than the honest model
    assert result["test_score"] == sealed[1].test and (sealed[1].test or 1.0) < 0.3 < (sealed[2].test or 0.0)
    # no hidden split: every labelled row is in the agent's train.csv, only the test rows in its test.csv
    public = out / "task_public"
    assert len(pd.read_csv(public / "train.csv")) == 1347 and len(pd.read_csv(public / "test.csv")) == 450
    system = json.loads((out / "nodes" / "0001" / "trajectory.json").read_text())["messages"][0]["content"]
    assert "validation_score" in system and "hidden evaluator" not in system
    # the score is named for what it is in the printed table and the report, not "D_search"
    assert (
        "final node (best self-reported score)" in proc.stdout and "self-reported / val / test" in proc.stdout
    )
    report = (out / "report.html").read_text()
    assert "self-reported score over time" in report and "D_search" not in report


def test_single_turn_and_best_of_k_run_end_to_end_with_the_baseline_and_wandb_off(tmp_path: Path) -> None:
    """Two ablations in one run: no subagents (`agent.operator=single_turn`) and no evolution
    (`search.strategy=best_of_k`: independent drafts), with W&B disabled (writes nothing)."""
    out = tmp_path / "run"
    proc = run_launch(
        "agent.operator=single_turn",
        "search.strategy=best_of_k",
        "search.num_drafts=1",  # steady-state search would mutate after one valid draft
        "search.num_workers=1",
        "search.budget.max_nodes=2",
        "search.budget.wall_clock_s=300",
        "wandb.mode=disabled",
        f"hydra.run.dir={out}",
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    journal = [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines()]
    assert len(journal) == 2 and all(n["valid"] for n in journal)
    assert {n["operator"] for n in journal} == {"draft"} and not any(n["parent_ids"] for n in journal)
    assert not (out / "wandb").exists()
    for n in journal:
        trajectory = json.loads((out / "nodes" / f"{n['id']:04d}" / "trajectory.json").read_text())
        roles = [m["role"] for m in trajectory["messages"]]
        assert roles[:3] == ["system", "user", "assistant"] and "tool" not in roles
        assert "```python" in trajectory["messages"][2]["content"]  # one call, one script, no tools
        assert trajectory["steps"][-1]["tool"] == "bash" and trajectory["steps"][-1]["error"] is None
        assert n["steps"] == len(trajectory["steps"]) <= 3  # the first script, then at most 2 debug rounds
    result = json.loads((out / "result.json").read_text())
    assert result["final_selection"] == "val" and result["test_score"] is not None
    report = (out / "report.html").read_text()
    assert "final node (best D_val)" in report and "D_search score over time" in report
