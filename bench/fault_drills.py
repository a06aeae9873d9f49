"""Fault drills with numbers (issue 13, item 7): kill -9 each part of a run mid-run, then a soak.

Usage: python bench/fault_drills.py [--drills coordinator,evaluator,...] [--nodes 8] [--soak 1000]

Every drill runs a real search on an embedded Ray of its own (real workers in bubblewrap sandboxes,
the real HCE evaluator, journal and node folders) with the LLM-free baseline policy (a scripted test
double, not a language model), kills one part with SIGKILL once nodes have finished and jobs are
running, and waits for the run to finish. The driver drill kills `python launch.py` itself and runs
the same command again with `resume=<run dir>`. What is counted comes from the run directory, not
from what the run says about itself:

- finished nodes lost: nodes in the journal at the kill that are missing afterwards, ids in
  1..max that no journal line has (a started job never recorded), nodes without `scores.json`;
- nodes run twice: ids journaled more than once, and nodes finished before the kill whose folder
  was written again after it;
- restarts recorded: `restarts` of result.json (the coordinator's own count), and whether the killed
  part runs in a new process at the end.

The soak runs the replay policy (a test double) twice: `--soak` episodes that each submit a
malformed file (8 kinds, picked at random in the sandbox), and `--soak` malformed policy replies
(5 kinds per episode, `agent.max_consecutive_errors=5`). It passes with 0 crashes and every node
invalid with a named reason; it prints the reasons' histogram.
"""

import argparse
import collections
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
for _name, _value in {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S": "60",
    "RAY_worker_niceness": "0",
    "WANDB_MODE": "disabled",
}.items():
    os.environ.setdefault(_name, _value)

import ray  # noqa: E402

from launcher.config import RunConfig  # noqa: E402
from search.run_dir import RunDir  # noqa: E402

DRILLS = ["coordinator", "evaluator", "worker", "replica", "ledger", "breaker", "driver"]
# The sandbox shows the data at /data (bubblewrap) or at its real path (no isolation).
SAMPLE = "$( [ -e /data/sample_submission.csv ] && echo /data || echo {data} )/sample_submission.csv"
# Eight kinds of malformed submission; the sandbox's shell picks one per episode.
MALFORMED_SUBMISSIONS = (
    "s=" + SAMPLE + "; case $((RANDOM % 8)) in "
    "0) : > submission.csv;; "
    "1) printf 'foo,bar\\n1,2\\n' > submission.csv;; "
    "2) head -c 3000 /dev/urandom > submission.csv;; "
    "3) sed '2,$ s/^[^,]*/bogus/' $s > submission.csv;; "
    "4) awk -F, 'NR==1{print;next}{print $1\",not-a-number\"}' $s > submission.csv;; "
    "5) head -n 3 $s > submission.csv;; "
    "6) (cat $s; tail -n +2 $s) > submission.csv;; "
    "7) rm -f submission.csv;; esac"
)
# Five kinds of malformed policy reply, one per turn of an episode.
# The last is not a completion at all, so not a turn: it is what the agent's request gets from then on.
MALFORMED_REPLIES: list[dict[str, Any]] = [
    {"tool_calls": [{"name": "bash", "arguments": "{not json"}]},
    {"tool_calls": [{"name": "rm_rf", "arguments": {}}]},
    {"tool_calls": [{"name": "bash", "arguments": {"cmd": 1}}]},
    {"content": ""},
    {"fault": {"garbage": "<html>502 bad gateway</html>"}},
]


def compose(*overrides: str) -> RunConfig:
    """The validated config that `python launch.py <overrides>` would run with."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from launcher.config import load_config

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return load_config(hydra_compose(config_name="config", overrides=list(overrides)))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Row:
    drill: str
    killed: str  # what was killed and when
    finished: bool
    lost: int
    twice: int
    restarts: str
    wall_s: float
    note: str = ""


def journal_ids(rd: RunDir) -> list[int]:
    """Node ids of the journal's whole lines (a torn last line is not a node)."""
    if not rd.journal.exists():
        return []
    ids = []
    for line in rd.journal.read_text().splitlines():
        try:
            ids.append(int(json.loads(line)["id"]))
        except (ValueError, KeyError):
            continue
    return ids


