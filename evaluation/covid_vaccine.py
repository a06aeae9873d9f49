"""HCE for stanford-covid-vaccine: RNA molecules in JSON lines, scored per base position.

mle-bench's prepare.py writes `train.json` and `test.json` (one molecule per line; the labelled ones
carry five per-base target lists over their first `seq_scored` positions), `sample_submission.csv`
with one row per base (`id_seqpos` = `<id>_<position>`, every position up to `seq_length`) and the
answers `prepared/private/test.csv` with a `keep` column: only the first `seq_scored` positions count.

The unit HCE splits is the molecule, kept whole: its positions share one sequence, so a molecule cut
across splits would hand the agent the labels of its neighbouring bases. As prepare.py does for its
test set, only molecules that pass the signal-to-noise filter (`SN_filter` 1) are ever hidden; the
others always stay in D_train. A hidden molecule appears in the agent's `test.json` with test.json's
columns only, under an opaque id, and its positions as `<opaque id>_<position>`.
"""

from pathlib import Path

import pandas as pd

from evaluation._opaque import opaque_ids, opaque_key
from evaluation.grading import numeric_answer_columns, read_sample
from evaluation.hce import HiddenConsistentEvaluation, typed_answers
from evaluation.scoring import SCORED_SPLITS
from evaluation.split_store import saved_split
from evaluation.splits import hce_split
from evaluation.task import Task, TaskError

ID, POSITION_ID, KEEP = "id", "id_seqpos", "keep"
SCORED_LENGTH, LENGTH, SN_FILTER = "seq_scored", "seq_length", "SN_filter"

_NOTE = """

## Note on this copy of the task

`train.json` holds the labelled molecules available to you. The labels of the molecules of
`test.json` are hidden and their ids are opaque. Predict every position `<id>_<k>` of
`sample_submission.csv` and write a submission with exactly its columns, one row per position.
"""


def _read_lines(path: Path) -> pd.DataFrame:
    try:
        return pd.read_json(path, lines=True, dtype={ID: str})
    except ValueError as e:
        raise TaskError(f"{path} is not readable JSON lines, one molecule per line ({e})") from None


def _require(table: pd.DataFrame, columns: list[str], path: Path) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise TaskError(
            f"{path} lacks the field(s) {missing} that stanford-covid-vaccine's prepare.py writes; "
            "prepare the competition again with `mlebench prepare -c stanford-covid-vaccine`"
        )


def position_answers(molecules: pd.DataFrame, targets: list[str]) -> pd.DataFrame:
    """One answer row per base of each molecule, as prepare.py explodes its test molecules: the
    targets of the first `seq_scored` positions with keep True, 0.0 and keep False after them."""
    rows: list[dict[str, object]] = []
    for _, molecule in molecules.iterrows():
        scored, length = int(molecule[SCORED_LENGTH]), int(molecule[LENGTH])
        for column in targets:
            if len(molecule[column]) != scored:
                raise TaskError(
                    f"molecule {molecule[ID]}: {column} has {len(molecule[column])} values for "
                    f"seq_scored={scored}; the labelled molecules' lists must have seq_scored values"
                )
        for k in range(length):
            row: dict[str, object] = {POSITION_ID: f"{molecule[ID]}_{k}"}
            row.update({c: float(molecule[c][k]) if k < scored else 0.0 for c in targets})
            row[KEEP] = str(k < scored)
            rows.append(row)
    return pd.DataFrame(rows, columns=[POSITION_ID, *targets, KEEP])


def _molecule_of(position_ids: pd.Series) -> pd.Series:
    return position_ids.str.rsplit("_", n=1).str[0]


def _positions_of(molecule: str, opaque: str, length: int) -> list[tuple[str, str]]:
    return [(f"{molecule}_{k}", f"{opaque}_{k}") for k in range(length)]


