"""Red-team drills: hostile agent code run through the ReAct loop's own tool path, in the default
(bubblewrap) sandbox, by a scripted policy test double. After each drill the same episode goes on
and submits: the sandbox holds, and nothing the worker needs is lost."""

import asyncio
import json
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from openai.types.chat import ChatCompletion

from agents.config import load_agent_config
from agents.react import EpisodeOutcome, run_episode
from sandbox import SandboxConfig, open_sandbox
from sandbox.bwrap import BwrapSandbox
from tests.conftest import tiny_card

HIDDEN = "HIDDEN-LABEL-7f3a"
WORKER_SECRET = "WORKER-ENV-SECRET-91c2"
SAMPLE = b"id,y\na,0\nb,0\n"
LIMITS = SandboxConfig(memory_mb=2048, max_processes=128, workspace_mb=64)
SETTINGS = load_agent_config(max_steps=6, max_consecutive_errors=3, observation_chars=3000)
EXEC_TIMEOUT_S = 4.0


class ScriptedPolicyDouble:
    """A test double for the policy client: plays back a fixed list of assistant replies."""

    def __init__(self, *replies: dict[str, Any]) -> None:
        self.replies = list(replies)

    async def complete(
        self,
        model: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        seed: int,
        job: dict[str, Any] | None = None,
    ) -> ChatCompletion:
        message = self.replies.pop(0)
        choice = {"index": 0, "finish_reason": "tool_calls", "message": message}
        return ChatCompletion.model_validate(
            {"id": "c", "object": "chat.completion", "created": 0, "model": model, "choices": [choice]}
        )


def turn(*calls: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    tool_calls = [
        {"id": f"call-{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
        for i, (name, args) in enumerate(calls)
    ]
    return {"role": "assistant", "content": "drill", "tool_calls": tool_calls}


class Arena(NamedTuple):
    run: Path
    public: Path
    workspace: Path
    other_workspace: Path
    host_paths: list[Path]
    listener: socket.socket
    bystander: subprocess.Popen[bytes]
    users: list[int]  # the uids the drill's sandboxes ran as (a root worker's own per sandbox)
    memory_scopes: list[str]  # where each sandbox's memory_mb applied: "sandbox" (cgroup) or "process"


@pytest.fixture
def arena(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Arena]:
    """A run directory as the driver lays it out, with hidden labels where a sandbox must not reach."""
    yield from arena_in(tmp_path, monkeypatch)


def arena_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Arena]:
    """The `arena` fixture's body, for other drill files' own `arena` fixtures."""
    monkeypatch.setenv("AIRA_WORKER_TOKEN", WORKER_SECRET)
    run = tmp_path / "run"
    public = run / "task_public"
    public.mkdir(parents=True)
    (public / "sample_submission.csv").write_bytes(SAMPLE)
    hidden = [
        run / "hce_private" / "sealed_scores.jsonl",
        tmp_path / "task" / "prepared" / "private" / "test.csv",
        tmp_path / "other_run" / "nodes" / "0001" / "solution.py",
        run / "workspaces" / "node-0002" / "notes.txt",
    ]
    for path in hidden:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"id,y\na,{HIDDEN}\n")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    bystander = subprocess.Popen(["sleep", "300"])
    workspace = run / "workspaces" / "node-0001"
    yield Arena(run, public, workspace, hidden[-1].parent, hidden, listener, bystander, [], [])
    listener.close()
    bystander.kill()
    bystander.wait()


def play(
    arena: Arena, *drill: tuple[str, dict[str, Any]], exec_timeout_s: float = EXEC_TIMEOUT_S
) -> tuple[EpisodeOutcome, list[str]]:
    """One episode: the drill's calls, then a copy of the sample submission, then submit."""
    policy = ScriptedPolicyDouble(
        turn(*drill),
        turn(("bash", {"command": "cp /data/sample_submission.csv submission.csv && echo alive"})),
        turn(("submit", {})),
    )
    sandbox = open_sandbox(LIMITS, arena.workspace, arena.public, kill_grace_s=0.5)
    card = tiny_card(Path(sandbox.data_dir))
    if isinstance(sandbox, BwrapSandbox):
        arena.memory_scopes.append(sandbox.memory_scope)
        if sandbox.user is not None:
            arena.users.append(sandbox.user)

    async def episode() -> EpisodeOutcome:
        try:
            return await run_episode(
                policy, "m", sandbox, card, "draft", [], 0, time.time() + 120, SETTINGS, exec_timeout_s
            )
        finally:
            await sandbox.close()

    outcome = asyncio.run(episode())
    observations = [s.observation for s in outcome.trajectory.steps]
    assert outcome.submission == SAMPLE, observations  # the episode went on and handed in its work
    assert observations[-2].endswith("alive\n")
    for text in observations:
        assert HIDDEN not in text and WORKER_SECRET not in text
    return outcome, observations[: len(drill)]


