"""Reading an untrusted submission CSV: any input either parses cleanly or gives one clear reason."""

import csv
import io
import warnings
from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

DEFAULT_MAX_BYTES = 2 * 1024**3
_EXAMPLES = 3
# pandas' default missing-value spellings; applied to target cells only, so an id "NA" stays an id.
_MISSING = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A"}
    | {"NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
)
_MISSING_ARROW = pa.array(sorted(_MISSING))
# Joins the cells of a row's key columns into one key string (a character no id or class name holds).
KEY_SEPARATOR = "\x1f"


class SubmissionError(Exception):
    """A submission cannot be scored; the message names the one problem and how to fix it."""


def _examples(values: list[str]) -> str:
    shown = ", ".join(repr(v.replace(KEY_SEPARATOR, " / ")) for v in sorted(values)[:_EXAMPLES])
    return f"{shown}, ..." if len(values) > _EXAMPLES else shown


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


class ExpectedIds:
    """The ids a submission must hold, each exactly once, in a fixed order; built once per task."""

    def __init__(self, ids: Sequence[str]) -> None:
        self.array = pa.array(list(ids), type=pa.string())
        if pc.count_distinct(self.array).as_py() != len(self.array):
            raise ValueError("expected ids must be unique")

    def __len__(self) -> int:
        return len(self.array)

    def positions(self, ids: pd.Series) -> np.ndarray:
        """Each id's position in the expected order, -1 for an id that is not expected (a hash lookup)."""
        found = pc.index_in(pa.array(ids, type=pa.string()), self.array)
        return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.intp)

    def as_set(self) -> set[str]:
        return set(self.array.to_pylist())


def row_keys(table: pd.DataFrame, id_column: str, key_columns: Sequence[str] = ()) -> pd.Series:
    """What keys each row: its id, or, where the id repeats (uw-madison: a slice's id once per organ
    class), the id and the `key_columns` joined by KEY_SEPARATOR."""
    keys = table[id_column].astype(str)
    for column in key_columns:
        keys = keys + KEY_SEPARATOR + table[column].astype(str)
    return keys


def read_submission(
    data: bytes,
    sample: pd.DataFrame,
    id_column: str,
    target_columns: list[str],
    expected_ids: Collection[str] | ExpectedIds | None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    accepts_empty: bool = False,
    key_columns: Sequence[str] = (),
) -> pd.DataFrame:
    """Parse and check a submission against the sample submission's columns and the expected ids.

    Returns the rows with the sample's columns in its order, ids as strings, and the target columns
    that are numeric in the sample as floats. Raises SubmissionError with one reason otherwise.
    `accepts_empty`: an empty text cell is an answer (the metric's empty span or label set), kept as "".
    `key_columns`: where ids repeat, the columns that key a row with the id (`row_keys`); the expected
    ids are then such keys.
    """
    expected = None if expected_ids is None else _as_expected(expected_ids)
    keys = tuple(key_columns)
    return _read(data, sample, id_column, target_columns, expected, max_bytes, accepts_empty, keys)[0]


def locate_submission(
    data: bytes,
    sample: pd.DataFrame,
    id_column: str,
    target_columns: list[str],
    expected: ExpectedIds,
    max_bytes: int = DEFAULT_MAX_BYTES,
    accepts_empty: bool = False,
    key_columns: Sequence[str] = (),
) -> tuple[pd.DataFrame, np.ndarray]:
    """`read_submission`, and each row's position in `expected` (the ids are exactly those, each once)."""
    keys = tuple(key_columns)
    table, positions = _read(
        data, sample, id_column, target_columns, expected, max_bytes, accepts_empty, keys
    )
    if positions is None:
        positions = expected.positions(row_keys(table, id_column, keys))
    return table, positions


def _as_expected(ids: Collection[str] | ExpectedIds) -> ExpectedIds:
    return ids if isinstance(ids, ExpectedIds) else ExpectedIds(sorted(ids))


