"""The grid's progress display: runs done / running / queued, each running run's nodes and best score."""

from typing import Any

from launcher.progress import grid_lines


def test_grid_lines_count_runs_and_show_each_running_run() -> None:
    trials = [
        ("a/seed0", "TERMINATED"),
        ("a/seed1", "RUNNING"),
        ("b/seed0", "RUNNING"),
        ("b/seed1", "PENDING"),
    ]
    latest: dict[str, dict[str, Any]] = {
        "a/seed1": {"nodes": 3, "max_nodes": 8, "valid": 2, "best_search": 0.91234, "ray_nodes": "ab12,cd34"},
        "b/seed0": {"nodes": 0, "max_nodes": 8, "valid": 0, "best_search": None, "ray_nodes": "ab12"},
    }
    lines = grid_lines(trials, latest)
    assert lines[0] == "grid: 1 done, 2 running, 1 queued (of 4 runs)"
    assert "a/seed1 on ab12,cd34: nodes 3/8, 2 valid, best search score 0.91234" in lines[1]
    assert "b/seed0 on ab12: nodes 0/8, 0 valid, best search score -" in lines[2]
    # A run that has not reported yet is counted, not shown.
    assert grid_lines([("c/seed0", "RUNNING")], {}) == ["grid: 0 done, 1 running, 0 queued (of 1 runs)"]