class CovidVaccineHCE(HiddenConsistentEvaluation):
    """HCE whose unit is a molecule of `train.json` and whose scored rows are its base positions."""

    folds_hidden = True  # hce.enabled=false: its copy is written from _split alone

    def __init__(
        self, task: Task, split_seed: int, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    ) -> None:
        self._start(task, split_seed, fractions)
        spec = task.spec
        train, test = _read_lines(task.train_csv), _read_lines(task.test_csv)
        _require(train, [ID, SCORED_LENGTH, LENGTH, SN_FILTER, *self._targets], task.train_csv)
        _require(test, [ID, SCORED_LENGTH, LENGTH], task.test_csv)
        for path, table in ((task.train_csv, train), (task.test_csv, test)):
            if table[ID].duplicated().any():
                raise TaskError(f"{path}: molecule id {table[ID][table[ID].duplicated()].iloc[0]!r} repeats")
        self._train = train.set_index(ID, drop=False)
        self._test = test.set_index(ID, drop=False)
        self._split = saved_split(task, split_seed, fractions, lambda: self._new_split(train))
        self._split["test"] = list(test[ID])
        self._sample = read_sample(task.sample_submission_csv, self._id, self.metric)
        answers = pd.read_csv(task.answers_csv, dtype=str, keep_default_na=False)
        typed = numeric_answer_columns(spec, self.metric)
        test_answers = answers[_molecule_of(answers[self._id]).isin(set(self._split["test"]))]
        self._answers = {
            "search": typed_answers(
                position_answers(self._train.loc[self._split["search"]], self._targets), typed
            ),
            "val": typed_answers(position_answers(self._train.loc[self._split["val"]], self._targets), typed),
            "test": typed_answers(test_answers, typed),
        }
        units = [(name, mol) for name in SCORED_SPLITS for mol in self._split[name]]
        self._unit_opaque = opaque_ids(opaque_key(split_seed, task.answers_csv), units)
        self._opaque: dict[tuple[str, str], str] = {}
        for name in SCORED_SPLITS:
            lengths = (self._test if name == "test" else self._train)[LENGTH].astype(int).to_dict()
            for mol in self._split[name]:
                for original, hidden in _positions_of(mol, self._unit_opaque[(name, mol)], lengths[mol]):
                    self._opaque[(name, original)] = hidden
        unanswered = set(self._answers["test"][self._id]) ^ {
            original for (name, original) in self._opaque if name == "test"
        }
        if unanswered:
            raise TaskError(
                f"{task.answers_csv} and {task.test_csv} disagree on {len(unanswered)} position(s) "
                f"(e.g. {sorted(unanswered)[0]!r}); every position of every test molecule needs one answer"
            )
        self._scorer = None

    def _new_split(self, train: pd.DataFrame) -> dict[str, list[str]]:
        passes = pd.to_numeric(train[SN_FILTER], errors="coerce") > 0
        try:
            split = hce_split(list(train.loc[passes, ID]), None, self.split_seed, self.fractions)
        except ValueError as e:
            raise TaskError(f"{self.task.train_csv}: {e}") from None
        held = set(split["search"]) | set(split["val"])
        split["train"] = [mol for mol in train[ID] if mol not in held]
        return split

    def write_public(self, dest: Path) -> None:
        """The agent's copy as prepare.py lays it out: train.json (D_train), test.json (every hidden
        molecule, test.json's fields, opaque ids), sample_submission.csv (their positions)."""
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        description = self.task.description_md.read_text(encoding="utf-8").rstrip()
        (dest / "description.md").write_text(description + _NOTE, encoding="utf-8")
        train = self._train.loc[self._split["train"]].reset_index(drop=True)
        if "index" in train.columns:
            train["index"] = range(len(train))
        train.to_json(dest / "train.json", orient="records", lines=True)
        columns = list(self._test.columns)
        parts = []
        for name in SCORED_SPLITS:
            source = self._test if name == "test" else self._train
            rows = source.loc[self._split[name], columns].copy()
            rows[ID] = [self._unit_opaque[(name, mol)] for mol in self._split[name]]
            parts.append(rows)
        test = pd.concat(parts).reset_index(drop=True).sort_values(ID).reset_index(drop=True)
        if "index" in test.columns:
            test["index"] = range(len(test))
        test.to_json(dest / "test.json", orient="records", lines=True)
        lengths = zip(test[ID], test[LENGTH], strict=True)
        positions = [f"{mol}_{k}" for mol, length in lengths for k in range(int(length))]
        sample = pd.DataFrame({POSITION_ID: positions, **dict.fromkeys(self._targets, 0.0)})
        sample.to_csv(dest / "sample_submission.csv", index=False, float_format="%.10f")

    def write_refit(self, dest: Path) -> None:
        """The refit's copy: every labelled molecule in train.json, the D_test molecules in test.json."""
        self._write_folded(dest)