def _read(
    data: bytes,
    sample: pd.DataFrame,
    id_column: str,
    target_columns: list[str],
    expected: ExpectedIds | None,
    max_bytes: int,
    accepts_empty: bool = False,
    key_columns: tuple[str, ...] = (),
) -> tuple[pd.DataFrame, np.ndarray | None]:
    if len(data) > max_bytes:
        raise SubmissionError(
            f"submission is too large ({len(data):,} bytes, limit {max_bytes:,}); write only the "
            f"columns of sample_submission.csv"
        )
    numeric = {c: pd.api.types.is_numeric_dtype(sample[c]) for c in target_columns}
    fast = _read_well_formed(data, list(sample.columns), id_column, numeric, expected, key_columns)
    if fast is not None:
        return fast
    # Something is wrong or unusual: the careful reader finds it and names it.
    table = _parse(data)
    _check_columns(table, list(sample.columns))
    _check_blank(table[id_column], id_column)
    keys = row_keys(table, id_column, key_columns)
    _check_ids(keys, None if expected is None else expected.as_set(), id_column, key_columns)
    for column in target_columns:
        table[column] = _check_values(
            table[column], column, numeric[column], accepts_empty and not numeric[column]
        )
    return table[list(sample.columns)].reset_index(drop=True), None


def _read_well_formed(
    data: bytes,
    columns: list[str],
    id_column: str,
    numeric: dict[str, bool],
    expected: ExpectedIds | None,
    key_columns: tuple[str, ...] = (),
) -> tuple[pd.DataFrame, np.ndarray | None] | None:
    """The checked table of a submission with no problem at all, read by Arrow's columnar CSV reader
    (a 1,000,000-row file in about a second), with each row's position in `expected`; None at the
    first sign of any problem.

    Every check of the careful path is repeated here in vectorised form, so that a table this returns is
    one the careful path accepts unchanged.
    """
    types = {c: pa.float64() if numeric.get(c) else pa.string() for c in columns}
    try:
        arrow = pa_csv.read_csv(
            pa.py_buffer(data),
            convert_options=pa_csv.ConvertOptions(column_types=types, strings_can_be_null=False),
        )
        names = arrow.column_names  # decoded here: a header that is not UTF-8 raises
    except MemoryError:
        raise
    except (pa.ArrowException, ValueError):
        return None
    if sorted(names) != sorted(columns) or arrow.num_rows == 0:
        return None
    for column in columns:
        values = arrow.column(column)
        if numeric.get(column):
            if values.null_count or not pc.all(pc.is_finite(values)).as_py():
                return None
        elif (
            column != id_column and pc.any(pc.is_in(pc.utf8_trim_whitespace(values), _MISSING_ARROW)).as_py()
        ):
            return None
    ids = arrow.column(id_column)
    if pc.any(pc.equal(pc.utf8_trim_whitespace(ids), "")).as_py():
        return None
    if key_columns:
        if any(numeric.get(c) for c in key_columns):
            return None
        ids = pc.binary_join_element_wise(ids, *(arrow.column(c) for c in key_columns), KEY_SEPARATOR)
    positions = None
    if expected is None:
        if pc.count_distinct(ids).as_py() != len(ids):
            return None
    else:
        if len(ids) != len(expected):
            return None
        found = pc.index_in(ids, expected.array)
        if found.null_count:
            return None
        positions = np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.intp)
        # As many rows as expected ids, each found once: the ids are exactly the expected ones.
        if np.bincount(positions, minlength=len(expected)).max() != 1:
            return None
    return arrow.select(columns).to_pandas(), positions


def _parse(data: bytes) -> pd.DataFrame:
    if not data.strip():
        raise SubmissionError("submission is empty; write a header line and one row per test id")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SubmissionError("submission is not a UTF-8 text CSV; write it with pandas' to_csv") from None
    try:
        # Everything as text first: ids stay exactly as written and bad numbers can be reported.
        # index_col=False and the warning as an error: a row longer than the header is an error,
        # not a silent shift of the first cells into an index.
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            table = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, index_col=False)
    except (ValueError, csv.Error, pd.errors.ParserError, pd.errors.ParserWarning) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SubmissionError(f"submission is not parseable as CSV ({first})") from None
    if table.empty:
        raise SubmissionError("submission has a header but no rows; write one row per test id")
    return table


