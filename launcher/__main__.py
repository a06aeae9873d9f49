"""`python -m launcher report DIR`: rebuild report.html of a run (or benchmark.html of a grid)."""

import argparse
import sys
from pathlib import Path

from launcher.html_report import write_report


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the command, return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m launcher", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser("report", help="rebuild the HTML report of a run or grid directory")
    report.add_argument(
        "directory", type=Path, help="a run directory (journal.jsonl) or a grid (benchmark.json)"
    )
    args = parser.parse_args(argv)
    try:
        written = write_report(args.directory)
    except (ValueError, OSError) as e:
        print(f"cannot write the report: {e}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
