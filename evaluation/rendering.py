"""One text rendering for the cells of the agent's test.csv, whichever file each row came from.

The agent's test inputs mix rows of train.csv (D_search, D_val) with rows of the competition's
test.csv (D_test). Copied as text, each keeps its file's formatting ("3.0" against "3", "1e-05"
against "0.00001"), and that alone would tell the competition's test rows from the rest. Numeric
columns are therefore rewritten in one canonical form; other columns are text either way.
"""

import math

import pandas as pd


def canonical_number(value: float) -> str:
    """The shortest text that reads back as `value`: integers without a fraction, else repr."""
    if math.isfinite(value) and value == int(value) and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def render_uniformly(table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """`table` (text cells) with every column of `columns` whose non-empty cells are all numbers
    written canonically; empty cells stay empty, other columns stay as they are."""
    table = table.copy()
    for column in columns:
        cells = table[column]
        filled = cells != ""
        numbers = pd.to_numeric(cells[filled], errors="coerce")
        if numbers.isna().any():
            continue  # text (or mixed): its cells read the same in both files' conventions
        table.loc[filled, column] = [canonical_number(float(v)) for v in numbers]
    return table
