"""HCE for competitions whose rows are the records of a JSON list (random-acts-of-pizza).

mle-bench's prepare.py writes `train.json` (a list of records with every field, the label
`requester_received_pizza` a boolean among them), `test.json` (the test records with the fields of
Kaggle's test set only: no label, and none of the fields known only after the request, such as the
requester's flair or the post's later votes), both zipped as well (`train.zip`, `test.zip`), the
answers `prepared/private/test.csv` (request_id, 0 or 1) and `sampleSubmission.csv`.

A record is the unit: D_search and D_val are records of train.json. The agent's `train.json` holds
the D_train records whole; its `test.json` every hidden record (D_search, D_val, D_test) with
test.json's fields only and an opaque `request_id`, in an order that says nothing of the split. So a
field that would give a labelled record's outcome away (its flair, its later comments) never reaches
the agent for a hidden record, exactly as for the competition's own test records.
"""

import json
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd

from evaluation.hce import HiddenConsistentEvaluation
from evaluation.row_archives import member_info
from evaluation.scoring import SCORED_SPLITS
from evaluation.task import TaskError

_NOTE = """

## Note on this copy of the task

`train.json` holds the labelled records available to you. The labels of the records of `test.json`
are hidden and their ids are opaque; they have the fields of the competition's test set only. Predict
every record of `test.json` and write a submission with exactly the columns of `{sample}`, one row per
id.
"""


def _records(path: Path, id_column: str) -> list[dict[str, Any]]:
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise TaskError(f"{path} is not a readable JSON file ({e})") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) and id_column in r for r in records):
        raise TaskError(f"{path} must be a JSON list of records, each with its {id_column!r}")
    return records


def _label(value: object) -> str:
    """A record's label as the answers write it: booleans as 0 and 1."""
    return str(int(value)) if isinstance(value, bool) else str(value)


class JsonRecordsHCE(HiddenConsistentEvaluation):
    """HCE whose labelled rows are the records of train_file, a JSON list."""

    folds_hidden = True  # hce.enabled=false: its copy is written from _split alone

    def _read_rows(self, answers: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        target = self._targets[0]
        train = _records(self.task.train_csv, self._id)
        test = _records(self.task.test_csv, self._id)
        unlabelled = [r[self._id] for r in train if target not in r]
        if unlabelled:
            raise TaskError(f"{self.task.train_csv}: record {unlabelled[0]!r} has no {target!r}")
        self._test_fields = list(test[0]) if test else [self._id]
        leaked = [f for f in self._targets if f in self._test_fields]
        if leaked:
            raise TaskError(f"{self.task.test_csv}: its records hold the label field(s) {leaked}")
        self._records = {str(r[self._id]): r for r in train}
        self._test_records = {str(r[self._id]): r for r in test}
        rows = pd.DataFrame(
            {self._id: [str(r[self._id]) for r in train], target: [_label(r[target]) for r in train]}
        )
        return rows, pd.DataFrame({self._id: [str(r[self._id]) for r in test]})

    def _hidden_records(self, splits: tuple[str, ...]) -> list[dict[str, Any]]:
        """The hidden records of `splits`, cut to the test fields, under opaque ids, sorted by them."""
        out = []
        for name in splits:
            source = self._test_records if name == "test" else self._records
            for row_id in self._split[name]:
                record = {f: source[row_id][f] for f in self._test_fields if f in source[row_id]}
                record[self._id] = self._opaque[(name, row_id)]
                out.append(record)
        return sorted(out, key=lambda r: str(r[self._id]))

    def _write(self, dest: Path, train_ids: list[str], hidden: list[dict[str, Any]]) -> None:
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        description = self.task.description_md.read_text(encoding="utf-8").rstrip()
        (dest / "description.md").write_text(
            description + _NOTE.format(sample=self.task.spec.sample_file), encoding="utf-8"
        )
        for name, records in (
            (self.task.spec.train_file, [self._records[i] for i in train_ids]),
            (self.task.spec.test_file, hidden),
        ):
            text = json.dumps(records, indent=4)
            (dest / name).write_text(text, encoding="utf-8")
            # prepare.py zips each file too (train.json -> train.zip, its one member train.json).
            with zipfile.ZipFile(dest / (Path(name).stem + ".zip"), "w", zipfile.ZIP_DEFLATED) as z:
                z.writestr(member_info(name), text)
        ids = [str(r[self._id]) for r in hidden]
        self._write_sample(dest, pd.DataFrame({self._id: ids}))

    def write_public(self, dest: Path) -> None:
        """The agent's copy: train.json (D_train), test.json (every hidden record), their zips, the
        sample submission."""
        self._write(dest, self._split["train"], self._hidden_records(SCORED_SPLITS))

    def write_refit(self, dest: Path) -> None:
        """The refit's copy: every labelled record in train.json, the D_test records in test.json."""
        labelled = [i for name in ("train", "search", "val") for i in self._split[name]]
        self._write(dest, labelled, self._hidden_records(("test",)))
