"""Text competitions whose grader reads more than the submission's columns, laid out as mle-bench's
prepare.py writes them (data made here, shaped like the real files): jigsaw-unintended-bias (the
submission's `prediction` graded against the answers' `toxicity`, train.csv's `target`, and nine
identity columns)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from evaluation.hce import HiddenConsistentEvaluation
from evaluation.mlebench import COVERED, NOT_YET, grade_on_answers
from evaluation.task import TaskError, load_task
from tests.test_mlebench_presets import SEED, lay_out, load, submit, to_bytes

JIGSAW = "jigsaw-unintended-bias-in-toxicity-classification"
IDENTITIES = [
    "male",
    "female",
    "homosexual_gay_or_lesbian",
    "christian",
    "jewish",
    "muslim",
    "black",
    "white",
    "psychiatric_or_mental_illness",
]
# Columns of Kaggle's train.csv besides id, target, comment_text and the identities (a selection).
ANNOTATIONS = ["severe_toxicity", "obscene", "identity_attack", "insult", "threat", "asian", "atheist"]
METADATA = ["created_date", "publication_id", "article_id", "identity_annotator_count"]


def bias_score(truth: pd.DataFrame, predicted: np.ndarray) -> float:
    """The competition's metric written from its definition (Kaggle's evaluation page), with sklearn's
    AUC: everything binarised at 0.5, then 1/4 overall AUC + 1/4 each power mean (p = -5) of the
    subgroup, BPSN and BNSP AUCs over the identities."""
    toxic = truth["toxicity"].to_numpy(dtype=float) >= 0.5
    guess = (predicted >= 0.5).astype(int)
    families: list[list[float]] = [[], [], []]
    for identity in IDENTITIES:
        mentioned = np.nan_to_num(truth[identity].to_numpy(dtype=float)) >= 0.5
        subsets = [mentioned, mentioned != toxic, mentioned == toxic]  # subgroup, BPSN, BNSP
        for family, rows in zip(families, subsets, strict=True):
            family.append(roc_auc_score(toxic[rows], guess[rows]))
    means = [np.mean(np.array(aucs) ** -5.0) ** (-1 / 5) for aucs in families]
    return float(0.25 * roc_auc_score(toxic, guess) + 0.25 * sum(means))


def jigsaw_tables(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Kaggle-shaped rows: fractions of annotators for the labels, identities unannotated (NaN) on
    about a third of the rows, as in the real train.csv."""
    table = pd.DataFrame({"id": rng.permutation(np.arange(239_000, 239_000 + 3 * n))[:n]})
    table["target"] = rng.choice([0.0, 0.2, 0.4, 0.6, 0.8, 1.0], n).round(6)
    table["comment_text"] = [f"comment number {k}" for k in range(n)]
    for column in ANNOTATIONS:
        table[column] = rng.uniform(0, 1, n).round(6)
    annotated = rng.uniform(size=n) > 0.35
    for identity in IDENTITIES:
        table[identity] = np.where(
            annotated, rng.choice([0.0, 0.1, 0.7, 1.0], n, p=[0.5, 0.1, 0.2, 0.2]), np.nan
        )
    table["created_date"] = "2015-09-29 10:50:41.987077+00"
    table["publication_id"] = rng.integers(1, 100, n)
    table["article_id"] = rng.integers(2000, 9000, n)
    table["identity_annotator_count"] = np.where(annotated, 4, 0)
    return table


