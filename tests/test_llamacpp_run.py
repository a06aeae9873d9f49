"""`python launch.py policy=llamacpp` end to end: the tiny CPU model drives real episodes; the run
finishes cleanly and records the trajectories and token counts, whatever the model manages."""

import json
from pathlib import Path

import pytest

from tests.conftest import run_launch

pytestmark = pytest.mark.integration


def test_a_llamacpp_run_finishes_and_records_its_trajectories(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp", reason="needs the llamacpp extra (see README)")
    proc = run_launch(
        "policy=llamacpp",
        "search.budget.max_nodes=1",
        "agent.max_steps=3",  # the tiny model rarely submits; 3 steps show the loop in CI time
        "policy.max_new_tokens=128",
        f"hydra.run.dir={tmp_path}",
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["policy"] == "llamacpp" and result["nodes"] == 1
    assert result["prompt_tokens"] > 0 and result["completion_tokens"] > 0
    for node in (json.loads(line) for line in (tmp_path / "journal.jsonl").read_text().splitlines()):
        assert node["valid"] or node["reason"]  # an invalid node says why
        trajectory = json.loads((tmp_path / "nodes" / f"{node['id']:04d}" / "trajectory.json").read_text())
        assert trajectory["steps"] and trajectory["completion_tokens"] > 0
