"""Live progress: of one search (nodes finished and valid, best search score, time used of the budget)
and of a grid (runs done / running / queued, each running run's Ray nodes and best search score)."""

import time
from typing import Any

from ray import tune

from actors.metrics import GridMetrics


def _run_line(name: str, r: dict[str, Any]) -> str:
    best = "-" if r.get("best_search") is None else f"{r['best_search']:.6g}"
    return (
        f"  {name} on {r.get('ray_nodes') or '?'}: nodes {r.get('nodes', 0)}/{r.get('max_nodes', '?')}, "
        f"{r.get('valid', 0)} valid, best search score {best} | {r.get('elapsed_s', 0):.0f}s"
    )


def grid_counts(trials: list[tuple[str, str]]) -> tuple[int, list[str], int]:
    """(runs done, names of the runs running, runs queued) of (name, Tune status) pairs."""
    done = sum(status in ("TERMINATED", "ERROR") for _, status in trials)
    running = [name for name, status in trials if status == "RUNNING"]
    return done, running, len(trials) - done - len(running)


def grid_lines(trials: list[tuple[str, str]], latest: dict[str, dict[str, Any]]) -> list[str]:
    """The grid's progress: a count line, then a line per running run.

    `trials` are (name, Tune status) pairs; `latest` the newest status report of each run by name.
    """
    done, running, queued = grid_counts(trials)
    lines = [f"grid: {done} done, {len(running)} running, {queued} queued (of {len(trials)} runs)"]
    lines += [_run_line(name, latest[name]) for name in running if "nodes" in latest.get(name, {})]
    return lines


class GridProgress(tune.Callback):
    """Prints the grid's progress from the runs' reports, on each change and every 30 s otherwise.

    A single run (a grid of one) prints its search's status line, as `python launch.py` always did.
    """

    def __init__(self, single: bool, every_s: float = 30.0, grid: str = "") -> None:
        self.single = single
        self.metrics = GridMetrics(grid)  # the queue of runs, on Ray's metrics port
        self.every_s = every_s
        self.latest: dict[str, dict[str, Any]] = {}
        self._shown: tuple[str, ...] = ()
        self._shown_at = 0.0

    @staticmethod
    def name(trial: Any) -> str:
        """A run's name in the display: `<task>/seed<k>`."""
        return f"{trial.config['task']}/seed{trial.config['seed']}"

    def on_trial_result(
        self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
    ) -> None:
        if "nodes" in result:
            self.latest[self.name(trial)] = result

    def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
        if self.single:
            lines = [self._single_line(r) for r in self.latest.values()]
        else:
            states = [(self.name(t), t.status) for t in trials]
            done, running, queued = grid_counts(states)
            self.metrics.runs(queued=queued, running=len(running), done=done)
            lines = grid_lines(states, self.latest)
        # Changes are shown at once; the clock alone only every `every_s`.
        key = tuple(line.rsplit(" | ", 1)[0] for line in lines)
        if key != self._shown or time.time() - self._shown_at > self.every_s:
            for line in lines:
                print(line, flush=True)
            self._shown, self._shown_at = key, time.time()

    @staticmethod
    def _single_line(r: dict[str, Any]) -> str:
        best = "-" if r.get("best_search") is None else f"{r['best_search']:.6g}"
        return (
            f"nodes {r['nodes']}/{r['max_nodes']} finished, {r['valid']} valid, {r['running']} running | "
            f"best search score {best} | {r['elapsed_s']:5.0f}s of {r['wall_clock_s']:.0f}s"
        )
