"""A small pool of scoring processes: bounded in time and memory, several submissions at once.

Each process (evaluation/_scoring_child.py) holds the scorer, hidden answers included, and scores one
submission at a time. What a submission can do to its process decides its fate, not the evaluator's:
past `timeout_s` the process is killed and the node is invalid; out of memory (RLIMIT_AS) it is invalid
and the process is replaced; a process that dies without answering (killed from outside, or crashed by
the submission) is replaced and the submission tried again, `attempts` times in all.
"""

import contextlib
import json
import logging
import os
import pickle
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO, Any, cast

from evaluation._frames import read_frame, write_frame
from evaluation._scoring_child import out_of_memory_reason
from evaluation.config import ScoringLimits
from evaluation.scores import Scores
from evaluation.scoring import HCEScorer

log = logging.getLogger(__name__)

_PROJECT_ROOT = Path(__file__).resolve().parents[1]
_STDERR_TAIL = 2000
# Start-up (imports, the scorer's state) is not the submission's time: it gets its own, generous limit.
START_TIMEOUT_S = 300.0


class ScoringProcessError(RuntimeError):
    """A scoring process could not be started: the evaluator cannot score at all (a system failure)."""


class _Died(Exception):
    """The scoring process ended without an answer."""


class _TimedOut(Exception):
    """The scoring process was killed at the time limit."""


class _Process:
    """One scoring process and its pipes; used by one thread at a time."""

    def __init__(self, state: bytes, limits: ScoringLimits) -> None:
        self.limits = limits
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_PROJECT_ROOT), env.get("PYTHONPATH")) if p)
        # Arrow's own allocator reserves address space in large chunks that RLIMIT_AS would refuse.
        env["ARROW_DEFAULT_MEMORY_POOL"] = "system"
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close(), with the process)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "evaluation._scoring_child", str(limits.memory_mb)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            env=env,
            close_fds=True,
        )
        try:
            reply = self._exchange(state, START_TIMEOUT_S)
        except _TimedOut:
            self.close()
            raise ScoringProcessError(
                f"HCE evaluator: its scoring process did not start within {START_TIMEOUT_S:g} s"
            ) from None
        except _Died:
            how, tail = self.how_it_ended(), self.stderr_tail()
            self.close()
            raise ScoringProcessError(
                f"HCE evaluator: its scoring process did not start ({how}): {tail}"
            ) from None
        if reply != b"ready":
            self.close()
            raise ScoringProcessError(f"HCE evaluator: its scoring process answered {reply[:80]!r} at start")

    def _exchange(self, request: bytes, timeout_s: float) -> bytes:
        """Send one frame and wait for the answer; the process is killed at `timeout_s`."""
        fired = threading.Event()

        def kill() -> None:
            fired.set()
            self.proc.kill()  # only the signal: the pipes belong to the waiting thread

        timer = threading.Timer(timeout_s, kill)
        timer.daemon = True
        timer.start()
        try:
            write_frame(cast(IO[bytes], self.proc.stdin), request)
            reply = read_frame(cast(IO[bytes], self.proc.stdout))
        except (BrokenPipeError, ConnectionResetError, ValueError, OSError):
            reply = None
        finally:
            timer.cancel()
        if fired.is_set():
            raise _TimedOut()
        if reply is None:
            self.proc.kill()
            self.proc.wait()
            raise _Died()
        return reply

    def score(self, submission: bytes) -> tuple[Scores, bool]:
        """The scores and whether the process must be replaced; raises _Died or _TimedOut."""
        reply: dict[str, Any] = json.loads(self._exchange(submission, self.limits.timeout_s))
        return Scores.model_validate(reply["scores"]), bool(reply["restart"])

    def how_it_ended(self) -> str:
        code = self.proc.poll()
        if code is not None and code < 0:
            return f"killed by {signal.Signals(-code).name}"
        return f"exit code {code}"

    def stderr_tail(self) -> str:
        self.stderr.seek(0, os.SEEK_END)
        size = self.stderr.tell()
        self.stderr.seek(max(0, size - _STDERR_TAIL))
        return self.stderr.read().decode("utf-8", "replace").strip() or "(no output)"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        """Kill the process (if it still runs) and release its pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


class ScoringPool:
    """`limits.processes` scoring processes of one scorer; `score` is safe to call from many threads."""

    def __init__(self, scorer: HCEScorer, limits: ScoringLimits) -> None:
        self.limits = limits
        self._state = pickle.dumps(scorer, protocol=pickle.HIGHEST_PROTOCOL)
        # One slot per process; a slot whose process died is refilled by the next thread that takes it.
        self._slots: queue.Queue[_Process | None] = queue.Queue()
        self._closed = False
        self._all: list[_Process] = []
        self._all_lock = threading.Lock()
        started: list[_Process] = []
        try:
            for _ in range(limits.processes):
                started.append(self._start())
        except ScoringProcessError:
            self.close()
            raise
        for process in started:
            self._slots.put(process)

    def _start(self) -> _Process:
        process = _Process(self._state, self.limits)
        with self._all_lock:
            self._all.append(process)
        return process

    def _retire(self, process: _Process) -> None:
        process.close()
        with self._all_lock:
            if process in self._all:
                self._all.remove(process)

    def score(self, submission: bytes) -> Scores:
        """Scores of one submission; invalid with the reason when it breaks its scoring process.

        Raises ScoringProcessError when no scoring process can be started (a system failure).
        """
        if self._closed:
            raise ScoringProcessError("HCE evaluator: its scoring pool is closed")
        died: list[str] = []
        for _ in range(self.limits.attempts):
            process = self._slots.get()
            try:
                if process is not None and not process.alive():
                    self._retire(process)
                    process = None
                if process is None:
                    process = self._start()
                scores, restart = process.score(submission)
            except _TimedOut:
                assert process is not None
                self._retire(process)
                self._slots.put(None)
                return Scores(
                    valid=False,
                    reason=f"scoring the submission took longer than {self.limits.timeout_s:g} s "
                    "(hce.scoring.timeout_s): write only the columns of sample_submission.csv, "
                    "one row per id",
                )
            except _Died:
                assert process is not None
                how = process.how_it_ended()
                tail = process.stderr_tail()
                log.warning("a scoring process died (%s): %s", how, tail)
                died.append(how)
                self._retire(process)
                self._slots.put(None)
                if _ran_out_of_memory(tail):
                    # A native library (pyarrow's CSV parser) aborts instead of raising MemoryError:
                    # the same submission would abort again, so it is invalid now.
                    return Scores(valid=False, reason=out_of_memory_reason(self.limits.memory_mb))
                continue
            except BaseException:
                self._slots.put(process)
                raise
            if restart:
                self._retire(process)
                self._slots.put(None)
            else:
                self._slots.put(process)
            return scores
        return Scores(
            valid=False,
            reason=f"the evaluator's scoring process died on this submission {len(died)} times "
            f"({', '.join(died)}); it may need more memory than hce.scoring.memory_mb allows",
        )

    def close(self) -> None:
        """Kill every scoring process (they also exit by themselves when the evaluator's process ends)."""
        self._closed = True
        with self._all_lock:
            processes, self._all = self._all, []
        for process in processes:
            process.close()


def _ran_out_of_memory(stderr_tail: str) -> bool:
    text = stderr_tail.lower()
    return "out of memory" in text or "memoryerror" in text or "bad_alloc" in text
