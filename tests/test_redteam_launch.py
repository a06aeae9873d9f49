"""The trust-boundary drill as a user's agent would run it: `python launch.py policy=replay ...` with
the real worker, evaluator and refit, on the bundled digits task. The replay policy (a test double,
not a language model) plays the chain the red team used: read bwrap's command line for host paths,
plant links at the names the worker writes next (command scripts, the kernel's connection file),
try to become root in a user namespace, and hand in a solution.py that links the refit's log to a
host file. Each link's target stands for one of the project's own modules; none may be written, and
the run still ends with its scores."""

import json
from pathlib import Path
from typing import Any

import pytest

from sandbox.bwrap import bwrap_missing
from tests.conftest import run_launch

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(bwrap_missing() is not None, reason=str(bwrap_missing())),
]
ORIGINAL = "# one of the project's own modules, imported lazily by the worker\n"


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


def drill(modules: list[Path]) -> list[dict[str, Any]]:
    script, kernel, refit = (str(m) for m in modules)
    solution = (
        "import os, shutil\n"
        f"try:\n    os.symlink({refit!r}, 'refit.log')\nexcept OSError:\n    pass\n"
        "shutil.copy('/data/sample_submission.csv', 'submission.csv')\n"
    )
    plant_kernel = (
        "import os\nfor n in range(2, 6):\n    try:\n"
        f"        os.symlink({kernel!r}, f'/run/aira/kernel-{{n}}.json')\n"
        "    except OSError as e:\n        print('refused', e)\n"
    )
    plant_scripts = " ".join(f"ln -sf {script} /run/aira/cmd-{n}.sh 2>&1;" for n in range(2, 9))
    return [
        {
            "content": "find the host paths, plant the links",
            "tool_calls": [
                call("bash", command="for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done"),
                call("bash", command=plant_scripts + " echo planted"),
                call("python", code=plant_kernel),
                call("python", code="import os; os._exit(0)"),
                call("bash", command="unshare --user --map-root-user id; echo rc=$?"),
            ],
        },
        {
            "content": "hand in",
            "tool_calls": [
                call("python", code=f"open('solution.py', 'w').write({solution!r})"),
                call("bash", command="python solution.py && echo wrote"),
            ],
        },
        {"content": "done", "tool_calls": [call("submit")]},
    ]


def test_the_red_teams_chain_writes_no_host_file_through_launch_py(tmp_path: Path) -> None:
    modules = []
    for name in ("script_target.py", "kernel_target.py", "refit_target.py"):
        path = tmp_path / "project" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(ORIGINAL)
        modules.append(path)
    replay = tmp_path / "drill.jsonl"
    replay.write_text("".join(json.dumps(t) + "\n" for t in drill(modules)))
    scratch, out = tmp_path / "scratch", tmp_path / "run"
    proc = run_launch(
        "policy=replay",
        f"policy.path={replay}",
        "search.num_workers=1",
        "search.budget.max_nodes=1",
        "search.budget.wall_clock_s=300",
        "hce.refit_final=true",
        "wandb.mode=disabled",
        f"hydra.run.dir={out}",
        env={"AIRA_SCRATCH": str(scratch)},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for module in modules:
        assert module.read_text() == ORIGINAL, f"{module.name} was written: {module.read_text()[:300]}"
    result = json.loads((out / "result.json").read_text())
    assert result["valid_nodes"] == 1 and result["refit_error"] is None, result
    assert result["test_score"] < 0.5  # the sample submission's score: no label reached the agent
    (node,) = [line for line in (out / "journal.jsonl").read_text().splitlines()]
    steps = json.loads((out / "nodes" / f"{json.loads(node)['id']:04d}" / "trajectory.json").read_text())
    cmdlines = steps["steps"][0]["observation"]
    assert "bwrap" in cmdlines and str(scratch) not in cmdlines and str(tmp_path) not in cmdlines, cmdlines
    assert "Read-only file system" in steps["steps"][1]["observation"]
    userns = steps["steps"][4]["observation"]
    assert "rc=1" in userns and "uid=0" not in userns, userns  # no user namespace to be root in