def test_hidden_labels_evaluator_files_and_other_runs_are_not_there(arena: Arena) -> None:
    paths = " ".join(str(p) for p in arena.host_paths)
    _, (seen,) = play(
        arena,
        (
            "bash",
            {
                "command": f"cat {paths}; ls {arena.run}; ls /; ls /workspace/.. ;"
                " grep -rs HIDDEN /etc /tmp /run /data /workspace /dev; echo done"
            },
        ),
        # A dozen processes: on a loaded machine they can take longer than the drills' 4 s.
        exec_timeout_s=60,
    )
    assert seen.count("No such file or directory") == len(arena.host_paths) + 1  # + the run directory
    assert seen.rstrip().endswith("done")


def test_proc_shows_no_outside_process_and_no_worker_environment(arena: Arena) -> None:
    _, (procs, environ) = play(
        arena,
        (
            "bash",
            {
                "command": "ls /proc | grep -cE '^[0-9]+$'; "
                f"ls /proc/{os.getpid()} /proc/{arena.bystander.pid}"
            },
        ),
        (
            "python",
            {
                "code": "import os, glob\nprint(dict(os.environ))\nprint(glob.glob('/proc/*/environ'))\n"
                "for p in glob.glob('/proc/*/environ'):\n"
                "    try: print(open(p, 'rb').read())\n    except OSError as e: print(e)"
            },
        ),
    )
    count = int(procs.split("\n")[1])
    assert count < 15, procs  # the sandbox's own few processes, not the host's hundreds
    assert "No such file or directory" in procs
    assert "AIRA_WORKER_TOKEN" not in environ


def test_the_network_and_the_workers_loopback_are_unreachable(arena: Arena) -> None:
    port = arena.listener.getsockname()[1]
    _, (seen,) = play(
        arena,
        (
            "python",
            {
                "code": f"import socket\nfor addr in [('127.0.0.1', {port}), ('1.1.1.1', 53)]:\n"
                "    try:\n        socket.create_connection(addr, timeout=2); print('CONNECTED', addr)\n"
                "    except OSError as e:\n        print('blocked', addr, e)"
            },
        ),
    )
    assert "CONNECTED" not in seen and seen.count("blocked") == 2
    with pytest.raises(BlockingIOError):
        arena.listener.accept()


def test_another_workers_workspace_is_not_reachable(arena: Arena) -> None:
    _, (seen,) = play(
        arena,
        ("bash", {"command": f"ls {arena.other_workspace} /workspace/../node-0002; ls /workspace/.."}),
    )
    assert seen.count("No such file or directory") == 2 and "node-0002" not in seen.split("\n", 3)[-1]


def test_processes_outside_cannot_be_signalled(arena: Arena) -> None:
    _, (direct, everything) = play(
        arena,
        ("bash", {"command": f"kill -9 {os.getpid()} {arena.bystander.pid}"}),
        ("bash", {"command": "kill -9 -1; echo signalled all it could"}),
    )
    assert direct.count("No such process") == 2
    assert everything.rstrip().endswith("signalled all it could")
    assert arena.bystander.poll() is None


FLOOD = """
import os, signal, time
children = []
try:
    while True:
        pid = os.fork()
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        children.append(pid)
except OSError as e:
    print("forked", len(children), "then", e)
for pid in children:
    os.kill(pid, signal.SIGKILL)
"""


def test_a_fork_bomb_is_capped_at_the_process_limit_and_cleaned_up(arena: Arena) -> None:
    # Builtins only (no fork). The bomb is frozen first: counting a churning /proc counts both the
    # processes that die and those born while it is read.
    count = "kill -STOP -1; n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; echo processes $n"
    _, (flood, _, counted, cleanup) = play(
        arena,
        # Python's fork does not retry: it shows the cap at once. Then the classic bomb.
        ("bash", {"command": f"python -c '{FLOOD}'"}),
        ("bash", {"command": ":(){ :|:& };:"}),
        ("bash", {"command": count}),
        ("bash", {"command": "kill -9 -1; echo cleaned up"}),
    )
    forked = re.search(r"forked (\d+) then \[Errno 11\] Resource temporarily unavailable", flood)
    assert forked is not None and int(forked.group(1)) <= LIMITS.max_processes, flood
    processes = re.search(r"processes (\d+)", counted)
    assert processes is not None and int(processes.group(1)) <= LIMITS.max_processes + 5, counted
    assert "cleaned up" in cleanup  # and play() saw the next command work
    assert sandbox_user_processes(arena) == [], "processes of the sandbox user outlived it"


