"""Graders where a competition's official metric differs from the generic grader of its mle-bench name:
each checked against an independent computation (sklearn, scipy, or the definition written out)."""

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import rel_entr
from sklearn.metrics import label_ranking_average_precision_score, root_mean_squared_error

from evaluation.grading import grade_aligned
from evaluation.hce import HiddenConsistentEvaluation
from evaluation.metrics import get_metric
from evaluation.mlebench import GRADER_FIXES
from evaluation.qa_metrics import read_answers_jsonl
from evaluation.submission import read_submission
from evaluation.task import TaskSpec
from tests.test_mlebench_presets import SEED, lay_out, load, submit, to_bytes

RNG = np.random.default_rng(15)


def frames(column: str, truth: list[str], guess: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.DataFrame({column: truth}), pd.DataFrame({column: guess})


def kaggle_jaccard(a: str, b: str) -> float:
    left, right = set(a.lower().split()), set(b.lower().split())
    return len(left & right) / len(left | right)


def test_an_empty_selected_text_is_a_valid_answer_scored_zero() -> None:
    sample = pd.DataFrame({"textID": ["a1", "b2"], "selected_text": ["x", "x"]})
    metric = get_metric("jaccard-similarity")
    table = read_submission(
        b'textID,selected_text\na1,"so happy today"\nb2,\n',
        sample,
        "textID",
        ["selected_text"],
        {"a1", "b2"},
        accepts_empty=metric.accepts_empty,
    )
    answers = pd.DataFrame({"textID": ["a1", "b2"], "selected_text": ["so happy today", "sad"]})
    given = ["so happy today", ""]
    expected = np.mean([kaggle_jaccard(a, b) for a, b in zip(answers["selected_text"], given, strict=True)])
    assert metric.fn(answers, table, ["selected_text"]) == pytest.approx(expected) == pytest.approx(0.5)
    # A numeric grader still refuses an empty cell, with the reason.
    with pytest.raises(Exception, match="empty or NaN"):
        read_submission(b"id,y\n1,\n", pd.DataFrame({"id": ["1"], "y": [0.5]}), "id", ["y"], {"1"})


def test_a_constant_prediction_makes_pearson_undefined_despite_rounding() -> None:
    truth = np.array([0.0, 0.5, 1.0])
    guess = np.full(3, 0.1)
    assert np.std(guess) > 0  # rounding: the case the old check missed
    answers, submission = pd.DataFrame({"score": truth}), pd.DataFrame({"score": guess})
    with pytest.raises(ValueError, match="constant"):
        get_metric("pearson-correlation-coefficient").fn(answers, submission, ["score"])


def levenshtein(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    """The recursive definition, memoised: an independent check of the iterative one."""

    @cache
    def d(i: int, j: int) -> int:
        if i == 0 or j == 0:
            return i + j
        return min(d(i - 1, j) + 1, d(i, j - 1) + 1, d(i - 1, j - 1) + (a[i - 1] != b[j - 1]))

    return d(len(a), len(b))


def test_gesture_score_is_total_gesture_edits_over_true_gestures() -> None:
    assert GRADER_FIXES["multi-modal-gesture-recognition"] == "gesture-edit-distance"
    metric = get_metric("gesture-edit-distance")
    answers, submission = frames("Sequence", ["1 2 3", "4 5 6"], ["1 2 3", "4 5 7"])
    assert metric.fn(answers, submission, ["Sequence"]) == pytest.approx(1 / 6)
    # The character-level per-row mean the generic grader computes is 0.5 here.
    assert get_metric("levenshtein-distance").fn(answers, submission, ["Sequence"]) == pytest.approx(0.5)
    truth = [" ".join(map(str, RNG.integers(1, 21, RNG.integers(1, 9)))) for _ in range(30)]
    guess = [" ".join(map(str, RNG.integers(1, 21, RNG.integers(0, 9)))) for _ in range(30)]
    expected = sum(
        levenshtein(tuple(map(int, t.split())), tuple(map(int, g.split())))
        for t, g in zip(truth, guess, strict=True)
    ) / sum(len(t.split()) for t in truth)
    answers, submission = frames("Sequence", truth, guess)
    assert metric.fn(answers, submission, ["Sequence"]) == pytest.approx(expected)
    # Gesture 12 is one item, not the two characters "1" and "2".
    assert metric.fn(*frames("Sequence", ["12"], ["1 2"]), ["Sequence"]) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="gesture numbers"):
        metric.fn(*frames("Sequence", ["1 2"], ["1 two"]), ["Sequence"])


def test_lwlrap_weighs_each_true_label_like_the_official_sklearn_formula() -> None:
    assert GRADER_FIXES["freesound-audio-tagging-2019"] == "label-weighted-lrap"
    metric = get_metric("label-weighted-lrap")
    columns = ["Bark", "Purr", "Hiss"]
    truth = np.array([[1, 0, 0], [1, 1, 0]])
    scores = np.array([[0.9, 0.1, 0.0], [0.8, 0.1, 0.9]])
    answers, submission = pd.DataFrame(truth, columns=columns), pd.DataFrame(scores, columns=columns)
    # Pairs: (clip 1, Bark) 1; (clip 2, Bark) 1/2; (clip 2, Purr) 2/3: lwlrap 0.7222, plain LRAP 0.7917.
    assert metric.fn(answers, submission, columns) == pytest.approx((1 + 1 / 2 + 2 / 3) / 3)
    assert get_metric("label-ranking-average-precision").fn(answers, submission, columns) == pytest.approx(
        (1 + (1 / 2 + 2 / 3) / 2) / 2
    )
    truth = RNG.integers(0, 2, (60, 8))
    truth[:5] = 0  # clips without a label are left out, as the official code does
    scores = RNG.random((60, 8))
    weights = truth.sum(axis=1)
    keep = weights > 0
    expected = label_ranking_average_precision_score(truth[keep], scores[keep], sample_weight=weights[keep])
    columns = [f"c{i}" for i in range(8)]
    value = metric.fn(pd.DataFrame(truth, columns=columns), pd.DataFrame(scores, columns=columns), columns)
    assert value == pytest.approx(expected)


def test_mcrmse_averages_column_rmse_over_the_scored_positions() -> None:
    assert GRADER_FIXES["stanford-covid-vaccine"] == "mean-column-wise-rmse"
    scored = ["reactivity", "deg_Mg_pH10", "deg_Mg_50C"]
    n = 40
    answers = pd.DataFrame({c: RNG.normal(size=n) for c in scored})
    answers.insert(0, "id_seqpos", [f"id_x_{i}" for i in range(n)])
    answers["keep"] = [i % 3 != 0 for i in range(n)]
    submission = pd.DataFrame({c: RNG.normal(size=n) for c in scored})
    submission.insert(0, "id_seqpos", answers["id_seqpos"])
    spec = TaskSpec(
        name="stanford-covid-vaccine",
        metric="mean-column-wise-rmse",
        id_column="id_seqpos",
        target_columns=scored,
        score_where={"keep": "True"},
    )
    kept = answers["keep"].to_numpy()
    expected = np.mean([root_mean_squared_error(answers[c][kept], submission[c][kept]) for c in scored])
    assert grade_aligned(spec, answers, submission) == pytest.approx(expected)


def test_text_normalisation_compares_exact_strings() -> None:
    for language in ("english", "russian"):
        assert GRADER_FIXES[f"text-normalization-challenge-{language}-language"] == "exact-accuracy"
    metric = get_metric("exact-accuracy")
    assert metric.exact_text
    answers, submission = frames("after", ["01", "one", "3"], ["1", "one", "3.0"])
    assert metric.fn(answers, submission, ["after"]) == pytest.approx(1 / 3)
    # The generic accuracy takes "01" for 1 and "3.0" for 3.
    assert get_metric("accuracy").fn(answers, submission, ["after"]) == pytest.approx(1.0)


def kaggle_kl(truth: np.ndarray, guess: np.ndarray) -> float:
    """Kaggle's KL metric as mle-bench's hms grader runs it: vote shares, clipped predictions."""
    truth = truth / truth.sum(axis=1, keepdims=True)
    return float(rel_entr(truth, np.clip(guess, 1e-15, 1 - 1e-15)).sum(axis=1).mean())


def test_hms_rows_that_sum_to_one_within_tolerance_are_scored_as_given() -> None:
    columns = ["seizure_vote", "lpd_vote", "gpd_vote"]
    votes = np.array([[3.0, 1.0, 0.0], [0.0, 2.0, 2.0], [1.0, 1.0, 1.0]])
    # Each row sums to 1.000004: 1 at five decimals, so mle-bench scores it without rescaling.
    guess = np.array([[0.6, 0.3, 0.100004], [0.2, 0.4, 0.400004], [0.3, 0.3, 0.400004]])
    metric = get_metric("kl-divergence")
    value = metric.fn(pd.DataFrame(votes, columns=columns), pd.DataFrame(guess, columns=columns), columns)
    assert value == pytest.approx(kaggle_kl(votes, guess), abs=1e-12)
    rescaled = kaggle_kl(votes, guess / guess.sum(axis=1, keepdims=True))
    assert abs(value - rescaled) > 1e-7
    # A row far from 1 is rescaled (mle-bench would refuse the submission).
    far = guess * 2
    value = metric.fn(pd.DataFrame(votes, columns=columns), pd.DataFrame(far, columns=columns), columns)
    assert value == pytest.approx(rescaled, abs=1e-12)


def example(
    example_id: int, long: tuple[int, int], short: list[tuple[int, int]], yes_no: str
) -> dict[str, object]:
    return {
        "example_id": example_id,
        "question_text": "who wrote it",
        "document_text": "a b c d e f g h i j",
        "long_answer_candidates": [{"start_token": 0, "end_token": 9, "top_level": True}],
        "annotations": [
            {
                "long_answer": {"start_token": long[0], "end_token": long[1], "candidate_index": 0},
                "short_answers": [{"start_token": s, "end_token": e} for s, e in short],
                "yes_no_answer": yes_no,
            }
        ],
    }


def test_question_answering_f1_reads_the_jsonl_answers(tmp_path: Path) -> None:
    assert GRADER_FIXES["tensorflow2-question-answering"] == "question-answering-f1"
    examples = [
        example(101, (0, 9), [(2, 4), (5, 6)], "NONE"),
        example(102, (-1, -1), [], "NONE"),
        example(103, (0, 9), [], "YES"),
        example(104, (0, 9), [(1, 2)], "NONE"),
    ]
    jsonl = tmp_path / "test.jsonl"
    jsonl.write_text("".join(json.dumps(e) + "\n" for e in examples))
    answers = read_answers_jsonl(jsonl)
    ids = [f"{i}_{kind}" for i in (101, 102, 103, 104) for kind in ("long", "short")]
    assert list(answers["example_id"]) == ids
    predicted = {
        "101_long": "0:9",  # TP
        "101_short": "5:6",  # TP (the second right short answer)
        "102_long": "",  # nothing right, nothing predicted: not counted
        "102_short": "YES",  # FP
        "103_long": "",  # FN
        "103_short": "YES",  # TP
        "104_long": "0:8",  # FP
        "104_short": "",  # FN
    }
    submission = pd.DataFrame({"example_id": list(predicted), "PredictionString": list(predicted.values())})
    tp, fp, fn = 3, 2, 2
    metric = get_metric("question-answering-f1")
    assert metric.fn(answers, submission, ["PredictionString"]) == pytest.approx(2 * tp / (2 * tp + fp + fn))
    submission.loc[0, "PredictionString"] = "tokens 0 to 9"
    with pytest.raises(ValueError, match="101_long"):
        metric.fn(answers, submission, ["PredictionString"])


def test_tweet_sentiment_under_hce_scores_empty_spans_zero_not_invalid(tmp_path: Path) -> None:
    competition = "tweet-sentiment-extraction"
    rng = np.random.default_rng(3)
    n = 120
    words = np.array(["good", "bad", "sunny", "awful", "day", "fine", "meh", "love"])
    text = [" ".join(rng.choice(words, 5)) for _ in range(n)]
    table = pd.DataFrame(
        {
            "textID": [f"{k:010x}" for k in rng.permutation(10**6)[:n]],
            "text": text,
            "selected_text": [t.split()[1] for t in text],
            "sentiment": rng.choice(["positive", "neutral", "negative"], n),
        }
    )
    train, test = table.iloc[:100], table.iloc[100:]
    lay_out(
        tmp_path / "data",
        tmp_path / "repo",
        competition,
        "jaccard-similarity",
        train,
        test.drop(columns="selected_text"),
        test[["textID", "selected_text"]],
        test[["textID"]].assign(selected_text="a"),
    )
    hce = HiddenConsistentEvaluation(load(tmp_path, competition), split_seed=SEED)

    def second_word(rows: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"selected_text": [t.split()[1] for t in rows["text"]]})

    scores = hce.score(to_bytes(submit(hce, tmp_path / "public", second_word)))
    assert scores.valid and scores.search == scores.val == scores.test == 1.0, scores
    half = submit(hce, tmp_path / "public", second_word)
    half.loc[half.index % 2 == 0, "selected_text"] = ""
    scores = hce.score(to_bytes(half))
    assert scores.valid, scores.reason
    assert scores.test is not None and 0.2 < scores.test < 0.8  # emptied rows score 0, the others 1
