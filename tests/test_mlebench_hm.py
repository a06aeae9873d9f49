"""h-and-m-personalized-fashion-recommendations laid out as mle-bench's prepare.py writes it (data made
here, shaped like the real files): purchases by day, article ids written as integers in the
transactions and the answers but with their leading zero in articles.csv, every customer in the
sample, the answers for the customers who bought in the 8 days after the transactions end."""

import hashlib
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from evaluation.layouts import hidden_consistent_evaluation
from evaluation.mlebench import COVERED, NOT_YET, grade_on_answers
from evaluation.purchase_weeks import PurchaseWeeksHCE
from evaluation.task import TaskError
from tests.test_mlebench_medical import folders
from tests.test_mlebench_presets import SEED, load, to_bytes, write_config

HM = "h-and-m-personalized-fashion-recommendations"
CUSTOMERS = [hashlib.sha256(f"customer {k}".encode()).hexdigest() for k in range(60)]
ARTICLES = [108775015 + 1000 * k for k in range(40)]
FIRST_DAY, LAST_TRAIN_DAY, LAST_DAY = date(2020, 8, 1), date(2020, 9, 14), date(2020, 9, 22)
HIDDEN_FROM = "2020-09-07"  # prepare.py's window again, 7 days before the public copy's last day


def habits(k: int) -> list[int]:
    """The two articles customer k buys, always."""
    return [ARTICLES[k % 40], ARTICLES[(3 * k + 1) % 40]]


def buys(k: int, day: date) -> bool:
    """Customers 50-59 never buy; the others every (k % 5 + 3)-th day, plus the last day for some."""
    if k >= 50:
        return False
    return (day - FIRST_DAY).days % (k % 5 + 3) == 0 or (day == LAST_DAY and k % 4 == 0)


def hm(tmp_path: Path) -> None:
    public, private = folders(tmp_path, HM)
    rows = []
    day = FIRST_DAY
    while day <= LAST_DAY:
        for k in range(len(CUSTOMERS)):
            if buys(k, day):
                for article in habits(k):
                    rows.append(
                        {"t_dat": day.isoformat(), "customer_id": CUSTOMERS[k], "article_id": article,
                         "price": 0.0338813559322034, "sales_channel_id": 2}
                    )  # fmt: skip
        day += timedelta(days=1)
    table = pd.DataFrame(rows)
    test = table["t_dat"] > LAST_TRAIN_DAY.isoformat()
    table[~test].to_csv(public / "transactions_train.csv", index=False)
    week = table[test].groupby("customer_id")["article_id"].apply(lambda x: " ".join(x.astype(str)))
    week.rename("prediction").reset_index().to_csv(private / "answers.csv", index=False)
    everyone = "0706016001 0706016002 0372860001 0610776002 0759871002 0464297007"
    pd.DataFrame({"customer_id": CUSTOMERS, "prediction": everyone}).to_csv(
        public / "sample_submission.csv", index=False
    )
    pd.DataFrame({"article_id": [f"0{a}" for a in ARTICLES], "prod_name": "Strap top"}).to_csv(
        public / "articles.csv", index=False
    )
    pd.DataFrame({"customer_id": CUSTOMERS, "age": 30}).to_csv(public / "customers.csv", index=False)
    (public / "images" / "010").mkdir(parents=True)
    (public / "images" / "010" / "0108775015.jpg").write_bytes(b"\xff\xd8 a strap top")
    write_config(tmp_path / "repo", HM, "MAP@12", "answers.csv")


def predict(copy: Path, only_first: bool = False) -> pd.DataFrame:
    """Each customer's most bought articles in the copy's transactions, written with their leading zero
    as articles.csv has them (a customer who never bought: the most popular ones)."""
    transactions = pd.read_csv(copy / "transactions_train.csv", dtype={"article_id": str})
    counts = transactions.groupby(["customer_id", "article_id"]).size().rename("n").reset_index()
    favourite = counts.sort_values(["customer_id", "n", "article_id"], ascending=[True, False, True])
    top = favourite.groupby("customer_id")["article_id"].apply(lambda a: list(a)[: 1 if only_first else 12])
    popular = transactions["article_id"].value_counts().index[:12].tolist()
    sample = pd.read_csv(copy / "sample_submission.csv")
    guesses = [" ".join(f"0{a}" for a in top.get(c, popular)) for c in sample["customer_id"]]
    return sample.assign(prediction=guesses)


