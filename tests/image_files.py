"""Helpers for the image and file-per-row fixtures: tiny images that encode a row's class as a grey
level, opaque-looking ids, and checks that no hidden id shows in a copy."""

import re
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
from PIL import Image

SEED = 2603
N_LABELLED, N_TEST = 100, 24


def write_image(path: Path, k: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (8, 8), 30 + 60 * k).save(path)


def read_class(path: Path | IO[bytes]) -> int:
    with Image.open(path) as image:
        return round((float(np.mean(np.asarray(image.convert("L")))) - 30) / 60)


def hex_ids(rng: np.random.Generator, n: int, digits: int, suffix: str = "") -> list[str]:
    return [f"{k:0{digits}x}{suffix}" for k in rng.choice(16**8, n, replace=False) * 7919]


def records(table: pd.DataFrame) -> list[dict[str, str]]:
    return [{str(c): str(v) for c, v in row.items()} for _, row in table.iterrows()]


def mentions(blob: bytes, row_id: str) -> bool:
    """Whether the id occurs as a whole token (Train_6 is not in Train_60)."""
    return (
        re.search(rb"(?<![A-Za-z0-9])" + re.escape(row_id.encode()) + rb"(?![A-Za-z0-9])", blob) is not None
    )


def every_file(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink())
