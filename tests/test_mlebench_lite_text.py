"""Text competitions of MLE-bench Lite laid out as mle-bench's prepare.py writes them (data made here,
shaped like the real files): detecting-insults-in-social-commentary (no id column: rows keyed by the
comment itself), random-acts-of-pizza (records of a JSON list) and text-normalization-challenge in
English and Russian (tokens of sentences in zipped CSVs)."""

import csv
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from evaluation.hce import HiddenConsistentEvaluation
from evaluation.layouts import hidden_consistent_evaluation
from evaluation.mlebench import COVERED, NOT_YET, grade_on_answers
from tests.test_mlebench_medical import folders
from tests.test_mlebench_presets import SEED, load, to_bytes, write_config

INSULTS = "detecting-insults-in-social-commentary"


def insults(tmp_path: Path, n_train: int = 240, n_test: int = 60) -> pd.DataFrame:
    """prepare.py's files: train.csv (Insult, Date, Comment; Kaggle's dates are `20120618192155Z` or
    empty), private/test.csv (+ Usage), public test.csv (Date, Comment), sample_submission_null.csv
    (Insult 0, Date, Comment). Three comments of train.csv repeat, as in the real file."""
    rng = np.random.default_rng(21)
    n = n_train + n_test
    insult = rng.integers(0, 2, n)
    words = np.where(insult == 1, "you idiot", "thanks, friend")
    table = pd.DataFrame(
        {
            "Insult": insult,
            "Date": [f"2012061{k % 10}1921{k % 60:02d}Z" if k % 7 else "" for k in range(n)],
            "Comment": [f'"\\\\xa0{w} number {k}"' for k, w in enumerate(words)],
        }
    )
    train, test = table.iloc[:n_train].copy(), table.iloc[n_train:].copy()
    train.loc[train.index[[10, 11, 12]], "Comment"] = train["Comment"].iloc[5]
    train.loc[train.index[[10, 11, 12]], "Insult"] = train["Insult"].iloc[5]
    public, private = folders(tmp_path, INSULTS)
    train.to_csv(public / "train.csv", index=False)
    test.assign(Usage="PrivateTest").to_csv(private / "test.csv", index=False)
    test[["Date", "Comment"]].to_csv(public / "test.csv", index=False)
    test.assign(Insult=0).to_csv(public / "sample_submission_null.csv", index=False)
    write_config(tmp_path / "repo", INSULTS, "auc-roc", "test.csv")
    return table


def test_insults_keys_rows_by_the_comment_and_keeps_repeated_comments_in_d_train(tmp_path: Path) -> None:
    table = insults(tmp_path)
    assert INSULTS in COVERED and INSULTS not in NOT_YET
    task = load(tmp_path, INSULTS)
    assert (task.spec.id_column, task.spec.target_columns) == ("Comment", ["Insult"])
    label = dict(zip(table["Comment"], table["Insult"], strict=False))

    # The competition's own grader: AUC over the test comments, matched by text.
    answers = pd.read_csv(task.answers_csv)
    guess = answers[["Insult", "Date", "Comment"]].assign(Insult=np.linspace(0, 1, len(answers)))
    guess.to_csv(tmp_path / "guess.csv", index=False)
    expected = roc_auc_score(answers["Insult"], guess["Insult"])
    assert grade_on_answers(task, tmp_path / "guess.csv") == pytest.approx(expected)

    hce = HiddenConsistentEvaluation(task, split_seed=SEED)
    split = hce.split_ids()
    repeated = table["Comment"].iloc[5]
    assert repeated not in split["search"] + split["val"] + split["train"]
    public = tmp_path / "public"
    hce.write_public(public)
    assert sorted(p.name for p in public.iterdir()) == [
        "description.md",
        "sample_submission_null.csv",
        "test.csv",
        "train.csv",
    ]
    train, test = pd.read_csv(public / "train.csv"), pd.read_csv(public / "test.csv")
    sample = pd.read_csv(public / "sample_submission_null.csv", keep_default_na=False)
    assert list(test.columns) == ["Date", "Comment"] and list(sample.columns) == ["Insult", "Date", "Comment"]
    # The repeated comment's four rows are all in D_train; no hidden comment is.
    assert (train["Comment"] == repeated).sum() == 4
    hidden = set(split["search"]) | set(split["val"]) | set(split["test"])
    assert set(test["Comment"]) == hidden and not hidden & set(train["Comment"])
    assert len(train) + len(test) == len(table)
    # The sample carries each row's own date, so a submission built from it is well formed.
    dates = dict(zip(test["Comment"], test["Date"].fillna(""), strict=True))
    assert all(dates[c] == d for c, d in zip(sample["Comment"], sample["Date"], strict=True))
    assert "Insult" not in test.columns and "ids are opaque" not in (public / "description.md").read_text()

    right = sample.assign(Insult=[label[c] for c in sample["Comment"]])
    scores = hce.score(to_bytes(right))
    assert scores.valid and (scores.search, scores.val, scores.test) == (1.0, 1.0, 1.0)
    noisy = right.assign(
        Insult=np.where(np.arange(len(right)) % 4 == 0, 1 - right["Insult"], right["Insult"])
    )
    scores = hce.score(to_bytes(noisy))
    test_rows = noisy[noisy["Comment"].isin(split["test"])]
    truth = [label[c] for c in test_rows["Comment"]]
    assert scores.valid and scores.test == pytest.approx(roc_auc_score(truth, test_rows["Insult"]))

    missing = hce.score(to_bytes(right.iloc[1:]))
    assert not missing.valid and "missing" in str(missing.reason)
    renamed = right.assign(Comment=right["Comment"].str.upper())
    assert not hce.score(to_bytes(renamed)).valid


