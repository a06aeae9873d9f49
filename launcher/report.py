"""The short result table printed at the end of a run."""

from rich.console import Console
from rich.table import Table

from launcher.result import RunResult, selection_words


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.6g}"


def _pm(x: float | None, se: float | None) -> str:
    """A score with its bootstrap standard error, `score ± se` (the score alone when there is none)."""
    return _fmt(x) if x is None or se is None else f"{x:.6g} ± {se:.2g}"


def print_result(result: RunResult, console: Console) -> None:
    table = Table(title=f"AIRA-2 run: {result.task} (seed {result.seed})", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", overflow="fold")
    rule = selection_words(result.final_selection)
    table.add_row(f"final node ({rule})", "-" if result.best_node is None else str(result.best_node))
    table.add_row(
        f"{'self-reported' if result.final_selection == 'self_reported' else 'search'} / val / test score",
        f"{_pm(result.search_score, result.search_score_se)} / {_pm(result.val_score, result.val_score_se)}"
        f" / {_pm(result.test_score, result.test_score_se)}",
    )
    if result.refit_test_score is not None or result.refit_error:
        refitted = _pm(result.refit_test_score, result.refit_test_score_se)
        table.add_row("refit test score", result.refit_error or refitted)
    if result.split_warning:
        table.add_row("[yellow]warning[/yellow]", result.split_warning)
    board = f" vs {result.leaderboard_kind}" if result.leaderboard_kind else ""
    table.add_row(
        "percentile rank" + board, "-" if result.percentile_rank is None else f"{result.percentile_rank:.1f}"
    )
    table.add_row("medal", result.medal or "none")
    table.add_row("nodes tried / valid", f"{result.nodes} / {result.valid_nodes}")
    table.add_row(
        "workers (jobs each)", f"{result.workers} ({', '.join(map(str, result.jobs_per_worker.values()))})"
    )
    table.add_row("wall clock", f"{result.wall_s:.0f} s")
    table.add_row("experiments per hour", f"{result.experiments_per_hour:.1f}")
    table.add_row("tokens (prompt / completion)", f"{result.prompt_tokens} / {result.completion_tokens}")
    table.add_row("run directory", result.run_dir)
    console.print(table)
