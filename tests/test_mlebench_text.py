"""Text competitions whose grader reads more than the submission's columns, laid out as mle-bench's
prepare.py writes them (data made here, shaped like the real files): jigsaw-unintended-bias (the
submission's `prediction` graded against the answers' `toxicity`, train.csv's `target`, and nine
identity columns) and billion-word-imputation (sentences in zipped text, one word of each hidden one
removed)."""

import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from evaluation.billion_words import BillionWordHCE
from evaluation.hce import HiddenConsistentEvaluation
from evaluation.layouts import hidden_consistent_evaluation
from evaluation.mlebench import COVERED, NOT_YET, grade_on_answers, load_mlebench_task
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


BILLION = "billion-word-imputation"


def zipped(path: Path, member: str, text: str) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, text)


def unzipped(path: Path) -> str:
    with zipfile.ZipFile(path) as archive:
        (member,) = archive.namelist()
        return archive.read(member).decode()


def billion_words(tmp_path: Path) -> list[str]:
    """600 sentences (a tenth of them two words long), laid out as prepare.py writes them: a share
    of the longer ones in test_v2.txt with an inner word removed, the others in train_v2.txt, both
    zipped; the whole test sentences in private test.csv and sample_submission.csv."""
    rng = np.random.default_rng(5)
    words = ["the", "cat", "sat", "on", "a", "mat", ",", "and", "then", '"', "slept", "."]
    sentences = []
    for k in range(600):
        size = 2 if k % 10 == 0 else int(rng.integers(4, 12))
        sentences.append(" ".join([f"s{k}", *rng.choice(words, size - 1)]))
    public = tmp_path / "data" / BILLION / "prepared" / "public"
    private = tmp_path / "data" / BILLION / "prepared" / "private"
    public.mkdir(parents=True)
    private.mkdir(parents=True)
    (public / "description.md").write_text(f"# {BILLION}\n")
    train, test, answers = [], ['"id","sentence"'], ['"id","sentence"']
    for sentence in sentences:
        if rng.uniform() < 0.1 and len(sentence.split()) > 2:
            cut = sentence.split()
            del cut[int(rng.integers(1, len(cut) - 1))]
            quoted = sentence.replace('"', '""')
            answers.append(f'{len(test) - 1},"{quoted}"')
            test.append(f'{len(test) - 1},"{" ".join(cut).replace(chr(34), chr(34) * 2)}"')
        else:
            train.append(sentence + "\n")
    zipped(public / "train_v2.txt.zip", "train_v2.txt", "".join(train))
    zipped(public / "test_v2.txt.zip", "test_v2.txt", "\n".join(test) + "\n")
    (private / "test.csv").write_text("\n".join(answers) + "\n")
    (private / "sample_submission.csv").write_text("\n".join(test) + "\n")
    config = tmp_path / "repo" / "mlebench" / "competitions" / BILLION
    config.mkdir(parents=True)
    (config / "config.yaml").write_text(f"id: {BILLION}\ngrader:\n  name: levenshtein-distance\n")
    return sentences


def levenshtein(a: str, b: str) -> int:
    """Edit distance by the textbook recurrence, over a full table."""
    table = np.zeros((len(a) + 1, len(b) + 1), dtype=int)
    table[:, 0], table[0, :] = range(len(a) + 1), range(len(b) + 1)
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            table[i, j] = min(
                table[i - 1, j] + 1, table[i, j - 1] + 1, table[i - 1, j - 1] + (a[i - 1] != b[j - 1])
            )
    return int(table[-1, -1])


def test_billion_words_streams_sentences_and_hides_one_word_of_each(tmp_path: Path) -> None:
    sentences = billion_words(tmp_path)
    task = load_mlebench_task(tmp_path / "data", BILLION, tmp_path / "repo", tmp_path / "cache")
    hce = hidden_consistent_evaluation(task, SEED)
    assert isinstance(hce, BillionWordHCE) and BILLION in COVERED and BILLION not in NOT_YET
    split = hce.split_ids()
    train_lines = unzipped(task.train_csv).splitlines()
    assert sorted(int(i) for n in ("train", "search", "val") for i in split[n]) == list(
        range(len(train_lines))
    )
    assert min(len(split["search"]), len(split["val"])) >= 30
    hidden_lines = [train_lines[int(i)] for n in ("search", "val") for i in split[n]]
    assert all(len(line.split()) > 2 for line in hidden_lines), "a sentence of two words was hidden"

    public = tmp_path / "public"
    hce.write_public(public)
    assert sorted(p.name for p in public.iterdir()) == [
        "description.md",
        "test_v2.txt.zip",
        "train_v2.txt.zip",
    ]
    seen = unzipped(public / "train_v2.txt.zip").splitlines()
    assert seen == [train_lines[int(i)] for i in split["train"]]
    test = pd.read_csv(io.StringIO(unzipped(public / "test_v2.txt.zip")), dtype=str, keep_default_na=False)
    assert list(test.columns) == ["id", "sentence"] and len(test) == sum(
        len(split[n]) for n in ("search", "val", "test")
    )
    assert not set(test["id"]) & {i for n in ("search", "val", "test") for i in split[n]}
    whole = {s.split()[0]: s for s in sentences}  # each sentence's unique first word names it
    for sentence in test["sentence"]:
        full = whole[sentence.split()[0]].split()
        assert full[0] == sentence.split()[0] and full[-1] == sentence.split()[-1]
        assert any(full[:k] + full[k + 1 :] == sentence.split() for k in range(1, len(full) - 1))
    assert not set(hidden_lines) & set(seen) and not [s for s in hidden_lines if s in set(test["sentence"])]

    # Restored on every other row, left without its word on the rest.
    restored = [whole[s.split()[0]] if k % 2 else s for k, s in enumerate(test["sentence"])]
    submission = test.assign(sentence=restored)
    scores = hce.score(submission.to_csv(index=False).encode())
    assert scores.valid, scores.reason
    guess = dict(zip((s.split()[0] for s in test["sentence"]), restored, strict=True))
    answers = pd.read_csv(task.answers_csv, dtype=str, keep_default_na=False)
    truth = {
        "search": [train_lines[int(i)] for i in split["search"]],
        "val": [train_lines[int(i)] for i in split["val"]],
        "test": list(answers.set_index("id").loc[split["test"], "sentence"]),
    }
    for name, whole_sentences in truth.items():
        expected = np.mean([levenshtein(s, guess[s.split()[0]]) for s in whole_sentences])
        assert getattr(scores, name) == pytest.approx(expected), name
    assert scores.search is not None and scores.search > 0.5
    # The competition's own test set from its answers file; a submission without its sentences.
    answers.to_csv(tmp_path / "sub.csv", index=False)
    assert grade_on_answers(task, tmp_path / "sub.csv") == 0.0
    bad = hce.score(submission[["id"]].to_csv(index=False).encode())
    assert not bad.valid and "sentence" in (bad.reason or ""), bad
