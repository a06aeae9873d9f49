"""tensorflow2-question-answering: its JSONL answers as a table, and Kaggle's F1 over long and short answers.

Each example has two rows to predict, `<example_id>_long` and `<example_id>_short`. A prediction is
`start:end` (token indices), `YES`, `NO` or empty (no answer). The answers table holds, per row, every
answer that counts as right, space-separated (`12:40 13:20 YES`), empty when there is none.
"""

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from evaluation.metric_inputs import excerpt, single_target

ID_COLUMN = "example_id"
PREDICTION_COLUMN = "PredictionString"
_YES_NO = ("YES", "NO")


def _span(answer: dict[str, Any]) -> str:
    return f"{int(answer['start_token'])}:{int(answer['end_token'])}"


def right_answers(example: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The right long and short answers of one JSONL example (its first annotation, as Kaggle's)."""
    try:
        annotation = example["annotations"][0]
        long_answer = annotation["long_answer"]
        long = [] if int(long_answer["start_token"]) == -1 else [_span(long_answer)]
        short = [_span(a) for a in annotation["short_answers"]]
        if annotation["yes_no_answer"] in _YES_NO:
            short.append(str(annotation["yes_no_answer"]))
    except (KeyError, IndexError, TypeError, ValueError) as e:
        raise ValueError(
            f"example {example.get('example_id')!r} has no readable annotations ({type(e).__name__}: {e}); "
            "each needs annotations[0] with long_answer, short_answers and yes_no_answer"
        ) from None
    return long, short


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path} line {number} is not JSON ({e})") from None


def answers_table(examples: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Two rows per example (`_long`, `_short`) with the right answers, space-separated."""
    rows = []
    for example in examples:
        long, short = right_answers(example)
        example_id = str(example["example_id"])
        rows.append((f"{example_id}_long", " ".join(long)))
        rows.append((f"{example_id}_short", " ".join(short)))
    return pd.DataFrame(rows, columns=[ID_COLUMN, PREDICTION_COLUMN])


def read_answers_jsonl(path: Path) -> pd.DataFrame:
    """The answers table of a JSONL file of annotated examples, read line by line."""
    return answers_table(_lines(path))


def _prediction(text: str, row: str) -> str:
    text = text.strip()
    if text in ("", *_YES_NO):
        return text
    start, colon, end = text.partition(":")
    if colon and start.isdigit() and end.isdigit():
        return f"{int(start)}:{int(end)}"
    raise ValueError(
        f"question-answering-f1: the prediction of {row} is {excerpt(text)}; write start:end token "
        "indices, YES, NO, or leave it empty"
    )


def question_answering_f1(
    answers: pd.DataFrame, submission: pd.DataFrame, target_columns: list[str]
) -> float:
    """Kaggle's F1 = 2TP / (2TP + FP + FN) over all long and short rows: a prediction among the right
    answers is a true positive, any other prediction a false positive, no prediction where a right
    answer exists a false negative; no prediction where none exists counts for nothing."""
    column = single_target(target_columns, "question-answering-f1")
    tp = fp = fn = 0
    ids = answers[ID_COLUMN] if ID_COLUMN in answers.columns else answers.index.astype(str)
    for row, right, given in zip(ids, answers[column], submission[column], strict=True):
        valid = set(str(right).split()) if isinstance(right, str) else set()
        predicted = _prediction(given if isinstance(given, str) else "", str(row))
        if predicted:
            tp += predicted in valid
            fp += predicted not in valid
        else:
            fn += bool(valid)
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)