def _check_columns(table: pd.DataFrame, expected: list[str]) -> None:
    missing = [c for c in expected if c not in table.columns]
    if missing:
        raise SubmissionError(
            f"submission lacks the column(s) {', '.join(map(repr, missing))}; its header must be "
            f"{','.join(expected)} (as in sample_submission.csv)"
        )
    extra = [str(c) for c in table.columns if c not in expected]
    if extra:
        raise SubmissionError(
            f"submission has unexpected column(s) {', '.join(map(repr, extra))}; its header must be "
            f"{','.join(expected)} (as in sample_submission.csv); drop the index with to_csv(index=False)"
        )


def _check_blank(ids: pd.Series, id_column: str) -> None:
    blank = ids.str.strip() == ""
    if blank.any():
        raise SubmissionError(f"submission has {_count(int(blank.sum()), 'row')} with an empty {id_column!r}")


def _check_ids(
    ids: pd.Series, expected: set[str] | None, id_column: str, key_columns: tuple[str, ...] = ()
) -> None:
    """`ids`: each row's key (`row_keys`), unique and, when `expected` is given, exactly those."""
    where = repr(id_column) if not key_columns else " and ".join(map(repr, (id_column, *key_columns)))
    noun = "id" if not key_columns else "key"
    duplicated = ids[ids.duplicated()]
    if len(duplicated):
        raise SubmissionError(
            f"submission has {_count(len(duplicated), 'duplicate ' + noun)} in {where} (e.g. "
            f"{_examples(list(set(duplicated)))}); write exactly one row per test {noun}"
        )
    if expected is None:
        return
    # tolist() first: iterating an Arrow-backed string column item by item is three times slower.
    given = set(ids.tolist())
    missing = list(expected - given)
    extra = list(given - expected)
    # The test rows are test.csv's, or the sample submission's where a task has no test.csv (nfl).
    unchanged = f"use the {where} values of the test rows (test.csv, else sample_submission.csv) unchanged"
    if missing and extra:  # rows rewritten rather than dropped (1591802000442 written as 1591802000442.0)
        raise SubmissionError(
            f"submission is missing {_count(len(missing), noun)} of the test rows "
            f"(e.g. {_examples(missing)}) and has {_count(len(extra), 'unknown ' + noun)} "
            f"(e.g. {_examples(extra)}); {unchanged}"
        )
    if missing:
        raise SubmissionError(
            f"submission is missing {_count(len(missing), noun)} of the test rows "
            f"(e.g. {_examples(missing)}); predict every test row (test.csv, else sample_submission.csv)"
        )
    if extra:
        raise SubmissionError(
            f"submission has {_count(len(extra), 'unknown ' + noun)} not among the test rows "
            f"(e.g. {_examples(extra)}); {unchanged}"
        )


def _check_values(values: pd.Series, column: str, numeric: bool, accepts_empty: bool) -> pd.Series:
    if accepts_empty:
        return values
    empty = values.str.strip().isin(_MISSING)
    if numeric:
        numbers = pd.to_numeric(values, errors="coerce")
        not_numbers = numbers.isna() & ~empty
        if not_numbers.any():
            raise SubmissionError(
                f"column {column!r} must hold numbers (as in sample_submission.csv) but has "
                f"{_count(int(not_numbers.sum()), 'non-numeric value')} (e.g. "
                f"{_examples(list(set(values[not_numbers])))})"
            )
        values = numbers.astype(float)
    if empty.any():
        raise SubmissionError(
            f"column {column!r} has {_count(int(empty.sum()), 'empty or NaN value')}; "
            f"predict a value for every row"
        )
    if numeric:
        infinite = np.isinf(values.to_numpy(dtype=float))
        if infinite.any():
            raise SubmissionError(
                f"column {column!r} has {_count(int(infinite.sum()), 'infinite value')}; "
                f"predict finite numbers"
            )
    return values
