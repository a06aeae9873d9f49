"""tensorflow2-question-answering laid out as mle-bench's prepare.py writes it (data made here, shaped
like the real files): annotated examples in JSON lines, two submission rows per example."""

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from evaluation.layouts import hidden_consistent_evaluation
from evaluation.mlebench import COVERED, NOT_YET, grade_on_answers
from evaluation.question_answering import QuestionAnsweringHCE
from tests.test_mlebench_lite_text import folders, load, write_config
from tests.test_mlebench_presets import SEED, to_bytes

QA = "tensorflow2-question-answering"


def example(k: int, answered: bool) -> dict[str, Any]:
    """A page whose short answer is the token ANS (at a place of its own), its long answer the first
    paragraph; an unanswered page has neither."""
    tokens = ["<P>", *[f"w{k}_{i}" for i in range(12)], "</P>"]
    at = 2 + k % 9
    if answered:
        tokens[at] = "ANS"
    short = [{"start_token": at, "end_token": at + 1}] if answered else []
    long = (
        {"start_token": 0, "end_token": 14, "candidate_index": 0}
        if answered
        else {"start_token": -1, "end_token": -1, "candidate_index": -1}
    )
    return {
        "document_text": " ".join(tokens),
        "long_answer_candidates": [{"start_token": 0, "end_token": 14, "top_level": True}],
        "question_text": f"question {k}",
        "annotations": [
            {"yes_no_answer": "NONE", "long_answer": long, "short_answers": short, "annotation_id": k}
        ],
        "document_url": f"https://en.wikipedia.org/w/index.php?title=Page_{k}",
        "example_id": str(-1220107454853145579 + 7919 * k),
    }


def qa(tmp_path: Path, n: int = 200, n_test: int = 30) -> None:
    public, private = folders(tmp_path, QA)
    examples = [example(k, k % 3 != 0) for k in range(n)]
    train, test = examples[: n - n_test], examples[n - n_test :]
    keep = ["example_id", "question_text", "document_text", "long_answer_candidates"]
    (public / "simplified-nq-train.jsonl").write_text("".join(json.dumps(e) + "\n" for e in train))
    (public / "simplified-nq-test.jsonl").write_text(
        "".join(json.dumps({f: e[f] for f in keep}) + "\n" for e in test)
    )
    (private / "test.jsonl").write_text("".join(json.dumps(e) + "\n" for e in test))
    rows = [f"{e['example_id']}_{kind}" for e in test for kind in ("short", "long")]
    pd.DataFrame({"example_id": rows, "PredictionString": ""}).to_csv(
        public / "sample_submission.csv", index=False
    )
    write_config(tmp_path / "repo", QA, "micro-f1-score", "test.jsonl")


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def predict(examples: list[dict[str, Any]], sample: pd.DataFrame) -> pd.DataFrame:
    guess = {}
    for e in examples:
        tokens = e["document_text"].split(" ")
        at = tokens.index("ANS") if "ANS" in tokens else None
        guess[f"{e['example_id']}_long"] = "" if at is None else "0:14"
        guess[f"{e['example_id']}_short"] = "" if at is None else f"{at}:{at + 1}"
    return sample.assign(PredictionString=[guess[i] for i in sample["example_id"]])


def test_question_answering_streams_examples_and_hides_their_annotations(tmp_path: Path) -> None:
    qa(tmp_path)
    assert QA in COVERED and QA not in NOT_YET
    task = load(tmp_path, QA)
    hce = hidden_consistent_evaluation(task, SEED)
    assert isinstance(hce, QuestionAnsweringHCE)
    split = hce.split_ids()
    assert len(split["train"]) + len(split["search"]) + len(split["val"]) == 170 and len(split["test"]) == 30
    assert split["search"] and split["val"]
    public = tmp_path / "public"
    hce.write_public(public)
    assert sorted(p.name for p in public.iterdir()) == [
        "description.md", "sample_submission.csv", "simplified-nq-test.jsonl", "simplified-nq-train.jsonl",
    ]  # fmt: skip
    train, test = read(public / "simplified-nq-train.jsonl"), read(public / "simplified-nq-test.jsonl")
    assert [e["example_id"] for e in train] == split["train"] and all("annotations" in e for e in train)
    assert all(
        sorted(e) == sorted(["example_id", "question_text", "document_text", "long_answer_candidates"])
        for e in test
    )
    ids = [e["example_id"] for e in test]
    assert ids == sorted(ids) and len(ids) == 170 - len(split["train"]) + 30
    assert not set(ids) & {i for name in ("search", "val", "test") for i in split[name]}
    sample = pd.read_csv(public / "sample_submission.csv", keep_default_na=False)
    assert list(sample["example_id"]) == [f"{i}_{kind}" for i in ids for kind in ("long", "short")]

    right = predict(test, sample)
    scores = hce.score(to_bytes(right))
    assert scores.valid and (scores.search, scores.val, scores.test) == (1.0, 1.0, 1.0)
    nothing = hce.score(to_bytes(sample))
    assert nothing.valid and nothing.test == 0.0
    wrong = right.assign(PredictionString=right["PredictionString"].str.replace("0:14", "1:14"))
    assert 0 < (hce.score(to_bytes(wrong)).test or 0) < 1
    bad = hce.score(to_bytes(right.assign(PredictionString="maybe")))
    assert not bad.valid and "start:end" in str(bad.reason)

    original = read(tmp_path / "data" / QA / "prepared" / "public" / "simplified-nq-test.jsonl")
    graded = predict(original, pd.read_csv(task.sample_submission_csv, keep_default_na=False, dtype=str))
    graded.to_csv(tmp_path / "sub.csv", index=False)
    assert grade_on_answers(task, tmp_path / "sub.csv") == 1.0

    refit = tmp_path / "refit"
    hce.write_refit(refit)
    assert (
        len(read(refit / "simplified-nq-train.jsonl")) == 170
        and len(read(refit / "simplified-nq-test.jsonl")) == 30
    )
    assert not [p for p in refit.iterdir() if p.is_dir()]  # the sorting buckets are gone


def test_a_line_that_is_not_json_is_named_with_its_number(tmp_path: Path) -> None:
    from evaluation.task import TaskError

    qa(tmp_path, n=40, n_test=10)
    train = tmp_path / "data" / QA / "prepared" / "public" / "simplified-nq-train.jsonl"
    lines = train.read_text().splitlines()
    lines[3] = lines[3][:50]
    train.write_text("\n".join(lines) + "\n")
    with pytest.raises(TaskError, match=r"simplified-nq-train\.jsonl line 4 is not JSON"):
        hidden_consistent_evaluation(load(tmp_path, QA), SEED)
