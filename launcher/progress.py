"""Live progress of a search: nodes finished and valid, best search score, time used of the budget."""

import sys
import time
from collections.abc import Callable

from rich.console import Console
from rich.live import Live
from rich.text import Text

from actors.coordinator import SearchStatus


def status_line(s: SearchStatus) -> str:
    best = f"{s.best_search:.6g} (node {s.best_node})" if s.best_search is not None else "-"
    return (
        f"nodes {s.nodes}/{s.max_nodes} finished, {s.valid} valid, {s.running} running | "
        f"best search score {best} | "
        f"{s.elapsed_s:5.0f}s of {s.wall_clock_s:.0f}s"
    )


def follow(
    poll: Callable[[], SearchStatus], finished: Callable[[], bool], console: Console, interval_s: float = 1.0
) -> None:
    """Show the status until `finished()`; a live line on a terminal, a log line per change otherwise."""
    if sys.stdout.isatty():
        with Live(Text(""), console=console, refresh_per_second=4, transient=False) as live:
            while not finished():
                live.update(Text(status_line(poll())))
                time.sleep(interval_s)
            live.update(Text(status_line(poll())))
        return
    last = None
    last_print = 0.0
    while not finished():
        s = poll()
        key = (s.nodes, s.valid, s.running)
        if key != last or time.time() - last_print > 30:
            print(status_line(s), flush=True)
            last, last_print = key, time.time()
        time.sleep(interval_s)
