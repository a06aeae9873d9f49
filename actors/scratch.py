"""A run's node-local scratch: the agent-visible task written once per node, the episodes' workspaces,
and its removal from every node of the run when the run ends, however it ends.

Each node keeps a run's scratch under `<scratch root>/<run key>/` (`task_public/`, `workspaces/`).
"""

import fcntl
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from sandbox.safe_files import remove_tree

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PublicCopy:
    """The agent-visible task as it travels through Ray's object store: its files (relative path,
    size) and the object refs of consecutive chunks of their bytes, back to back in that order
    (evaluation/evaluator.py: `public_manifest`, `public_chunk`). A worker fetches one chunk at a time."""

    files: list[tuple[str, int]]
    chunks: list[Any]


def publish_public(evaluator: Any) -> PublicCopy:
    """The run's evaluator's copy as chunk refs, owned by the caller (the run unit): one call per chunk."""
    chunk_bytes, files = ray.get(evaluator.public_manifest.remote())
    total = sum(size for _, size in files)
    return PublicCopy(files, [evaluator.public_chunk.remote(k) for k in range(-(-total // chunk_bytes))])


PUBLIC = "task_public"
WORKSPACES = "workspaces"
# How long the run waits for its nodes to drop their scratch; a node that does not answer keeps it.
RELEASE_TIMEOUT_S = 120.0


def scratch_root() -> Path:
    """Where a node keeps its runs' local copies of the task and the episodes' workspaces."""
    return Path(os.environ.get("AIRA_SCRATCH") or Path(tempfile.gettempdir()) / "aira-scratch")


def materialise_public(copy: PublicCopy, target: Path) -> Path:
    """Write the agent-visible task to `target` once per node: the first worker there fetches the
    chunks, one at a time, and writes the files; the others (and restarts) find it done. Returns
    `target`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".public.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.is_dir():
            tmp = target.with_name(target.name + f".tmp{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            _write_files(copy, tmp)
            tmp.rename(target)
    return target


def _write_files(copy: PublicCopy, root: Path) -> None:
    chunks = (memoryview(ray.get(ref)) for ref in copy.chunks)
    pending = memoryview(b"")
    for rel, size in copy.files:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            left = size
            while left:
                if not pending:
                    pending = next(chunks, memoryview(b""))
                    if not pending:
                        raise RuntimeError(f"the task's copy ended before {rel}'s {size} bytes")
                piece = pending[:left]
                out.write(piece)
                pending, left = pending[len(piece) :], left - len(piece)


def drop_scratch(run_key: str, keep_workspaces: bool) -> None:
    """Delete this node's scratch of the run: all of it, or all but the workspaces when they are kept."""
    root = scratch_root() / run_key
    if not keep_workspaces:
        remove_tree(str(root))
        return
    for entry in root.glob("*"):
        if entry.name == WORKSPACES:
            continue
        if entry.is_dir():
            remove_tree(str(entry))
        else:
            entry.unlink(missing_ok=True)


# No resources: it must run on a node whose CPUs and GPUs the run's workers still hold.
_drop_on_node = ray.remote(num_cpus=0, max_retries=0)(drop_scratch)


def run_nodes() -> list[str]:
    """The nodes a run's workers may have written scratch on: those of its placement group's
    bundles, or every alive node for actors started outside a placement group."""
    pg = ray.util.get_current_placement_group()
    if pg is not None:
        table = ray.util.placement_group_table(pg)
        return sorted(set(table["bundles_to_node_id"].values()))
    return sorted(n["NodeID"] for n in ray.nodes() if n.get("Alive"))


def release_scratch(run_key: str, keep_workspaces: bool, nodes: list[str]) -> None:
    """Drop the run's scratch on each of `nodes` (a task pinned to each, outside the run's placement
    group); a node that is gone or does not answer is logged, never raised: the run's outcome stands."""
    refs = [
        _drop_on_node.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n, soft=False)).remote(
            run_key, keep_workspaces
        )
        for n in nodes
    ]
    _, late = ray.wait(refs, num_returns=len(refs), timeout=RELEASE_TIMEOUT_S)
    for node, ref in zip(nodes, refs, strict=True):
        if ref in late:
            log.warning("node %s did not drop the scratch of run %s in %gs", node, run_key, RELEASE_TIMEOUT_S)
            continue
        try:
            ray.get(ref)
        except ray.exceptions.RayError as e:
            log.warning("node %s kept the scratch of run %s: %s", node, run_key, str(e).splitlines()[0])
