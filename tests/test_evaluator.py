"""The HCE evaluator's own logic (the actor's plain class, no Ray): final choice and restart."""

from pathlib import Path

import pandas as pd

from actors.evaluator import HCEEvaluator
from evaluation.scores import Scores


def evaluator(task_dir: Path, run_dir: Path) -> HCEEvaluator:
    return HCEEvaluator(
        str(task_dir),
        2603,
        (0.8, 0.1, 0.1),
        str(run_dir / "task_public"),
        str(run_dir / "hce_private" / "sealed_scores.jsonl"),
    )


def test_final_choice_is_best_val_with_ties_to_search(tmp_path: Path, digits_task_dir: Path) -> None:
    ev = evaluator(digits_task_dir, tmp_path)
    ev.sealed = {
        1: Scores(valid=True, search=0.90, val=0.95, test=0.91),
        2: Scores(valid=True, search=0.97, val=0.95, test=0.92),
        3: Scores(valid=True, search=0.99, val=0.90, test=0.97),
        4: Scores(valid=False, reason="bad"),
    }
    choice = ev.select_final([1, 2, 3, 4], lower_is_better=False)
    assert choice is not None and choice.node_id == 2
    low = ev.select_final([1, 2, 3], lower_is_better=True)
    assert low is not None and low.node_id == 3
    assert ev.select_final([4], lower_is_better=False) is None


def test_scores_persist_for_a_restarted_evaluator(tmp_path: Path, digits_task_dir: Path) -> None:
    ev = evaluator(digits_task_dir, tmp_path)
    sample = (tmp_path / "task_public" / "sample_submission.csv").read_bytes()
    first = ev.score(1, sample)
    assert first.valid and first.search is not None
    missing = ev.score(2, None, "step limit reached without submit")
    assert not missing.valid and missing.reason == "step limit reached without submit"
    garbage = ev.score(3, b"\x00\x01 not a csv")
    assert not garbage.valid and garbage.reason
    again = evaluator(digits_task_dir, tmp_path)
    assert set(again.sealed) == {1, 2, 3}
    assert again.sealed[1] == ev.sealed[1]
    public = pd.read_csv(tmp_path / "task_public" / "test.csv")
    assert "label" not in public.columns
