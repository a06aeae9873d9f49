"""Build every offline task of `benchmark=local` from scratch and time it (issue: under 10 minutes here).

Usage: python bench/grading_build_local.py
Builds twice into two fresh cache directories and checks that both builds are byte-identical.
"""

import hashlib
import sys
import tempfile
import time
from pathlib import Path

from evaluation.bundled import build_all

LIMIT_S = 600


def _digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        timings = []
        digests = []
        for attempt in ("first", "second"):
            cache = Path(tmp) / attempt
            started = time.perf_counter()
            built = build_all(cache)
            timings.append(time.perf_counter() - started)
            digests.append(_digest(cache / "tasks"))
        print(f"tasks: {', '.join(built)} ({len(built)})")
        print(f"build time: {timings[0]:.1f} s (second build {timings[1]:.1f} s), limit {LIMIT_S} s")
        print(f"deterministic: {digests[0] == digests[1]} (sha256 {digests[0][:16]}...)")
        return 0 if digests[0] == digests[1] and max(timings) < LIMIT_S else 1


if __name__ == "__main__":
    sys.exit(main())
