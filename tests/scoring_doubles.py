"""A scorer test double for the scoring pool: its 'submission' says what the scoring process should do.

It is unpickled in the scoring process, so it lives in an importable module and uses no test fixture.
"""

import os
import signal
import time
from pathlib import Path

from evaluation.scores import Scores


class ScriptedScorer:
    """b"ok:X" scores X; b"sleep:S" sleeps S seconds first; b"alloc:MB" allocates MB megabytes;
    b"die" kills its own process; b"die-once:PATH" does so only while PATH does not exist (creating it)."""

    def score(self, submission: bytes) -> Scores:
        command, _, argument = submission.decode().partition(":")
        if command == "sleep":
            time.sleep(float(argument))
        elif command == "alloc":
            block = bytearray(int(argument) * 1024 * 1024)
            return Scores(valid=True, search=float(len(block)))
        elif command == "die" or (command == "die-once" and not Path(argument).exists()):
            if command == "die-once":
                Path(argument).touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return Scores(valid=True, search=float(os.getpid()), val=0.0, test=0.0)
