"""HCE's noise in what a run reports: result.json's SE, selection and refit fields, the run's table and the
benchmark table (no Ray is started)."""

from pathlib import Path

import pytest
from rich.console import Console

from evaluation.refit import RefitResult
from evaluation.selection import SplitCheck
from launcher.benchmark import BenchmarkRow, markdown_table, result_row, summarise_rows
from launcher.config import ConfigError
from launcher.report import print_result
from launcher.result import RunResult
from launcher.run_outcome import record_hce_noise
from tests.conftest import compose_config


def _result() -> RunResult:
    return RunResult(
        task="toy",
        seed=0,
        best_node=3,
        search_score=0.9,
        val_score=0.88,
        test_score=0.87,
        val_score_se=0.021,
        test_score_se=0.0123,
        final_selection="pooled",
        percentile_rank=50.0,
        medal=None,
        above_median=None,
        leaderboard_kind=None,
        nodes=5,
        valid_nodes=5,
        best_search_node=3,
        workers=1,
        jobs_per_worker={0: 5},
        wall_s=10.0,
        experiments_per_hour=1800.0,
        policy="baseline",
        prompt_tokens=0,
        completion_tokens=0,
        run_dir="x",
    )


def test_a_failed_refit_keeps_the_unrefit_answer_and_says_why() -> None:
    result = _result()
    check = SplitCheck(nodes=5, search_se=0.05, val_se=0.06, top_spread=0.01, warning="too small")
    failed = RefitResult(node_id=3, valid=False, reason="the refit exited with code 1: boom")
    record_hce_noise(result, check, failed)
    assert result.test_score == 0.87 and result.refit_test_score is None
    assert result.refit_error == "the refit exited with code 1: boom"
    assert result.split_warning == "too small" and result.split_check == check.model_dump()
    refitted = _result()
    record_hce_noise(refitted, None, RefitResult(node_id=3, valid=True, test=0.9, test_se=0.01))
    assert (refitted.refit_test_score, refitted.refit_test_score_se, refitted.refit_error) == (
        0.9,
        0.01,
        None,
    )
    assert refitted.split_check is None and refitted.split_warning is None


def test_the_tables_show_score_plus_minus_se() -> None:
    result = _result()
    record_hce_noise(result, None, RefitResult(node_id=3, valid=True, test=0.9, test_se=0.011))
    console = Console(record=True, width=200)
    print_result(result, console)
    text = console.export_text()
    assert "final node (best D_search + D_val)" in text
    assert "0.9 / 0.88 ± 0.021 / 0.87 ± 0.012" in text and "0.9 ± 0.011" in text
    rows = [
        result_row("toy", 0, Path("x"), result),
        BenchmarkRow(task="a", seed=1, run_dir="y", percentile_rank=0),
    ]
    table = markdown_table(summarise_rows("t", rows))
    assert "| toy | 0 | 0.87 ± 0.012 | 50.0 |" in table and "| a | 1 | - | 0.0 |" in table


def test_the_selection_rule_and_the_refit_are_config_switches() -> None:
    cfg = compose_config("hce.final_selection=pooled", "hce.refit_final=true")
    assert cfg.hce.final_selection == "pooled" and cfg.hce.refit_final
    assert compose_config().hce.final_selection == "val" and not compose_config().hce.refit_final
    with pytest.raises(
        ConfigError, match=r"hce\.final_selection: Input should be 'val', 'search' or 'pooled'"
    ):
        compose_config("hce.final_selection=best")
