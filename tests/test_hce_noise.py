"""HCE's own noise (plain Python, no Ray): bootstrap standard errors, the pooled score, the selection
rules, the split-size check and the refit's data and sandbox run."""

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.bootstrap import (
    MAX_UNITS,
    auc_of_resamples,
    bootstrap_se,
    bootstrap_se_of_sums,
    group_rows,
    resample_rows,
)
from evaluation.config import ScoringLimits
from evaluation.evaluator import HCEEvaluator
from evaluation.hce import HiddenConsistentEvaluation
from evaluation.metrics import get_metric
from evaluation.scores import Scores
from evaluation.selection import check_split_sizes, pick_final
from sandbox import SandboxConfig
from tests.test_hce import N_TEST, N_TRAIN, labels_by_x, make_task

ACCURACY = get_metric("accuracy")
RMSE = get_metric("root-mean-squared-error")


def _grader(metric_name: str, truth: np.ndarray, guess: np.ndarray) -> Callable[[np.ndarray], float]:
    metric = get_metric(metric_name)
    answers = pd.DataFrame({"y": truth})
    submission = pd.DataFrame({"y": guess})

    def grade(rows: np.ndarray) -> float:
        picked = (f.iloc[rows].reset_index(drop=True) for f in (answers, submission))
        a, s = picked
        return float(metric.fn(a, s, ["y"]))

    return grade


def _right_80pct(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, n)
    guess = np.where(rng.random(n) < 0.8, truth, (truth + 1) % 3)
    return truth, guess


def test_se_matches_a_direct_bootstrap_of_rmse() -> None:
    rng = np.random.default_rng(3)
    truth = rng.normal(size=300)
    guess = truth + rng.standard_t(3, size=300)  # heavy tails: no closed form, a plain bootstrap
    direct = [
        np.sqrt(np.mean((truth[r] - guess[r]) ** 2))
        for r in np.random.default_rng(99).integers(0, 300, (2000, 300))
    ]
    se = bootstrap_se(_grader("root-mean-squared-error", truth, guess), 300)
    assert se is not None and se == pytest.approx(np.std(direct, ddof=1), rel=0.2)


def test_the_vectorised_auc_bootstrap_is_the_metric_recomputed() -> None:
    rng = np.random.default_rng(5)
    truth = (rng.random(3000) < 0.05).astype(float)  # imbalanced, as in the issue: ~150 positives
    guess = np.round(truth * 0.3 + rng.random(3000), 2)  # rounded: ties, which mid-ranks must handle
    generic = bootstrap_se(_grader("auc-roc", truth, guess), 3000)
    fast = bootstrap_se(
        _grader("auc-roc", truth, guess), 3000, grade_all=auc_of_resamples(truth[:, None], guess[:, None])
    )
    assert generic is not None and fast == pytest.approx(generic, rel=1e-9)


NUMERIC_SUMS = ["matthews-correlation-coefficient", "mean-absolute-error", "root-mean-squared-error"]


