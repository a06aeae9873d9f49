"""Fault drills through real Ray that the other drill tests do not cover (issue 13, item 7).

kill -9 the policy server's replica, the token ledger and the outage breaker in one run: Serve and
Ray restart them,
the workers' requests wait out the outage, and the run finishes with no finished node lost or run
twice. And a small soak: every episode sends the agent four malformed policy replies and then submits
a malformed file: no crash, every node invalid with a named reason. Real workers (bubblewrap
sandboxes), the real evaluator, journal and node folders; the baseline and replay policies are
scripted test doubles, not language models. `bench/fault_drills.py` runs every drill, the soak at
1,000 + 1,000, and prints the table.
"""

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import ray

from evaluation.task import load_task
from launcher.run_unit import run_search
from search.run_dir import RunDir
from serving.server import start_policy_server
from tests.conftest import StartRun, compose_config, free_port, stop_run
from tests.test_actors import journal

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_session")]


def _pid(actor: Any) -> int:
    pid: int = ray.get(actor.__ray_call__.remote(lambda _self: os.getpid()), timeout=120)
    return pid


def _replica() -> Any:
    [found] = [a for a in ray.util.list_named_actors(all_namespaces=True) if "SERVE_REPLICA" in a["name"]]
    return ray.get_actor(found["name"], namespace=found["namespace"])


def test_killed_policy_replica_ledger_and_breaker_come_back_and_no_node_is_lost(
    tmp_path: Path, digits_task_dir: Path, start_run: StartRun
) -> None:
    rd, actors = start_run(
        tmp_path / "run",
        digits_task_dir,
        "search.num_workers=2",
        "search.budget.max_nodes=4",
        "search.num_drafts=2",
        "policy.budget.max_tokens=1000000000",  # the ledger has a budget to keep
        "policy.retry_backoff_s=0.2",
    )
    try:
        outcome_ref = actors.coordinator.run.remote()
        deadline = time.time() + 240
        while ray.get(actors.coordinator.status.remote()).nodes < 1 and time.time() < deadline:
            time.sleep(0.2)
        replica, ledger, breaker = _pid(_replica()), _pid(actors.ledger), _pid(actors.breaker)
        os.kill(replica, signal.SIGKILL)
        os.kill(ledger, signal.SIGKILL)
        os.kill(breaker, signal.SIGKILL)
        killed_at = time.time()
        finished = journal(rd)
        before = {n["id"] for n in finished}
        assert before, "killed mid-run: a node had finished"
        counted = sum(n["prompt_tokens"] + n["completion_tokens"] for n in finished)

        outcome = ray.get(outcome_ref, timeout=400)
        ids = [n["id"] for n in journal(rd)]
        assert sorted(ids) == list(range(1, 5)) == sorted(set(ids)), "every node once, none lost"
        for i in before:  # nodes run twice: 0 (their folders were not written again)
            assert (rd.node_dir(i) / "scores.json").stat().st_mtime < killed_at
        assert outcome.valid_nodes == 4, [n["reason"] for n in journal(rd) if not n["valid"]]
        assert _pid(_replica()) != replica and _pid(actors.ledger) != ledger, "both were restarted"
        assert _pid(actors.breaker) != breaker, "the breaker was restarted"
        # The restarted breaker answers with the history it kept (outages.json), for result.json.
        assert isinstance(ray.get(actors.breaker.outages.remote()), list)
        # Rebuilt from the journal and the running episodes' cumulative reports: every token of the
        # run, including what the episodes running at the kill had used before it.
        assert counted > 0
        nodes = journal(rd)
        used = [sum(n["prompt_tokens"] for n in nodes), sum(n["completion_tokens"] for n in nodes)]
        assert list(ray.get(actors.ledger.totals.remote())) == used, "the ledger counts every token once"
    finally:
        stop_run(actors)


# A reply that is not a completion at all is not a turn (the next request asks for the same turn
# again): tests/test_policy_faults.py drills it.
MALFORMED_REPLIES: list[dict[str, Any]] = [
    {"tool_calls": [{"name": "bash", "arguments": "{not json"}]},
    {"tool_calls": [{"name": "rm_rf", "arguments": {}}]},
    {"tool_calls": [{"name": "bash", "arguments": {"cmd": 1}}]},
    {"content": ""},
]
# Four kinds of malformed submission, picked by the sandbox's shell per episode.
SAMPLE = "$( [ -e /data/sample_submission.csv ] && echo /data || echo {data} )/sample_submission.csv"
MALFORMED_SUBMISSION = (
    f"s={SAMPLE}; case $((RANDOM % 4)) in "
    "0) printf 'foo,bar\\n1,2\\n' > submission.csv;; "
    "1) head -c 3000 /dev/urandom > submission.csv;; "
    "2) head -n 3 $s > submission.csv;; "
    "3) (cat $s; tail -n +2 $s) > submission.csv;; esac"
)


def test_soak_of_malformed_replies_and_submissions_makes_named_invalid_nodes(
    tmp_path: Path, digits_task_dir: Path
) -> None:
    from ray import serve

    episodes = 10  # 40 malformed replies and 10 malformed submissions
    run_dir = tmp_path / "run"
    turns = [
        *MALFORMED_REPLIES,
        {"tool_calls": [{"name": "bash", "arguments": {"command": MALFORMED_SUBMISSION}}]},
        {"tool_calls": [{"name": "submit", "arguments": {}}]},
    ]
    text = "\n".join(json.dumps(t) for t in turns).replace("{data}", str(RunDir(run_dir).public_dir))
    (tmp_path / "turns.jsonl").write_text(text)
    cfg = compose_config(
        "policy=replay",
        f"policy.path={tmp_path / 'turns.jsonl'}",
        "policy.max_retries=0",
        "policy.outage_wait_s=0",
        "search.num_workers=2",
        f"search.budget.max_nodes={episodes}",
        "search.budget.wall_clock_s=600",
        f"agent.max_steps={len(turns)}",
        f"agent.max_consecutive_errors={len(MALFORMED_REPLIES) + 1}",
        "wandb.mode=disabled",
        f"serve.port={free_port()}",
    )
    serve.shutdown()
    endpoint = start_policy_server(cfg.policy, cfg.serve.host, cfg.serve.port)
    result = run_search(cfg, load_task(digits_task_dir), run_dir, endpoint)
    nodes = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    assert result.nodes == len(nodes) == episodes and result.valid_nodes == 0
    assert all(n["reason"] and n["reason"].startswith("submission ") for n in nodes), [
        n["reason"] for n in nodes
    ]
    trajectory = json.loads((RunDir(run_dir).node_dir(1) / "trajectory.json").read_text())
    errors = [s["error"] for s in trajectory["steps"][: len(MALFORMED_REPLIES)]]
    assert all(errors), "each malformed reply is an error observation"
    assert "unknown tool 'rm_rf'" in errors[1]