def test_memory_past_the_limit_fails_in_the_cell_not_the_worker(arena: Arena) -> None:
    _, (seen, after) = play(
        arena,
        # Written, not just reserved: resident memory is what a cgroup counts.
        ("python", {"code": "keep = 1\nblob = b'x' * (3 << 30)"}),
        ("python", {"code": "print('kernel ok', globals().get('keep'))"}),
        # Writing 2 GiB before the limit strikes takes over 4 s on a busy 2-core machine.
        exec_timeout_s=60,
    )
    if arena.memory_scopes == ["sandbox"]:  # a cgroup caps the sandbox's total: the kernel is killed
        assert "out of memory: the sandbox reached its limit of 2048 MB" in seen, seen
        assert "a new one starts" in seen and after.rstrip().endswith("kernel ok None")
    else:  # each process's address space is capped: the allocation fails in the cell
        assert arena.memory_scopes == ["process"]
        assert "MemoryError" in seen
        assert after.rstrip().endswith("kernel ok 1")


def test_writing_past_the_workspace_limit_stops_the_command(arena: Arena) -> None:
    _, (one_file, many_files) = play(
        arena,
        ("bash", {"command": "head -c 100M /dev/zero > big; echo status $?; du -m big"}),
        ("bash", {"command": "rm -f big; for i in 1 2 3; do head -c 30M /dev/zero > f$i; done; sleep 10"}),
    )
    assert "status 153" in one_file and "\n64\tbig" in one_file  # SIGXFSZ at 64 MB
    assert "over its limit of 64 MB" in many_files and "timed out" not in many_files


def test_sigterm_ignoring_and_sleeping_commands_end_at_the_timeout(arena: Arena) -> None:
    stubborn = (
        'python -c "import signal, time; [signal.signal(s, signal.SIG_IGN) for s in '
        '(signal.SIGTERM, signal.SIGINT)]; time.sleep(60)"'
    )
    started = time.monotonic()
    _, (ignoring, sleeping) = play(arena, ("bash", {"command": stubborn}), ("bash", {"command": "sleep 60"}))
    assert ignoring.startswith("[exit 137, timed out,") and sleeping.startswith("[exit 130, timed out,")
    assert time.monotonic() - started < 30


def test_100_mb_of_output_is_trimmed(arena: Arena) -> None:
    _, (shell, kernel) = play(
        arena,
        ("bash", {"command": "head -c 100000000 /dev/zero | tr '\\0' x; echo END"}),
        ("python", {"code": "print('y' * 100_000_000); print('END')"}),
        # Streaming 100 MB takes the kernel several seconds on a loaded machine: not a timeout drill.
        exec_timeout_s=60,
    )
    for seen in (shell, kernel):
        assert len(seen) <= SETTINGS.observation_chars and seen.rstrip().endswith("END")
        assert "characters cut" in seen


def test_a_killed_shell_does_not_leave_the_sandbox_user_running(arena: Arena) -> None:
    # The sandbox is closed at the end of every episode: nothing of its user survives it.
    # A duration no other test's sleeper has: test files in the other xdist worker run `sleep 300`.
    play(arena, ("bash", {"command": "(setsid sleep 317 &) ; nohup sleep 317 >/dev/null 2>&1 &"}))
    assert sandbox_user_processes(arena) == []
    # SIGKILL is delivered asynchronously: under load a killed process may still run for a moment.
    deadline = time.monotonic() + 5
    while (sleepers := _pids_running(b"sleep\x00317\x00")) and (time.monotonic() < deadline):
        time.sleep(0.2)
    assert sleepers == [], "a setsid/nohup process outlived its sandbox"


def sandbox_user_processes(arena: Arena) -> list[str]:
    """What still runs as the drill's sandbox users (a root worker's) after their sandboxes closed.
    Killed processes may stay zombies until the host's init reaps them: they get a few seconds."""
    if not arena.users:
        return []
    users = ",".join(map(str, arena.users))
    deadline = time.monotonic() + 5
    while True:
        ps = subprocess.run(["ps", "-o", "pid=,stat=,args=", "-u", users], capture_output=True, text=True)
        left = ps.stdout.splitlines()
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def _pids_running(cmdline: bytes) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and Path(f"/proc/{entry}/cmdline").read_bytes() == cmdline:
                found.append(int(entry))
        except OSError:
            continue
    return found
