"""HCE for h-and-m-personalized-fashion-recommendations: each customer's purchases in the week after the
transactions end, from the transactions before.

mle-bench's prepare.py writes, under prepared/public, `transactions_train.csv` (t_dat, customer_id,
article_id, price, sales_channel_id: a row per purchase, the last 8 days of the original file cut
off), `articles.csv`, `customers.csv`, `images/` and `sample_submission.csv` (customer_id,
prediction: every customer, so the file does not tell who bought in the test week); the answers
`prepared/private/answers.csv` hold, for each customer who bought in those 8 days, the article ids
bought, separated by spaces. Only those customers are scored (MAP@12).

The hidden rows of HCE come from time, as prepare.py's did: the agent's copy of transactions_train.csv
ends 8 days earlier still, and the customers who bought in those 8 days are split by a keyed hash
into D_search and D_val (in the ratio of the search and val fractions), their purchases the answers.
A submission predicts every customer of the sample, under their own ids (the ids are what the
transactions are keyed by); each split scores its customers, and a customer who bought in both weeks
is scored in D_search or D_val and in D_test by the same row. So the search's D_test score is that of
a prediction made a week earlier than the competition's; the refit (hce.refit_final), whose copy
holds every transaction, is scored on D_test as the competition scores it.
"""

import hashlib
import hmac
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from evaluation._opaque import split_key
from evaluation.grading import read_sample
from evaluation.hce import HiddenConsistentEvaluation, _read_text
from evaluation.row_files import copy_public_files, place_file
from evaluation.scoring import SCORED_SPLITS, HCEScorer
from evaluation.task import Task, TaskError

DAY, CUSTOMER, ARTICLE, PREDICTION = "t_dat", "customer_id", "article_id", "prediction"
# prepare.py's test window: the last day and the seven before it.
WINDOW_DAYS = 7
# Public files of the copy besides the transactions and the sample, as they are (images/ if present).
OTHER_FILES = ("articles.csv", "customers.csv")

_NOTE = """

## Note on this copy of the task

`transactions_train.csv` holds the purchases available to you; it ends earlier than the competition's
copy, and the purchases of the days after it are hidden. Predict, for every `customer_id` of
`sample_submission.csv`, up to 12 `article_id`s (separated by spaces, most likely first) the
customer will buy in the 7 days after the transactions end, and write a submission with exactly the
columns of `sample_submission.csv`, one row per customer.
"""


def _batches(path: Path, columns: list[str]) -> Iterator[pa.RecordBatch]:
    """`columns` of a CSV as text, streamed in batches (a 3.5 GB file never in memory at once)."""
    options = pa_csv.ConvertOptions(include_columns=columns, column_types=dict.fromkeys(columns, pa.string()))
    reader = pa_csv.open_csv(
        path, read_options=pa_csv.ReadOptions(block_size=1 << 26), convert_options=options
    )
    yield from reader


def window_start(last_day: str) -> str:
    """The first day of prepare.py's window ending on `last_day` (ISO dates)."""
    return (date.fromisoformat(last_day) - timedelta(days=WINDOW_DAYS)).isoformat()


def bought_since(path: Path, first_day: str) -> pd.DataFrame:
    """Each customer who bought on `first_day` or later, and the article ids bought (as written,
    separated by spaces, in the file's order), as prepare.py builds its answers."""
    parts = []
    for batch in _batches(path, [DAY, CUSTOMER, ARTICLE]):
        kept = batch.filter(pc.greater_equal(batch.column(DAY), first_day))
        parts.append(kept.select([CUSTOMER, ARTICLE]).to_pandas())
    rows = pd.concat(parts, ignore_index=True)
    grouped = rows.groupby(CUSTOMER, sort=False)[ARTICLE].agg(" ".join)
    return grouped.rename(PREDICTION).reset_index()


def copy_before(source: Path, target: Path, first_day: str) -> None:
    """The lines of a transactions CSV dated before `first_day`, byte for byte, header included."""
    limit = first_day.encode()
    with source.open("rb") as lines, target.open("wb") as out:
        header = lines.readline()
        position = header.rstrip(b"\r\n").split(b",").index(DAY.encode())
        out.write(header)
        for line in lines:
            if line.split(b",", position + 1)[position] < limit:
                out.write(line)