@pytest.mark.parametrize("name", NUMERIC_SUMS)
@pytest.mark.parametrize(("n", "grouped"), [(300, False), (900, True), (2 * MAX_UNITS + 7, False)])
def test_a_metric_of_sums_gets_the_error_of_its_resamples_regraded(name: str, n: int, grouped: bool) -> None:
    """The fast path draws the same units and scores each resample from summed statistics: the same
    standard error as regrading every resample with the metric (m-out-of-n past MAX_UNITS too)."""
    metric = get_metric(name)
    assert metric.sums is not None
    rng = np.random.default_rng(n)
    truth = rng.integers(0, 2, (n, 2)).astype(float)
    flips = rng.uniform(size=(n, 2)) < 0.3
    guess = np.where(flips, 1 - truth, truth) if "matthews" in name else truth + rng.normal(0, 1, (n, 2))
    answers, submission = pd.DataFrame(truth, columns=["a", "b"]), pd.DataFrame(guess, columns=["a", "b"])
    stats = metric.sums.row_stats(answers, submission, ["a", "b"])
    assert metric.sums.from_sums(stats.sum(axis=0, keepdims=True))[0] == pytest.approx(
        metric.fn(answers, submission, ["a", "b"])
    )
    groups = rng.integers(0, n // 7, n).astype(str) if grouped else None

    def grade(rows: np.ndarray) -> float:
        a, s = (f.iloc[rows].reset_index(drop=True) for f in (answers, submission))
        return float(metric.fn(a, s, ["a", "b"]))

    generic = bootstrap_se(grade, n, groups)
    fast = bootstrap_se_of_sums(stats, metric.sums.from_sums, groups)
    assert generic is not None and fast == pytest.approx(generic, rel=1e-9)


@pytest.mark.parametrize("n", [400, 3 * MAX_UNITS])  # the second one is bootstrapped m-out-of-n
def test_accuracy_se_matches_the_closed_form(n: int) -> None:
    truth, guess = _right_80pct(n)
    p = float(np.mean(truth == guess))
    se = bootstrap_se(_grader("accuracy", truth, guess), n)
    assert se is not None and se == pytest.approx(np.sqrt(p * (1 - p) / n), rel=0.3)


def test_grouped_resampling_keeps_groups_whole() -> None:
    groups = np.repeat([f"g{k}" for k in range(40)], np.arange(1, 41))[::-1]  # sizes 40..1, out of order
    order, starts, counts = group_rows(groups)
    rows = resample_rows(np.random.default_rng(0), len(groups), (order, starts, counts), 25)
    drawn = pd.Series(groups[rows]).value_counts()
    sizes = pd.Series(groups).value_counts()
    # Each drawn group comes with all its rows, once per draw: its count is a multiple of its size.
    assert all(drawn[g] % sizes[g] == 0 for g in drawn.index)
    assert int((drawn / sizes[drawn.index]).sum()) == 25


def test_grouped_se_counts_groups_not_rows() -> None:
    # 50 groups of 20 rows, every row of a group right or wrong together: 50 effective samples, not 1000.
    per_group = np.random.default_rng(1).random(50) < 0.7
    right = np.repeat(per_group, 20)
    truth = np.zeros(1000, dtype=int)
    guess = np.where(right, 0, 1)
    groups = np.repeat(np.arange(50), 20)
    p = float(right.mean())
    grouped = bootstrap_se(_grader("accuracy", truth, guess), 1000, groups)
    by_row = bootstrap_se(_grader("accuracy", truth, guess), 1000)
    assert grouped is not None and grouped == pytest.approx(np.sqrt(p * (1 - p) / 50), rel=0.25)
    assert by_row is not None and by_row < grouped / 3


def test_scores_carry_ses_and_the_pooled_score_is_the_metric_on_both_splits(tmp_path: Path) -> None:
    task = make_task(tmp_path / "task")
    hce = HiddenConsistentEvaluation(task, split_seed=2603)
    hce.write_public(tmp_path / "public")
    test = pd.read_csv(tmp_path / "public" / "test.csv")
    label = labels_by_x(task)
    right = np.random.default_rng(0).random(len(test)) < 0.75
    guess = [label[x] if ok else "wrong" for x, ok in zip(test["x"], right, strict=True)]
    scores = hce.score(pd.DataFrame({"id": test["id"], "y": guess}).to_csv(index=False).encode())
    assert scores.valid, scores.reason
    sizes = {name: len(ids) for name, ids in hce.split_ids().items()}
    for name in ("search", "val", "test"):
        value, se = getattr(scores, name), getattr(scores, f"{name}_se")
        assert se == pytest.approx(np.sqrt(value * (1 - value) / sizes[name]), rel=0.35)
    # Accuracy on the union of the rows is the size-weighted mean, not the plain mean, of the two.
    n_s, n_v = sizes["search"], sizes["val"]
    assert scores.search is not None and scores.val is not None and scores.search != scores.val
    assert scores.pooled == pytest.approx((n_s * scores.search + n_v * scores.val) / (n_s + n_v))
    assert scores.search_se is not None and scores.val_se is not None and scores.pooled_se is not None
    assert scores.pooled_se < max(scores.search_se, scores.val_se)


def test_each_selection_rule_picks_its_node() -> None:
    scored = {
        1: Scores(valid=True, search=0.90, val=0.70, pooled=0.80, test=0.5),
        2: Scores(valid=True, search=0.80, val=0.95, pooled=0.85, test=0.6),
        3: Scores(valid=True, search=0.85, val=0.90, pooled=0.88, test=0.7),
        4: Scores(valid=False, reason="bad"),
        5: Scores(valid=True, search=0.99, val=None, pooled=None),
    }
    assert pick_final(scored, "val", lower_is_better=False) == 2
    assert pick_final(scored, "search", lower_is_better=False) == 5
    assert pick_final(scored, "pooled", lower_is_better=False) == 3
    assert pick_final(scored, "val", lower_is_better=True) == 1
    assert pick_final(scored, "pooled", lower_is_better=True) == 1
    # A tie on the rule's score goes to the better D_search score, then to the earlier node.
    tied = {7: Scores(valid=True, search=0.5, val=0.9), 6: Scores(valid=True, search=0.5, val=0.9)}
    assert pick_final({**tied, 8: Scores(valid=True, search=0.6, val=0.9)}, "val", False) == 8
    assert pick_final(tied, "val", False) == 6
    assert pick_final({4: scored[4]}, "val", False) is None


def _nodes_on_a_split(n: int) -> dict[int, Scores]:
    """Five nodes 80-84% right, scored on a D_search and a D_val of n rows each."""
    nodes = {}
    for node_id, rate in enumerate([0.80, 0.81, 0.82, 0.83, 0.84], start=1):
        se = {}
        for split, seed in (("search", node_id), ("val", 100 + node_id)):
            rng = np.random.default_rng(seed)
            truth = rng.integers(0, 3, n)
            guess = np.where(np.arange(n) < rate * n, truth, (truth + 1) % 3)
            se[split] = bootstrap_se(_grader("accuracy", truth, guess), n)
        nodes[node_id] = Scores(valid=True, search=rate, val=rate, search_se=se["search"], val_se=se["val"])
    return nodes


def test_split_check_warns_on_a_tiny_split_and_not_on_a_large_one() -> None:
    tiny = check_split_sizes(_nodes_on_a_split(30), lower_is_better=False)
    assert tiny is not None and tiny.warning is not None and "hce.fractions" in tiny.warning
    assert tiny.top_spread == pytest.approx(0.04)
    large = check_split_sizes(_nodes_on_a_split(2000), lower_is_better=False)
    assert large is not None and large.warning is None and large.search_se is not None
    assert large.search_se < 0.015
    assert check_split_sizes(dict(list(_nodes_on_a_split(30).items())[:4]), False) is None


def test_refit_data_holds_every_labelled_row_and_no_test_label(tmp_path: Path) -> None:
    task = make_task(tmp_path / "task", kind="regression")
    hce = HiddenConsistentEvaluation(task, split_seed=2603)
    hce.write_public(tmp_path / "public")
    hce.write_refit(tmp_path / "refit")
    train = pd.read_csv(tmp_path / "refit" / "train.csv")
    test = pd.read_csv(tmp_path / "refit" / "test.csv", dtype=str)
    assert sorted(train["id"]) == list(range(N_TRAIN)) and train["y"].notna().all()
    assert len(test) == N_TEST and "y" not in test.columns
    public_ids = set(pd.read_csv(tmp_path / "public" / "test.csv", dtype=str)["id"])
    assert set(test["id"]) <= public_ids  # the ids the agent's code already predicts
    hidden = pd.read_csv(task.answers_csv, dtype=str)["y"]
    for f in (tmp_path / "refit").rglob("*"):
        text = f.read_text()
        assert not any(value in text for value in hidden), f"a D_test label is in {f.name}"


REFIT_OK = """
import pandas as pd
train, test = pd.read_csv("DATA/train.csv"), pd.read_csv("DATA/test.csv")
assert len(train) == N_TRAIN and "y" not in test.columns, (len(train), list(test.columns))
label = dict(zip(train["x"], train["y"]))
pd.DataFrame({"id": test["id"], "y": [label.get(x, "cat") for x in test["x"]]}).to_csv(
    "submission.csv", index=False
)
"""


@pytest.fixture(scope="module")
def refit_evaluator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HCEEvaluator]:
    root = tmp_path_factory.mktemp("refit")
    make_task(root / "task")
    ev = HCEEvaluator(
        str(root / "task"),
        2603,
        (0.8, 0.1, 0.1),
        str(root / "run" / "task_public"),
        str(root / "run" / "hce_private" / "sealed_scores.jsonl"),
        ScoringLimits(processes=1),
    )
    yield ev
    ev.close()