PIZZA = "random-acts-of-pizza"
TEST_FIELDS = [
    "giver_username_if_known",
    "request_id",
    "request_text_edit_aware",
    "request_title",
    "requester_account_age_in_days_at_request",
    "requester_subreddits_at_request",
    "unix_timestamp_of_request",
]  # a selection of Kaggle's test.json fields
LATER_FIELDS = ["requester_user_flair", "request_number_of_comments_at_retrieval", "requester_received_pizza"]


def pizza(tmp_path: Path, n_train: int = 160, n_test: int = 40) -> dict[str, bool]:
    """prepare.py: train.json (every field, `requester_received_pizza` a boolean), test.json (the
    test fields only), both zipped, private/test.csv (request_id, 0/1), sampleSubmission.csv."""
    rng = np.random.default_rng(5)
    records: list[dict[str, Any]] = []
    for k in range(n_train + n_test):
        got = bool(rng.integers(0, 2))
        records.append(
            {
                "giver_username_if_known": "N/A",
                "request_id": f"t3_{k * 7919 % 100000:05x}",
                "request_text_edit_aware": ("pizza please, I am broke " if got else "hungry ") + str(k),
                "request_title": f"[Request] title {k}",
                "requester_account_age_in_days_at_request": float(k),
                "requester_subreddits_at_request": ["AskReddit", "pizza"][: k % 3],
                "unix_timestamp_of_request": 1300000000 + 1000 * k,
                "requester_user_flair": "shroom" if got else None,
                "request_number_of_comments_at_retrieval": int(rng.integers(0, 9)),
                "requester_received_pizza": got,
            }
        )
    train, test = records[:n_train], records[n_train:]
    public, private = folders(tmp_path, PIZZA)
    (public / "train.json").write_text(json.dumps(train, indent=4))
    (public / "test.json").write_text(json.dumps([{f: r[f] for f in TEST_FIELDS} for r in test], indent=4))
    answers = pd.DataFrame(
        {
            "request_id": [r["request_id"] for r in test],
            "requester_received_pizza": [int(r["requester_received_pizza"]) for r in test],
        }
    )
    answers.to_csv(private / "test.csv", index=False)
    answers.assign(requester_received_pizza=0).to_csv(public / "sampleSubmission.csv", index=False)
    write_config(tmp_path / "repo", PIZZA, "auc-roc", "test.csv")
    return {r["request_text_edit_aware"]: r["requester_received_pizza"] for r in records}


