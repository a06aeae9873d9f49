"""W&B tracking of a run: one W&B run per search run, fed from the run's home node.

The tracker reads what the run already writes (journal nodes, the result) and never runs inside a
sandbox: agents never see W&B. A W&B failure (no key, no network, its service crashing) is reported
once and tracking stops; the search goes on and loses nothing.
"""

import contextlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from search.node import Node

JOURNAL_COLUMNS: list[str | int] = [
    "node",
    "operator",
    "parents",
    "valid",
    "search_score",
    "reason",
    "worker",
    "episode_s",
    "steps",
    "prompt_tokens",
    "completion_tokens",
]


# What `wandb agent` sets for the one run it starts a program for.
_SWEEP_RUN_VARS = ("WANDB_RUN_ID", "WANDB_SWEEP_ID", "WANDB_SWEEP_PARAM_PATH")


class WandbConfig(BaseModel):
    """The `wandb.*` config section. Offline runs are written under `<run dir>/wandb/`."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["offline", "online", "disabled"] = "offline"
    project: str = "aira"
    entity: str | None = None
    group: str | None = Field(None, description="default: the grid's or the experiment's name")
    tags: list[str] = Field(default_factory=list)


def node_row(node: Node, best_search: float | None) -> dict[str, Any]:
    """What W&B's history gets for one scored node."""
    return {
        "node": node.id,
        "operator": node.operator,
        "parents": ",".join(str(p) for p in node.parent_ids),
        "valid": int(node.valid),
        "search_score": node.search_score,
        "best_search_score": best_search,
        "episode_s": node.ended_at - node.started_at,
        "steps": node.steps,
        "prompt_tokens": node.prompt_tokens,
        "completion_tokens": node.completion_tokens,
        "worker": node.worker_id,
    }


def _journal_rows(nodes: Iterable[Node]) -> list[Iterable[Any]]:
    return [
        [
            n.id,
            n.operator,
            ",".join(str(p) for p in n.parent_ids),
            n.valid,
            n.search_score,
            n.reason or "",
            n.worker_id,
            round(n.ended_at - n.started_at, 3),
            n.steps,
            n.prompt_tokens,
            n.completion_tokens,
        ]
        for n in nodes
    ]


class WandbTracker:
    """One W&B run. Every call is safe: after the first W&B error the tracker is a no-op."""

    def __init__(
        self,
        settings: WandbConfig,
        run_dir: Path,
        name: str,
        group: str,
        config: dict[str, Any],
        warn: Callable[[str], None],
        job_type: str = "search",
    ) -> None:
        self._warn = warn
        self._run: Any = None
        self._logged: set[int] = set()
        self._best: float | None = None
        self._lower_is_better = False
        if settings.mode == "disabled":
            return
        if settings.mode == "online" and not _has_api_key():
            warn(
                "wandb.mode=online but no W&B API key is configured (WANDB_API_KEY or `wandb login`): "
                "this run is not tracked; use wandb.mode=offline and `wandb sync` later"
            )
            return
        if job_type != "grid":
            # Under `wandb agent` the sweep's run belongs to the launching process (the grid's W&B
            # run); a search run in a Tune trial inherits the agent's variables and must not take it.
            for name in _SWEEP_RUN_VARS:
                os.environ.pop(name, None)
        try:
            import wandb

            run_dir.mkdir(parents=True, exist_ok=True)
            self._run = wandb.init(
                mode=settings.mode,
                dir=str(run_dir),
                project=settings.project,
                entity=settings.entity,
                group=settings.group or group,
                tags=settings.tags or None,
                name=name,
                job_type=job_type,
                config=config,
                settings=wandb.Settings(
                    silent=True, console="off", x_disable_stats=True, reinit="create_new"
                ),
            )
        except Exception as e:
            self._fail("start", e)

    @property
    def active(self) -> bool:
        return self._run is not None

    def _fail(self, what: str, e: BaseException) -> None:
        self._warn(f"W&B tracking stopped ({what} failed: {type(e).__name__}: {e}); the run goes on")
        run, self._run = self._run, None
        if run is not None:
            import wandb

            # A dead service cannot take the run's end; tear the connection down so that the process
            # does not retry it at exit.
            with contextlib.suppress(Exception):
                run.finish(exit_code=1)
            with contextlib.suppress(Exception):
                wandb.teardown()

    def log_nodes(self, nodes: Iterable[Node], lower_is_better: bool) -> None:
        """Log the nodes not logged yet, in id order, each with the best D_search score so far."""
        if self._run is None:
            return
        sign = -1.0 if lower_is_better else 1.0
        for node in sorted((n for n in nodes if n.id not in self._logged), key=lambda n: n.id):
            better = self._best is None or sign * (node.search_score or 0.0) > sign * self._best
            if node.valid and node.search_score is not None and better:
                self._best = node.search_score
            try:
                self._run.log(node_row(node, self._best))
            except Exception as e:
                self._fail("log", e)
                return
            self._logged.add(node.id)

    def log_table(self, key: str, rows: list[dict[str, Any]]) -> None:
        """Log `rows` (dicts with the same keys) as one W&B Table under `key`."""
        if self._run is None or not rows:
            return
        try:
            import wandb

            columns: list[str | int] = list(rows[0])
            data: list[Iterable[Any]] = [[row.get(str(c)) for c in columns] for row in rows]
            self._run.log({key: wandb.Table(columns=columns, data=data)})
        except Exception as e:
            self._fail("log", e)

    def finish(self, summary: dict[str, Any], nodes: Iterable[Node] = ()) -> None:
        """Write the run's summary (and the journal as a table) and close the W&B run."""
        if self._run is None:
            return
        try:
            import wandb

            rows = _journal_rows(sorted(nodes, key=lambda n: n.id))
            if rows:
                self._run.log({"journal": wandb.Table(columns=JOURNAL_COLUMNS, data=rows)})
            for key, value in summary.items():
                self._run.summary[key] = value
            self._run.finish()
        except Exception as e:
            self._fail("finish", e)
        self._run = None


def _has_api_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    return netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="replace")
