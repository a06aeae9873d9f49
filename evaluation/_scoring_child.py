"""The scoring process: receives an `HCEScorer`, then scores submissions one at a time, each framed on
stdin/stdout (8-byte big-endian length, then the bytes). Started by evaluation/scoring_pool.py.

`python -m evaluation._scoring_child MEMORY_MB`: its address space is capped at MEMORY_MB (0 = no cap)
before anything is read, so that a submission that needs more fails here, not in the evaluator.
"""

import json
import pickle
import resource
import sys
from typing import IO

from evaluation._frames import read_frame, write_frame
from evaluation.scores import Scores
from evaluation.scoring import HCEScorer


def serve(memory_mb: int, requests: IO[bytes], replies: IO[bytes]) -> None:
    """Answer each submission with {"scores": ..., "restart": bool}; returns at end of input."""
    state = read_frame(requests)
    if state is None:
        return
    scorer: HCEScorer = pickle.loads(state)
    del state
    write_frame(replies, b"ready")
    while (submission := read_frame(requests)) is not None:
        restart = False
        try:
            scores = scorer.score(submission)
        except MemoryError:
            del submission
            # What is left of the heap after an allocation failure is not trusted: a fresh process follows.
            restart = True
            scores = Scores(valid=False, reason=out_of_memory_reason(memory_mb))
        write_frame(replies, json.dumps({"scores": scores.model_dump(), "restart": restart}).encode())
        if restart:
            return


def out_of_memory_reason(memory_mb: int) -> str:
    return (
        f"scoring the submission ran out of memory (limit {memory_mb} MB, hce.scoring.memory_mb): "
        "write only the columns of sample_submission.csv, one row per id"
    )


def main() -> None:
    memory_mb = int(sys.argv[1])
    if memory_mb > 0:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the replies
    serve(memory_mb, requests, replies)


if __name__ == "__main__":
    main()