def test_pizza_hides_records_with_the_test_fields_only(tmp_path: Path) -> None:
    outcome = pizza(tmp_path)
    assert PIZZA in COVERED and PIZZA not in NOT_YET
    task = load(tmp_path, PIZZA)
    hce = hidden_consistent_evaluation(task, SEED)
    split = hce.split_ids()
    public = tmp_path / "public"
    hce.write_public(public)
    assert sorted(p.name for p in public.iterdir()) == [
        "description.md",
        "sampleSubmission.csv",
        "test.json",
        "test.zip",
        "train.json",
        "train.zip",
    ]
    train, test = (
        json.loads((public / "train.json").read_text()),
        json.loads((public / "test.json").read_text()),
    )
    assert [r["request_id"] for r in train] == split["train"]
    assert all(set(r) == set(TEST_FIELDS) for r in test)  # no label, no later field of a hidden record
    assert len(test) == len(split["search"]) + len(split["val"]) + len(split["test"])
    assert not {r["request_id"] for r in test} & set(split["search"] + split["val"] + split["test"])
    with zipfile.ZipFile(public / "test.zip") as z:
        assert json.loads(z.read("test.json")) == test
    sample = pd.read_csv(public / "sampleSubmission.csv")
    assert sorted(sample["request_id"]) == sorted(r["request_id"] for r in test)

    by_id = {r["request_id"]: outcome[r["request_text_edit_aware"]] for r in test}
    right = sample.assign(requester_received_pizza=[float(by_id[i]) for i in sample["request_id"]])
    scores = hce.score(to_bytes(right))
    assert scores.valid and (scores.search, scores.val, scores.test) == (1.0, 1.0, 1.0)
    text = {r["request_id"]: r["request_text_edit_aware"] for r in test}
    words = sample.assign(
        requester_received_pizza=[0.9 if "broke" in text[i] else 0.1 for i in sample["request_id"]]
    )
    assert hce.score(to_bytes(words)).test == 1.0
    nan = right.assign(requester_received_pizza=right["requester_received_pizza"].where(right.index != 3))
    bad = hce.score(to_bytes(nan))
    assert not bad.valid and "NaN value" in str(bad.reason)

    refit = tmp_path / "refit"
    hce.write_refit(refit)
    refit_test = json.loads((refit / "test.json").read_text())
    assert len(json.loads((refit / "train.json").read_text())) == 160 and len(refit_test) == len(
        split["test"]
    )


NORMALIZATION = "text-normalization-challenge-english-language"
CLASSES = {"1998": ("DATE", "nineteen ninety eight"), "12": ("CARDINAL", "twelve"), "Dr.": ("ABBR", "doctor")}


def normalization(
    tmp_path: Path, competition: str = NORMALIZATION, n_train: int = 60, n_test: int = 15
) -> None:
    """prepare.py: <lang>_train.csv.zip, <lang>_test_2.csv.zip and <lang>_sample_submission_2.csv.zip
    (one quoted CSV each), private/answers.csv (id `<sentence>_<token>`, after) and private/
    sample_submission.csv. Train and test sentences are numbered from 0 each."""
    rng = np.random.default_rng(12)
    lang = competition.split("-")[3][:2]
    rows = []
    for sentence in range(n_train + n_test):
        words = ["The", *rng.choice(["1998", "12", "Dr.", "cat", "01", "NaN"], int(rng.integers(2, 6))), "."]
        for token, before in enumerate(words):
            cls, after = CLASSES.get(str(before), ("PLAIN" if before != "." else "PUNCT", str(before)))
            after = "o one" if before == "01" else after  # "01" and "1" must not compare equal
            rows.append(
                {"sentence_id": sentence, "token_id": token, "class": cls, "before": before, "after": after}
            )
    table = pd.DataFrame(rows)
    train = table[table["sentence_id"] < n_train]
    test = table[table["sentence_id"] >= n_train].assign(sentence_id=lambda t: t["sentence_id"] - n_train)
    public, private = folders(tmp_path, competition)
    ids = test["sentence_id"].astype(str) + "_" + test["token_id"].astype(str)
    for name, part in (
        (f"{lang}_train.csv", train),
        (f"{lang}_test_2.csv", test[["sentence_id", "token_id", "before"]]),
        (f"{lang}_sample_submission_2.csv", pd.DataFrame({"id": ids, "after": test["before"]})),
    ):
        with zipfile.ZipFile(public / f"{name}.zip", "w") as z:
            z.writestr(name, part.to_csv(index=False, quoting=csv.QUOTE_NONNUMERIC))
    pd.DataFrame({"id": ids, "after": test["after"]}).to_csv(
        private / "answers.csv", index=False, quoting=csv.QUOTE_NONNUMERIC
    )
    pd.DataFrame({"id": ids, "after": test["before"]}).to_csv(
        private / "sample_submission.csv", index=False, quoting=csv.QUOTE_NONNUMERIC
    )
    write_config(tmp_path / "repo", competition, "accuracy", "answers.csv")


