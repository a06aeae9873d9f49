"""`python -m evaluation.bundled [--cache-dir DIR] [NAME ...]`: build the offline tasks into the cache."""

import argparse
import os
import time
from pathlib import Path

from evaluation.bundled import build_all, bundled_names


def main() -> None:
    """Build the named bundled tasks (all by default) and print where each one is."""
    default_cache = Path(os.environ.get("AIRA_CACHE", Path.home() / ".cache" / "aira"))
    parser = argparse.ArgumentParser(prog="python -m evaluation.bundled", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"one of {', '.join(bundled_names())}")
    parser.add_argument("--cache-dir", type=Path, default=default_cache)
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(bundled_names()))
    if unknown:
        parser.error(f"unknown task(s) {', '.join(unknown)}; bundled tasks: {', '.join(bundled_names())}")
    start = time.perf_counter()
    for name, path in build_all(args.cache_dir, args.names or None).items():
        print(f"{name}: {path}")
    print(f"done in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