class PurchaseWeeksHCE(HiddenConsistentEvaluation):
    """HCE whose hidden rows are the customers who bought in the week its copy leaves out."""

    folds_hidden = True  # hce.enabled=false: its copy is written from _split alone

    def __init__(
        self, task: Task, split_seed: int, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    ) -> None:
        self._start(task, split_seed, fractions)
        transactions = task.train_csv
        try:
            header = pd.read_csv(transactions, nrows=0).columns
            missing = [c for c in (DAY, CUSTOMER, ARTICLE) if c not in header]
            if missing:
                raise TaskError(
                    f"{transactions} lacks the column(s) {missing} that h-and-m's prepare.py writes"
                )
            last = None
            for batch in _batches(transactions, [DAY]):
                most = pc.max(batch.column(DAY)).as_py()
                last = most if last is None or (most is not None and most > last) else last
            if last is None:
                raise TaskError(f"{transactions} holds no transaction")
            self._first_hidden = window_start(last)
            week = bought_since(transactions, self._first_hidden)
        except FileNotFoundError:
            raise TaskError(f"{transactions} is missing; h-and-m's prepare.py writes it") from None
        except (OSError, ValueError, pa.ArrowException) as e:
            raise TaskError(f"{transactions} is not a readable transactions CSV ({e})") from None
        answers = _read_text(task.answers_csv)
        sample = _read_text(task.sample_submission_csv)
        for path, table in ((task.answers_csv, answers), (task.sample_submission_csv, sample)):
            if list(table.columns[:2]) != [CUSTOMER, PREDICTION] or table[CUSTOMER].duplicated().any():
                raise TaskError(f"{path} must have the columns customer_id, prediction, one row per customer")
        customers = set(sample[CUSTOMER])
        for path, table in ((transactions, week), (task.answers_csv, answers)):
            unknown = sorted(set(table[CUSTOMER]) - customers)
            if unknown:
                raise TaskError(
                    f"{path} has customer {unknown[0]!r} (and {len(unknown) - 1} more) that "
                    f"{task.sample_submission_csv} lacks; the sample lists every customer"
                )
        self._required = list(sample[CUSTOMER])
        self._split = self._customer_split(list(week[CUSTOMER]))
        self._split["test"] = list(answers[CUSTOMER])
        self._sample_text = sample
        self._sample = read_sample(task.sample_submission_csv, self._id, self.metric)
        by_customer = week.set_index(CUSTOMER, drop=False)
        self._answers = {
            name: by_customer.loc[self._split[name], [CUSTOMER, PREDICTION]].reset_index(drop=True)
            for name in ("search", "val")
        }
        self._answers["test"] = answers[[CUSTOMER, PREDICTION]].reset_index(drop=True)
        # Customers keep their ids: the transactions are keyed by them.
        self._opaque = {(name, c): c for name in SCORED_SPLITS for c in self._split[name]}
        self._scorer: HCEScorer | None = None
        self._hide_week = True  # False once the hidden week is folded in (hce.enabled=false)

    def _customer_split(self, customers: list[str]) -> dict[str, list[str]]:
        """The hidden week's customers, to D_search and D_val by a keyed hash in the ratio of their
        fractions; D_train is the transactions before the week, no customer of its own."""
        key = split_key(self.split_seed, self.task.answers_csv)
        share = self.fractions[1] / (self.fractions[1] + self.fractions[2])
        threshold = int(share * 2**64)
        split: dict[str, list[str]] = {"train": [], "search": [], "val": []}
        for customer in customers:
            digest = hmac.new(key, f"customer\x00{customer}".encode(), hashlib.sha256).digest()
            split["search" if int.from_bytes(digest[:8], "big") < threshold else "val"].append(customer)
        if not split["search"] or not split["val"]:
            raise TaskError(
                f"{self.task.train_csv}: {len(customers)} customer(s) bought in the hidden week from "
                f"{self._first_hidden}; D_search and D_val need at least one each"
            )
        return split

    def scorer(self) -> HCEScorer:
        """The scorer: every customer of the sample required, each split scoring its own."""
        if self._scorer is None:
            self._scorer = HCEScorer(
                self.task.spec,
                self.metric,
                self._sample,
                self._answers,
                self._opaque,
                required=self._required,
            )
        return self._scorer

    def _write(self, dest: Path, hide_week: bool) -> None:
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        description = self.task.description_md.read_text(encoding="utf-8").rstrip()
        (dest / "description.md").write_text(description + _NOTE, encoding="utf-8")
        public, spec = self.task.public_dir, self.task.spec
        if hide_week:
            copy_before(self.task.train_csv, dest / spec.train_file, self._first_hidden)
        else:
            place_file(self.task.train_csv, dest / spec.train_file)
        place_file(self.task.sample_submission_csv, dest / spec.sample_file)
        copy_public_files([*OTHER_FILES, *(["images"] if (public / "images").is_dir() else [])], public, dest)

    def fold_hidden_into_train(self) -> None:
        """hce.enabled=false: no hidden week; the agent's copy holds every transaction."""
        super().fold_hidden_into_train()
        self._hide_week = False

    def write_public(self, dest: Path) -> None:
        """The agent's copy: the transactions before the hidden week, every customer in the sample,
        articles, customers and images as they are."""
        self._write(dest, hide_week=self._hide_week)

    def write_refit(self, dest: Path) -> None:
        """The refit's copy: every transaction of transactions_train.csv, the rest as the agent's."""
        self._write(dest, hide_week=False)