def test_jigsaw_unintended_bias_grades_prediction_against_toxicity_and_identities(tmp_path: Path) -> None:
    rng = np.random.default_rng(15)
    table = jigsaw_tables(rng, 1200)
    train, held = table.iloc[:1000], table.iloc[1000:]
    # prepare.py: the answers are test_private_expanded.csv, whose label is named `toxicity`.
    answers = held.rename(columns={"target": "toxicity"})
    lay_out(
        tmp_path / "data",
        tmp_path / "repo",
        JIGSAW,
        "jigsaw-unintended-bias-in-toxicity-classification-score",
        train,
        held[["id", "comment_text"]],
        answers,
        held[["id"]].assign(prediction=0.0),
    )
    task = load(tmp_path, JIGSAW)
    assert JIGSAW in COVERED and JIGSAW not in NOT_YET
    assert task.spec.target_columns == ["prediction"] and not task.spec.targets_in_answers
    hce = HiddenConsistentEvaluation(task, split_seed=SEED)
    public = tmp_path / "public"
    truth = dict(zip(table["comment_text"], table["target"], strict=True))

    def noisy(test: pd.DataFrame) -> pd.DataFrame:
        noise = np.random.default_rng(0).normal(0, 0.25, len(test))
        return pd.DataFrame({"prediction": [truth[t] for t in test["comment_text"]] + noise})

    submission = submit(hce, public, noisy)
    scores = hce.score(to_bytes(submission))
    submission = submission.assign(comment_text=pd.read_csv(public / "test.csv")["comment_text"])
    assert scores.valid, scores.reason
    # Each split against the metric computed directly from the rows it holds.
    # (The texts are unique: they tie each opaque id to its original row.)
    guess = dict(zip(submission["comment_text"], submission["prediction"], strict=True))
    by_id = table.assign(id=table["id"].astype(str)).set_index("id").rename(columns={"target": "toxicity"})
    for name in ("search", "val", "test"):
        rows = by_id.loc[hce.split_ids()[name]]
        expected = bias_score(rows, np.array([guess[t] for t in rows["comment_text"]]))
        assert getattr(scores, name) == pytest.approx(expected, abs=1e-12), name
    assert scores.search is not None and 0.5 < scores.search < 1.0
    # The agent's copy: D_train rows with all their columns; the hidden rows' id (opaque) and text only.
    assert sorted(p.name for p in public.iterdir()) == [
        "description.md",
        "sample_submission.csv",
        "test.csv",
        "train.csv",
    ]
    seen = pd.read_csv(public / "train.csv", dtype={"id": str})
    assert sorted(seen["id"]) == sorted(hce.split_ids()["train"]) and "target" in seen.columns
    test = pd.read_csv(public / "test.csv", dtype={"id": str})
    assert list(test.columns) == ["id", "comment_text"] and len(test) == 400
    hidden = {i for name in ("search", "val", "test") for i in hce.split_ids()[name]}
    assert not hidden & set(test["id"]) and not hidden & set(seen["id"])
    assert list(pd.read_csv(public / "sample_submission.csv").columns) == ["id", "prediction"]
    # The competition's own test set graded from its answers file, as mle-bench grades it.
    mine = held[["id"]].assign(prediction=[truth[t] for t in held["comment_text"]])
    mine.to_csv(tmp_path / "sub.csv", index=False)
    assert grade_on_answers(task, tmp_path / "sub.csv") == pytest.approx(1.0)
    # Invalid: the label's name in train.csv is not the submission's column.
    wrong = submission.rename(columns={"prediction": "target"})
    bad = hce.score(to_bytes(wrong))
    assert not bad.valid and "prediction" in (bad.reason or ""), bad
    text = submission.assign(prediction="toxic")
    bad = hce.score(to_bytes(text))
    assert not bad.valid and "prediction" in (bad.reason or ""), bad


def test_renamed_answer_columns_must_be_answer_columns(tmp_path: Path) -> None:
    root = tmp_path / "task"
    (root / "prepared" / "public").mkdir(parents=True)
    base = "name: toy\nmetric: auc-roc\nid_column: id\ntarget_columns: [prediction]\n"
    (root / "task.yaml").write_text(base + "train_columns: {toxicity: target}\n")
    with pytest.raises(TaskError, match=r"train_columns renames \['toxicity'\].*answer_columns"):
        load_task(root)
    (root / "task.yaml").write_text(base + "targets_in_answers: false\n")
    with pytest.raises(TaskError, match=r"targets_in_answers is false.*answer_columns"):
        load_task(root)
