"""The HCE evaluator's own logic (plain Python, no Ray): final choice, restart, bounded scoring."""

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import evaluation.evaluator as evaluator_module
from evaluation.config import ScoringLimits
from evaluation.evaluator import EvaluatorStartError, HCEEvaluator
from evaluation.scores import Scores
from evaluation.scoring_pool import ScoringPool
from tests.scoring_doubles import ScriptedScorer


def evaluator(task_dir: Path, run_dir: Path, scoring: ScoringLimits | None = None) -> HCEEvaluator:
    return HCEEvaluator(
        str(task_dir),
        2603,
        (0.8, 0.1, 0.1),
        str(run_dir / "task_public"),
        str(run_dir / "hce_private" / "sealed_scores.jsonl"),
        scoring or ScoringLimits(processes=1),
    )


@pytest.fixture
def ev(tmp_path: Path, digits_task_dir: Path) -> Iterator[HCEEvaluator]:
    e = evaluator(digits_task_dir, tmp_path)
    yield e
    e.close()


def test_the_public_copy_travels_in_chunks_that_rebuild_it(
    tmp_path: Path, ev: HCEEvaluator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(evaluator_module, "PUBLIC_CHUNK_BYTES", 1000)  # chunks spanning files
    chunk, files = ev.public_manifest()
    public = tmp_path / "task_public"
    on_disk = sorted(str(p.relative_to(public)) for p in public.rglob("*") if p.is_file())
    assert chunk == 1000 and [rel for rel, _ in files] == on_disk
    total = sum(size for _, size in files)
    joined = b"".join(ev.public_chunk(k) for k in range(-(-total // chunk)))
    assert joined == b"".join((public / rel).read_bytes() for rel, _ in files)
    assert ev.public_chunk(total // chunk + 1) == b""  # past the end: nothing


def test_final_choice_is_best_val_with_ties_to_search(ev: HCEEvaluator) -> None:
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


def test_scores_persist_for_a_restarted_evaluator(
    tmp_path: Path, digits_task_dir: Path, ev: HCEEvaluator
) -> None:
    sample = (tmp_path / "task_public" / "sample_submission.csv").read_bytes()
    first = ev.score(1, sample)
    assert first.valid and first.search is not None
    missing = ev.score(2, None, "step limit reached without submit")
    assert not missing.valid and missing.reason == "step limit reached without submit"
    garbage = ev.score(3, b"\x00\x01 not a csv")
    assert not garbage.valid and garbage.reason
    again = evaluator(digits_task_dir, tmp_path)
    try:
        assert set(again.sealed) == {1, 2, 3}
        assert again.sealed[1] == ev.sealed[1]
    finally:
        again.close()
    public = pd.read_csv(tmp_path / "task_public" / "test.csv")
    assert "label" not in public.columns


def test_a_torn_sealed_line_neither_stops_a_restart_nor_eats_the_next_score(
    tmp_path: Path, digits_task_dir: Path, ev: HCEEvaluator
) -> None:
    sample = (tmp_path / "task_public" / "sample_submission.csv").read_bytes()
    ev.score(1, sample)
    sealed = tmp_path / "hce_private" / "sealed_scores.jsonl"
    with sealed.open("a") as f:  # the evaluator died in the middle of a write
        f.write('{"node_id": 2, "scores": {"val')
    again = evaluator(digits_task_dir, tmp_path)
    try:
        assert set(again.sealed) == {1}
        again.score(2, sample)
        again.score(3, None, "no submit")
    finally:
        again.close()
    third = evaluator(digits_task_dir, tmp_path)
    try:
        assert set(third.sealed) == {1, 2, 3}
    finally:
        third.close()


def test_a_corrupt_sealed_line_is_a_start_error_naming_it(
    tmp_path: Path, digits_task_dir: Path, ev: HCEEvaluator
) -> None:
    ev.score(1, None, "no submit")
    sealed = tmp_path / "hce_private" / "sealed_scores.jsonl"
    sealed.write_text("garbage\n" + sealed.read_text())
    with pytest.raises(EvaluatorStartError, match=r"HCE evaluator: its sealed scores .* line 1 "):
        evaluator(digits_task_dir, tmp_path)


def test_a_task_that_cannot_be_evaluated_is_a_start_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(EvaluatorStartError, match=r"HCE evaluator: the task at .* cannot be evaluated"):
        evaluator(tmp_path / "no-such-task", tmp_path / "run")


def test_a_submission_too_big_for_the_memory_limit_is_invalid_and_scoring_goes_on(
    tmp_path: Path, digits_task_dir: Path
) -> None:
    ev = evaluator(digits_task_dir, tmp_path, ScoringLimits(processes=1, memory_mb=1500))
    try:
        sample = (tmp_path / "task_public" / "sample_submission.csv").read_bytes()
        header, _, first = sample.partition(b"\n")
        row = first.split(b"\n")[0]
        # ~600 MB of rows: more than the scoring process may hold once parsed (1500 MB in all).
        huge = header + b"\n" + (row + b"\n") * (600_000_000 // (len(row) + 1))
        broken = ev.score(1, huge)
        del huge
        assert not broken.valid and broken.reason is not None
        assert "out of memory" in broken.reason and "hce.scoring.memory_mb" in broken.reason
        good = ev.score(2, sample)
        assert good.valid and good.search is not None
    finally:
        ev.close()


@pytest.fixture
def pool() -> Iterator[ScoringPool]:
    # The scorer double reads its submission as a command (tests/scoring_doubles.py).
    p = ScoringPool(ScriptedScorer(), ScoringLimits(processes=2, timeout_s=3, memory_mb=1500))  # type: ignore[arg-type]
    yield p
    p.close()


def test_the_pool_scores_submissions_side_by_side(pool: ScoringPool) -> None:
    results: list[Scores] = []
    threads = [threading.Thread(target=lambda: results.append(pool.score(b"sleep:2"))) for _ in range(2)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.monotonic() - started < 3.8  # one after the other would take 4 s
    assert all(r.valid for r in results)
    assert len({r.search for r in results}) == 2  # two scoring processes (their pids)


def test_a_submission_past_the_time_limit_is_invalid_and_the_pool_goes_on(pool: ScoringPool) -> None:
    slow = pool.score(b"sleep:30")
    assert not slow.valid and slow.reason is not None
    assert "longer than 3 s" in slow.reason and "hce.scoring.timeout_s" in slow.reason
    assert pool.score(b"ok").valid


def test_out_of_memory_in_scoring_is_invalid_and_the_process_is_replaced(pool: ScoringPool) -> None:
    hog = pool.score(b"alloc:4000")
    assert not hog.valid and hog.reason is not None and "ran out of memory (limit 1500 MB" in hog.reason
    assert pool.score(b"alloc:50").valid


def test_a_dead_scoring_process_is_retried_a_bounded_number_of_times(
    pool: ScoringPool, tmp_path: Path
) -> None:
    once = pool.score(f"die-once:{tmp_path / 'flag'}".encode())
    assert once.valid  # killed once (a system failure), scored on the second try
    always = pool.score(b"die")
    assert not always.valid and always.reason is not None
    assert "died on this submission 2 times (killed by SIGKILL, killed by SIGKILL)" in always.reason
    assert pool.score(b"ok").valid