@pytest.mark.parametrize("isolation", ["bwrap", "none"])
def test_refit_runs_the_code_on_all_labelled_rows_in_a_sandbox(
    refit_evaluator: HCEEvaluator, isolation: str
) -> None:
    # The code reads the data directory the search's sandboxes showed (/data, or the host's public copy).
    public = "/data" if isolation == "bwrap" else str(refit_evaluator.public_dir.resolve())
    code = REFIT_OK.replace("N_TRAIN", str(N_TRAIN)).replace("DATA", public)
    settings = SandboxConfig.model_validate({"isolation": isolation})
    result = refit_evaluator.refit(3, code, public, settings, 120)
    assert result.valid, result.reason
    # The test rows' x values are not in train.csv: the lookup gives "cat", right on about a third.
    assert result.test is not None and 0.1 < result.test < 0.6 and result.test_se is not None


def test_a_refit_that_crashes_or_writes_nothing_says_why(refit_evaluator: HCEEvaluator) -> None:
    crash = refit_evaluator.refit(3, "raise SystemExit('no model for you')", "/data", SandboxConfig(), 60)
    assert not crash.valid and crash.test is None
    assert crash.reason is not None and "exited with code 1" in crash.reason and "no model" in crash.reason
    silent = refit_evaluator.refit(3, "print('done')", "/data", SandboxConfig(), 60)
    assert not silent.valid and silent.reason == "the refit wrote no submission.csv"
    hidden = refit_evaluator.public_dir.parent / "hce_private" / "refit"
    assert not (hidden / "data").exists()  # the labelled copy is gone once the refit has run
