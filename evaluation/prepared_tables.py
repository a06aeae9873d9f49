"""Reading a CSV that a competition's prepare.py writes, for the layouts' adapters: as text, so a copy
reproduces every cell exactly, with one clear error when the file is missing, unreadable or short of a
column."""

from pathlib import Path

import pandas as pd

from evaluation.task import TaskError


def read_text(path: Path) -> pd.DataFrame:
    """A CSV's cells as text, exactly as written (no missing-value conversion)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def read_prepared(path: Path, columns: list[str], competition: str) -> pd.DataFrame:
    """The CSV at `path` as text; TaskError naming the file (and `competition`'s prepare.py, which
    writes it) when it is missing, unreadable or lacks one of `columns`."""
    try:
        table = read_text(path)
    except FileNotFoundError:
        raise TaskError(f"{path} is missing; {competition}'s prepare.py writes it") from None
    except (OSError, ValueError) as e:
        raise TaskError(f"{path} is not a readable CSV ({e})") from None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise TaskError(f"{path} lacks the column(s) {missing} that {competition}'s prepare.py writes")
    return table