def count(rd: RunDir, before: set[int], killed_at: float) -> tuple[int, int]:
    """(finished nodes lost, nodes run twice) from the journal and node folders."""
    ids = journal_ids(rd)
    seen = set(ids)
    gaps = set(range(1, max(seen, default=0) + 1)) - seen
    no_folder = {i for i in seen if not (rd.node_dir(i) / "scores.json").exists()}
    lost = len(before - seen) + len(gaps) + len(no_folder)
    rewritten = {i for i in before if (rd.node_dir(i) / "scores.json").stat().st_mtime > killed_at}
    return lost, len(ids) - len(seen) + len(rewritten)


def pid_of(actor: Any) -> int:
    pid: int = ray.get(actor.__ray_call__.remote(lambda _self: os.getpid()), timeout=120)
    return pid


def replica_actor() -> Any:
    """The policy server's one Serve replica (an actor in Serve's namespace)."""
    names = [a for a in ray.util.list_named_actors(all_namespaces=True) if "SERVE_REPLICA" in a["name"]]
    assert len(names) == 1, names
    return ray.get_actor(names[0]["name"], namespace=names[0]["namespace"])


def in_process_drill(name: str, nodes: int, tmp: Path, task_dir: Path) -> Row:
    """Start a run's actors as the run unit does, kill one part mid-run, wait for the outcome."""
    from ray import serve

    from evaluation.task import load_task
    from launcher.run_actors import start_actors
    from serving.server import start_policy_server

    cfg = compose(
        "search.num_workers=2",
        f"search.budget.max_nodes={nodes}",
        "search.num_drafts=2",
        "policy.budget.max_tokens=1000000000",  # the ledger has a budget to keep
        f"serve.port={free_port()}",
    )
    rd = RunDir(tmp / name)
    rd.root.mkdir()
    serve.shutdown()
    started = time.time()
    endpoint = start_policy_server(cfg.policy, cfg.serve.host, cfg.serve.port)
    actors = start_actors(cfg, load_task(task_dir), rd, endpoint, f"drill-{name}")
    target: Callable[[], Any] = {
        "coordinator": lambda: actors.coordinator,
        "evaluator": lambda: actors.evaluator,
        "worker": lambda: actors.workers[0],
        "ledger": lambda: actors.ledger,
        "breaker": lambda: actors.breaker,
        "replica": replica_actor,
    }[name]
    try:
        outcome_ref = actors.coordinator.run.remote()
        deadline = time.time() + 300
        while time.time() < deadline:
            status = ray.get(actors.coordinator.status.remote())
            if status.nodes >= 2 and status.running == 2:
                break
            time.sleep(0.2)
        time.sleep(0.5)  # both workers mid-episode
        pid = pid_of(target())
        os.kill(pid, signal.SIGKILL)
        killed_at = time.time()
        before = set(journal_ids(rd))
        when = f"pid {pid} at {killed_at - started:.0f} s: {len(before)} nodes done, {status.running} running"
        finished, note = True, ""
        try:
            outcome = ray.get(outcome_ref, timeout=900)
            restarts = str(outcome.restarts)
            finished = outcome.nodes == nodes and outcome.final is not None
            invalid = [n for n in map(json.loads, rd.journal.read_text().splitlines()) if not n["valid"]]
            note = "; ".join(f"node {n['id']}: {n['reason'][:70]}" for n in invalid)
        except Exception as e:  # a drill that fails is a row, not a crash of the bench
            finished, restarts, note = False, "?", f"{type(e).__name__}: {str(e)[:200]}"
        try:
            restarts += f", new pid: {'y' if pid_of(target()) != pid else 'n'}"
        except Exception as e:
            restarts += f", not back ({type(e).__name__})"
        lost, twice = count(rd, before, killed_at)
        return Row(name, when, finished, lost, twice, restarts, time.time() - started, note)
    finally:
        for actor in [actors.coordinator, actors.evaluator, *actors.workers, actors.ledger, actors.breaker]:
            ray.kill(actor)


