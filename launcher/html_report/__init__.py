"""Self-contained HTML reports: report.html of a run, benchmark.html of a grid (no CDN, no server)."""

from pathlib import Path

from launcher.html_report.grid_page import BENCHMARK_REPORT_FILE, write_grid_report
from launcher.html_report.run_page import REPORT_FILE, write_run_report

__all__ = ["BENCHMARK_REPORT_FILE", "REPORT_FILE", "write_grid_report", "write_report", "write_run_report"]


def write_report(directory: Path) -> list[Path]:
    """Rebuild the reports of a run directory, or of a grid directory and every run in it.

    ValueError names the directory when it is neither.
    """
    from launcher.benchmark import TABLE_JSON

    if (directory / TABLE_JSON).is_file():
        runs = [p.parent for p in sorted(directory.glob("*/*/journal.jsonl"))]
        return [*(write_run_report(r) for r in runs), write_grid_report(directory)]
    if (directory / "journal.jsonl").is_file():
        return [write_run_report(directory)]
    raise ValueError(
        f"{directory} is neither a run directory (journal.jsonl) nor a grid directory (benchmark.json): "
        "give the directory a run or `benchmark=...` wrote"
    )
