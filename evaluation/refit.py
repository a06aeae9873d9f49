"""The refit of the final pick (`hce.refit_final`): its solution.py run once more, non-interactively, on
every labelled row, in a fresh sandbox whose /data holds the refit copy of the task
(`HiddenConsistentEvaluation.write_refit`: D_train, D_search and D_val with labels, the test inputs
alone). Nothing of it flows back into the search: it runs after the search, and only its D_test score
goes to result.json. The paper does not refit (it accepts the handicap); this measures what it costs.
"""

import asyncio
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from sandbox import SandboxConfig, data_dir_seen_by_agent, open_sandbox
from sandbox.safe_files import remove_tree

SOLUTION = "solution.py"
SUBMISSION = "submission.csv"
LOG = "refit.log"


class RefitResult(BaseModel):
    """What the refit gave (result.json `refit_*`): its D_test score, or why the unrefit answer stands."""

    node_id: int
    valid: bool
    test: float | None = None
    test_se: float | None = None
    reason: str | None = None
    duration_s: float = 0.0


DataWriter = Callable[[Path], None]


async def _run(
    code: str, settings: SandboxConfig, workspace: Path, data_dir: Path, timeout_s: float
) -> tuple[bytes | None, str | None, float]:
    sandbox = open_sandbox(settings, workspace, data_dir)
    try:
        await sandbox.write_file(SOLUTION, code)
        result = await sandbox.exec(["python", SOLUTION], timeout_s)
        # Beside the workspace, never in it: the solution ran there and may have left a link by that name.
        (workspace.parent / LOG).write_text(result.output)
        if result.timed_out:
            return None, f"the refit ran past sandbox.exec_timeout_s ({timeout_s:g} s)", result.duration_s
        if result.exit_code != 0:
            tail = result.output.strip().splitlines()[-1:] or ["(no output)"]
            return None, f"the refit exited with code {result.exit_code}: {tail[0][:300]}", result.duration_s
        try:
            submission = await sandbox.read_file(SUBMISSION)
        except (FileNotFoundError, OSError):
            return None, f"the refit wrote no {SUBMISSION}", result.duration_s
        return submission, None, result.duration_s
    finally:
        await sandbox.close()


def run_refit(
    code: str,
    agent_data_dir: str,
    settings: SandboxConfig,
    root: Path,
    write_data: DataWriter,
    timeout_s: float,
) -> tuple[bytes | None, str | None, float]:
    """Run `code` once in a fresh sandbox under `root` (data/ written by `write_data`, workspace/,
    the run's output in refit.log beside them); returns (the submission or None, why not, seconds).
    The data copy is deleted afterwards.

    `agent_data_dir`: the data directory as the search's sandboxes showed it; the code's paths to it
    point to the refit's data instead (the same /data in bubblewrap; host paths with isolation=none).
    """
    data_dir, workspace = root / "data", root / "workspace"
    for path in (data_dir, workspace):
        remove_tree(str(path))
    workspace.mkdir(parents=True)
    try:
        write_data(data_dir)
        code = code.replace(agent_data_dir, data_dir_seen_by_agent(settings, data_dir))
        return asyncio.run(_run(code, settings, workspace, data_dir, timeout_s))
    finally:
        remove_tree(str(data_dir))