def launch(log: Path, *overrides: str) -> "subprocess.Popen[str]":
    """`python launch.py <overrides>` on a free Serve port, its output appended to `log`."""
    with log.open("a") as out:
        return subprocess.Popen(
            [sys.executable, str(ROOT / "launch.py"), *overrides, f"serve.port={free_port()}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
        )


def driver_drill(nodes: int, tmp: Path) -> Row:
    """kill -9 `python launch.py` mid-run, then the same command with resume=<run dir>."""
    rd = RunDir(tmp / "driver")
    common = ["search.num_workers=2", f"search.budget.max_nodes={nodes}", "search.num_drafts=2"]
    common.append("wandb.mode=disabled")
    started = time.time()
    log = tmp / "driver.log"
    first = launch(log, *common, f"hydra.run.dir={rd.root}")
    deadline = time.time() + 600
    while len(journal_ids(rd)) < 2 and first.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    if first.poll() is not None:
        note = f"ended before the kill: {log.read_text()[-300:]}"
        return Row("driver", "-", False, 0, 0, "-", time.time() - started, note)
    first.send_signal(signal.SIGKILL)
    killed_at = time.time()
    first.wait()
    before = set(journal_ids(rd))
    when = f"pid {first.pid} at {killed_at - started:.0f} s: {len(before)} nodes done"
    time.sleep(5)  # the embedded Ray's processes notice their driver is gone
    second = launch(log, *common, f"resume={rd.root}")
    second.wait(timeout=900)
    finished = second.returncode == 0 and rd.result.exists()
    result = json.loads(rd.result.read_text()) if rd.result.exists() else {}
    finished = finished and result.get("nodes") == nodes
    lost, twice = count(rd, before, killed_at)
    note = "" if finished else f"exit {second.returncode}: {log.read_text()[-300:]}"
    restarts = f"{result.get('restarts', '?')}, resumed: {'y' if finished else 'n'}"
    return Row("driver", when, finished, lost, twice, restarts, time.time() - started, note)


def soak(kind: str, count_: int, tmp: Path, task_dir: Path) -> tuple[Row, collections.Counter[str]]:
    """One run of `count_` malformed submissions or malformed policy replies, through run_search."""
    from ray import serve

    from evaluation.task import load_task
    from launcher.run_unit import run_search
    from serving.server import start_policy_server

    run_dir = tmp / f"soak-{kind}"
    data = str(RunDir(run_dir).public_dir)
    if kind == "submissions":
        turns: list[dict[str, Any]] = [
            {"tool_calls": [{"name": "bash", "arguments": {"command": MALFORMED_SUBMISSIONS}}]},
            {"tool_calls": [{"name": "submit", "arguments": {}}]},
        ]
        episodes, overrides = count_, ["agent.max_steps=2"]
    else:
        turns = MALFORMED_REPLIES
        per = len(MALFORMED_REPLIES)
        episodes = count_ // per
        overrides = [f"agent.max_consecutive_errors={per}", f"agent.max_steps={per}", "policy.max_retries=0"]
        overrides.append("policy.outage_wait_s=0")
    path = tmp / f"{kind}.jsonl"
    path.write_text("\n".join(json.dumps(t).replace("{data}", data) for t in turns))
    cfg = compose(
        "policy=replay",
        f"policy.path={path}",
        "policy.retry_backoff_s=0.01",
        "search.num_workers=4",
        f"search.budget.max_nodes={episodes}",
        "search.budget.wall_clock_s=3600",
        "wandb.mode=disabled",
        f"serve.port={free_port()}",
        *overrides,
    )
    serve.shutdown()
    started = time.time()
    reasons: collections.Counter[str] = collections.Counter()
    try:
        endpoint = start_policy_server(cfg.policy, cfg.serve.host, cfg.serve.port)
        result = run_search(cfg, load_task(task_dir), run_dir, endpoint)
    except Exception as e:
        row = Row(f"soak: {kind}", "-", False, 0, 0, "-", time.time() - started, f"{type(e).__name__}: {e}")
        return row, reasons
    nodes = [json.loads(line) for line in RunDir(run_dir).journal.read_text().splitlines()]
    valid = sum(n["valid"] for n in nodes)
    unnamed = sum(not n["reason"] for n in nodes if not n["valid"])
    for n in nodes:
        reasons[reason_kind(n["reason"]) if n["reason"] else "(valid)" if n["valid"] else "(no reason)"] += 1
    note = f"{len(nodes)} nodes, {valid} valid, {unnamed} invalid without a reason"
    what = f"{count_} malformed {kind}"
    finished = result.nodes == episodes == len(nodes) and valid == 0 and unnamed == 0
    return Row(
        f"soak: {kind}", what, finished, 0, 0, str(result.restarts), time.time() - started, note
    ), reasons


def reason_kind(reason: str) -> str:
    """A reason without its particulars (counts, example ids), so that the histogram groups kinds."""
    kind = re.sub(r"(?<![-\w])\d[\d,]*(?![-\w])", "N", reason.split(" (e.g.")[0])
    return kind[:100]


def print_table(rows: list[Row], settings: str) -> None:
    print(f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {os.getloadavg()[0]:.1f}")
    print(f"on {os.cpu_count()} CPUs; {settings}\n")
    print(
        "| drill | killed (when) | run finished | finished nodes lost | nodes run twice | restarts | wall |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r.drill} | {r.killed} | {'y' if r.finished else 'n'} | {r.lost} | {r.twice} | "
            f"{r.restarts} | {r.wall_s:.0f} s |"
        )
    for r in rows:
        if r.note:
            print(f"- {r.drill}: {r.note}")


def start_ray() -> None:
    """This process's embedded Ray, with its raylet given 5 minutes to register instead of Ray's
    fixed 30 s, which a busy machine misses (as tests/_ray_node.py does for test nodes)."""
    from ray._private import services

    get_node = services.get_node

    def patient_get_node(*args: Any, **kwargs: Any) -> Any:
        deadline = time.monotonic() + 300
        while True:
            try:
                return get_node(*args, **kwargs)
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)

    services.get_node = patient_get_node
    ray.init(
        address="local",
        num_cpus=6,
        resources={"experiment_slot": 4},
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        namespace="aira-drills",
        log_to_driver=False,
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--drills", default=",".join(DRILLS))
    parser.add_argument("--nodes", type=int, default=8, help="node budget of each drill's run")
    parser.add_argument("--soak", type=int, default=1000, help="malformed submissions and replies (0: none)")
    args = parser.parse_args()
    drills = [d for d in args.drills.split(",") if d]
    unknown = set(drills) - set(DRILLS)
    if unknown:
        parser.error(f"--drills: unknown {sorted(unknown)}; the drills are {','.join(DRILLS)}")
    print(f"load average at start: {os.getloadavg()[0]:.1f}", flush=True)
    rows: list[Row] = []
    histograms: dict[str, collections.Counter[str]] = {}
    with tempfile.TemporaryDirectory(prefix="drills-") as tmp_name:
        tmp = Path(tmp_name)
        start_ray()
        from evaluation.bundled import ensure_bundled
        from launcher.config import TaskConfig

        task_dir = ensure_bundled("digits", TaskConfig().cache_dir)
        for name in drills:
            if name != "driver":
                rows.append(in_process_drill(name, args.nodes, tmp, task_dir))
                print(rows[-1], flush=True)
        if args.soak:
            for kind in ("submissions", "replies"):
                row, histograms[kind] = soak(kind, args.soak, tmp, task_dir)
                rows.append(row)
                print(row, flush=True)
        ray.shutdown()
        if "driver" in drills:  # launch.py starts a Ray of its own
            rows.append(driver_drill(args.nodes, tmp))
            print(rows[-1], flush=True)
    print_table(
        rows, f"{args.nodes} nodes per drill, 2 workers, baseline policy; soak {args.soak} + {args.soak}"
    )
    for kind, reasons in histograms.items():
        print(f"\nsoak: {kind}: invalid-node reasons")
        for reason, n in reasons.most_common():
            print(f"  {n:5d}  {reason}")
    return 0 if all(r.finished and r.lost == 0 and r.twice == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