def test_hm_hides_the_last_week_of_the_copy_and_scores_each_split_on_its_buyers(tmp_path: Path) -> None:
    hm(tmp_path)
    assert HM in COVERED and HM not in NOT_YET
    task = load(tmp_path, HM)
    hce = hidden_consistent_evaluation(task, SEED)
    assert isinstance(hce, PurchaseWeeksHCE)
    split = hce.split_ids()
    original = pd.read_csv(task.train_csv)
    week_buyers = set(original[original["t_dat"] >= HIDDEN_FROM]["customer_id"])
    assert set(split["search"]) | set(split["val"]) == week_buyers and split["search"] and split["val"]
    assert set(split["search"]).isdisjoint(split["val"])
    answers = pd.read_csv(task.answers_csv)
    assert split["test"] == list(answers["customer_id"])
    both = (set(split["search"]) | set(split["val"])) & set(split["test"])
    assert both  # customers who bought in both weeks: scored in a hidden split and in D_test

    copy = tmp_path / "public"
    hce.write_public(copy)
    lines = task.train_csv.read_text().splitlines()
    kept = [lines[0], *(line for line in lines[1:] if line[:10] < HIDDEN_FROM)]
    assert (copy / "transactions_train.csv").read_text().splitlines() == kept  # byte for byte
    assert (copy / "sample_submission.csv").read_bytes() == task.sample_submission_csv.read_bytes()
    assert (copy / "images" / "010" / "0108775015.jpg").is_file() and (copy / "articles.csv").is_file()
    assert "ends earlier than the competition's" in (copy / "description.md").read_text()

    right = predict(copy)
    scores = hce.score(to_bytes(right))
    assert scores.valid and (scores.search, scores.val, scores.test) == (1.0, 1.0, 1.0)
    assert hce.score(to_bytes(right.sample(frac=1, random_state=0))).test == 1.0
    # One of a customer's two articles: AP@12 = 1/2 for each (as mle-bench's apk counts it).
    half = hce.score(to_bytes(predict(copy, only_first=True)))
    assert half.valid and (half.search, half.val, half.test) == (0.5, 0.5, 0.5)
    # A customer of both weeks is one row, scored in both.
    customer = sorted(both)[0]
    wrong = right.assign(prediction=right["prediction"].where(right["customer_id"] != customer, "0999"))
    moved = hce.score(to_bytes(wrong))
    assert (moved.test or 1) < 1 and min(moved.search or 1, moved.val or 1) < 1
    # Every customer of the sample is required, buyer or not.
    never = CUSTOMERS[55]
    missing = hce.score(to_bytes(right[right["customer_id"] != never]))
    assert not missing.valid and never in str(missing.reason)

    refit = tmp_path / "refit"
    hce.write_refit(refit)
    assert (refit / "transactions_train.csv").read_bytes() == task.train_csv.read_bytes()
    assert hce.scorer().score_refit(to_bytes(predict(refit))).test == 1.0

    # mle-bench's own test set: every customer predicted, the week's buyers graded.
    submission = tmp_path / "submission.csv"
    predict(task.public_dir, only_first=True).to_csv(submission, index=False)
    assert grade_on_answers(task, submission) == pytest.approx(0.5)


def test_hm_broken_layouts_are_named(tmp_path: Path) -> None:
    hm(tmp_path)
    public = tmp_path / "data" / HM / "prepared" / "public"
    sample = pd.read_csv(public / "sample_submission.csv")
    sample.iloc[1:].to_csv(public / "sample_submission.csv", index=False)
    with pytest.raises(
        TaskError, match=rf"has customer '{CUSTOMERS[0]}' .* that .*sample_submission\.csv lacks"
    ):
        hidden_consistent_evaluation(load(tmp_path, HM), SEED)

    hm(tmp_path / "columns")
    transactions = tmp_path / "columns" / "data" / HM / "prepared" / "public" / "transactions_train.csv"
    pd.read_csv(transactions).rename(columns={"t_dat": "day"}).to_csv(transactions, index=False)
    with pytest.raises(TaskError, match=r"lacks the column\(s\) \['t_dat'\]"):
        hidden_consistent_evaluation(load(tmp_path / "columns", HM), SEED)
