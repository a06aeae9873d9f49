"""Reading an untrusted submission CSV: any input either parses cleanly or gives one clear reason."""

import csv
import io
import warnings

import numpy as np
import pandas as pd

DEFAULT_MAX_BYTES = 2 * 1024**3
_EXAMPLES = 3
# pandas' default missing-value spellings; applied to target cells only, so an id "NA" stays an id.
_MISSING = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A"}
    | {"NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
)


class SubmissionError(Exception):
    """A submission cannot be scored; the message names the one problem and how to fix it."""


def _examples(values: list[str]) -> str:
    shown = ", ".join(repr(v) for v in sorted(values)[:_EXAMPLES])
    return f"{shown}, ..." if len(values) > _EXAMPLES else shown


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def read_submission(
    data: bytes,
    sample: pd.DataFrame,
    id_column: str,
    target_columns: list[str],
    expected_ids: set[str] | None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    accepts_empty: bool = False,
) -> pd.DataFrame:
    """Parse and check a submission against the sample submission's columns and the expected ids.

    Returns the rows with the sample's columns in its order, ids as strings, and the target columns
    that are numeric in the sample as floats. Raises SubmissionError with one reason otherwise.
    `accepts_empty`: an empty text cell is an answer (the metric's empty span or label set), kept as "".
    """
    table = _parse(data, max_bytes)
    _check_columns(table, list(sample.columns))
    ids = table[id_column]
    _check_ids(ids, expected_ids, id_column)
    for column in target_columns:
        numeric = pd.api.types.is_numeric_dtype(sample[column])
        table[column] = _check_values(table[column], column, numeric, accepts_empty and not numeric)
    return table[list(sample.columns)].reset_index(drop=True)


def _parse(data: bytes, max_bytes: int) -> pd.DataFrame:
    if len(data) > max_bytes:
        raise SubmissionError(
            f"submission is too large ({len(data):,} bytes, limit {max_bytes:,}); write only the "
            f"columns of sample_submission.csv"
        )
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


def _check_ids(ids: pd.Series, expected: set[str] | None, id_column: str) -> None:
    blank = ids.str.strip() == ""
    if blank.any():
        raise SubmissionError(f"submission has {_count(int(blank.sum()), 'row')} with an empty {id_column!r}")
    duplicated = ids[ids.duplicated()]
    if len(duplicated):
        raise SubmissionError(
            f"submission has {_count(len(duplicated), 'duplicate id')} in {id_column!r} (e.g. "
            f"{_examples(list(set(duplicated)))}); write exactly one row per test id"
        )
    if expected is None:
        return
    # tolist() first: iterating an Arrow-backed string column item by item is three times slower.
    given = set(ids.tolist())
    missing = list(expected - given)
    if missing:
        raise SubmissionError(
            f"submission is missing {_count(len(missing), 'id')} of test.csv (e.g. {_examples(missing)}); "
            f"predict every row of test.csv"
        )
    extra = list(given - expected)
    if extra:
        raise SubmissionError(
            f"submission has {_count(len(extra), 'unknown id')} not in test.csv (e.g. {_examples(extra)}); "
            f"use the {id_column!r} values of test.csv unchanged"
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