def read_zipped(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, compression="zip")


def normalise(before: str) -> str:
    return "o one" if before == "01" else CLASSES.get(before, ("", before))[1]


@pytest.mark.parametrize("competition", [NORMALIZATION, "text-normalization-challenge-russian-language"])
def test_text_normalization_keeps_sentences_whole_under_opaque_numbers(
    tmp_path: Path, competition: str
) -> None:
    normalization(tmp_path, competition)
    assert competition in COVERED and competition not in NOT_YET
    lang = competition.split("-")[3][:2]
    task = load(tmp_path, competition)
    hce = hidden_consistent_evaluation(task, SEED)
    split = hce.split_ids()
    assert sorted(split["train"] + split["search"] + split["val"], key=int) == [str(k) for k in range(60)]
    public = tmp_path / "public"
    hce.write_public(public)
    assert sorted(p.name for p in public.iterdir()) == sorted(
        [
            "description.md",
            f"{lang}_train.csv.zip",
            f"{lang}_test_2.csv.zip",
            f"{lang}_sample_submission_2.csv.zip",
        ]
    )
    train, test = (
        read_zipped(public / f"{lang}_train.csv.zip"),
        read_zipped(public / f"{lang}_test_2.csv.zip"),
    )
    sample = read_zipped(public / f"{lang}_sample_submission_2.csv.zip")
    assert set(train["sentence_id"]) == set(split["train"])
    assert list(test.columns) == ["sentence_id", "token_id", "before"] and "after" not in test.columns
    n_hidden = len(split["search"]) + len(split["val"]) + len(split["test"])
    assert sorted(set(test["sentence_id"]), key=int) == [str(k) for k in range(n_hidden)]
    assert list(sample["id"]) == list(test["sentence_id"] + "_" + test["token_id"])
    with zipfile.ZipFile(public / f"{lang}_test_2.csv.zip") as z:
        assert z.namelist() == [f"{lang}_test_2.csv"]

    right = sample.assign(after=[normalise(b) for b in test["before"]])
    scores = hce.score(to_bytes(right))
    assert scores.valid and (scores.search, scores.val, scores.test) == (1.0, 1.0, 1.0)
    # Copying the input is wrong exactly where a token changes; "1" for "01" is wrong too.
    copied = hce.score(to_bytes(sample))
    changed = sum(normalise(b) != b for b in test["before"])
    assert copied.valid and copied.test is not None and copied.test < 1.0 and changed > 0
    sloppy = right.assign(after=np.where(test["before"] == "01", "1", right["after"]))
    assert (test["before"] == "01").any() and hce.score(to_bytes(sloppy)).valid
    assert min(hce.score(to_bytes(sloppy)).model_dump(include={"search", "val", "test"}).values()) < 1.0
    short = hce.score(to_bytes(right.iloc[:-2]))
    assert not short.valid and "missing" in str(short.reason)

    answers = pd.read_csv(task.answers_csv, dtype=str, keep_default_na=False)
    answers.to_csv(tmp_path / "sub.csv", index=False)
    assert grade_on_answers(task, tmp_path / "sub.csv") == 1.0


def test_broken_json_records_and_zipped_tables_get_one_clear_error(tmp_path: Path) -> None:
    from evaluation.task import TaskError

    pizza(tmp_path)
    train = tmp_path / "data" / PIZZA / "prepared" / "public" / "train.json"
    train.write_text(json.dumps({"request_id": "t3_1"}))
    with pytest.raises(TaskError, match="must be a JSON list of records, each with its 'request_id'"):
        hidden_consistent_evaluation(load(tmp_path, PIZZA), SEED)
    train.write_text("[{")
    with pytest.raises(TaskError, match=r"train\.json is not a readable JSON file"):
        hidden_consistent_evaluation(load(tmp_path, PIZZA), SEED)

    normalization(tmp_path)
    public = tmp_path / "data" / NORMALIZATION / "prepared" / "public"
    with zipfile.ZipFile(public / "en_train.csv.zip", "w") as z:
        z.writestr("en_train.csv", "sentence_id,token_id,before\n0,0,The\n")
    with pytest.raises(TaskError, match=r"lacks the column\(s\) \['class', 'after'\]"):
        hidden_consistent_evaluation(load(tmp_path, NORMALIZATION), SEED)
