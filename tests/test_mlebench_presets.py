"""Competitions whose grading needs more than id and target columns, laid out as `mlebench prepare`
writes them (data made here, shaped like the real files): ventilator (only u_out == 0 rows scored,
breaths kept whole), champs (answers.csv with the coupling type, molecules kept whole) and spooky (one
author column in train.csv, one probability column per author in the submission)."""

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from evaluation.hce import HiddenConsistentEvaluation
from evaluation.mlebench import COVERED, grade_on_answers, load_mlebench_task
from evaluation.task import Task, TaskError, load_task

SEED = 2603


def lay_out(
    data: Path,
    repo: Path,
    competition: str,
    grader: str,
    train: pd.DataFrame,
    test: pd.DataFrame,
    answers: pd.DataFrame,
    sample: pd.DataFrame,
    answers_name: str = "test.csv",
) -> None:
    public, private = data / competition / "prepared" / "public", data / competition / "prepared" / "private"
    public.mkdir(parents=True)
    private.mkdir(parents=True)
    train.to_csv(public / "train.csv", index=False)
    test.to_csv(public / "test.csv", index=False)
    sample.to_csv(public / "sample_submission.csv", index=False)
    answers.to_csv(private / answers_name, index=False)
    (public / "description.md").write_text(f"# {competition}\n")
    write_config(repo, competition, grader, answers_name)


def write_config(repo: Path, competition: str, grader: str, answers: str) -> None:
    """The competition's config.yaml in an mle-bench checkout: its answers file and grader."""
    config = repo / "mlebench" / "competitions" / competition
    config.mkdir(parents=True)
    (config / "config.yaml").write_text(
        f"id: {competition}\ndataset:\n  answers: {competition}/prepared/private/{answers}\n"
        f"grader:\n  name: {grader}\n"
    )


def load(tmp_path: Path, competition: str) -> Task:
    return load_mlebench_task(tmp_path / "data", competition, tmp_path / "repo", tmp_path / "cache")


def submit(hce: HiddenConsistentEvaluation, public: Path, predict: object) -> pd.DataFrame:
    """A submission for the agent's copy: `predict(test_rows)` gives the target columns."""
    hce.write_public(public)
    test = pd.read_csv(public / "test.csv")
    table = predict(test)  # type: ignore[operator]
    return pd.concat([test[[hce.task.spec.id_column]], table.reset_index(drop=True)], axis=1)


def copy_rows(hce: HiddenConsistentEvaluation, copy: Path, **read: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The labelled rows and the test rows of an agent's copy: its train file, and its test file or,
    where the competition has none (the test rows are the sample's), the sample submission's ids."""
    spec = hce.task.spec
    train = pd.read_csv(copy / spec.train_file, **read)
    if hce.task.test_is_sample:
        assert not (copy / "test.csv").exists()  # as prepare.py: no test table
        return train, pd.read_csv(copy / spec.sample_file, **read)[[spec.id_column]]
    return train, pd.read_csv(copy / spec.test_file, **read)


def to_bytes(table: pd.DataFrame) -> bytes:
    return table.to_csv(index=False).encode()


def ventilator(tmp_path: Path) -> dict[float, tuple[float, int]]:
    """30 + 6 breaths of 20 steps; returns (pressure, u_out) by the unique time_step."""
    rng = np.random.default_rng(0)
    breaths, steps = 36, 20
    n = breaths * steps
    table = pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "breath_id": np.repeat(rng.permutation(1000)[:breaths], steps),
            "R": 20,
            "C": 50,
            "time_step": np.arange(n) * 0.033 + 0.0001,
            "u_in": rng.uniform(0, 30, n).round(6),
            "u_out": np.tile([0] * 8 + [1] * 12, breaths),
            "pressure": rng.uniform(5, 40, n).round(6),
        }
    )
    cut = 30 * steps
    train, test = table.iloc[:cut].copy(), table.iloc[cut:].copy()
    test["id"] = np.arange(1, len(test) + 1)
    lay_out(
        tmp_path / "data",
        tmp_path / "repo",
        "ventilator-pressure-prediction",
        "dice-hausdorff-combo",  # what mle-bench's config.yaml wrongly says
        train,
        test.drop(columns="pressure"),
        test,
        test[["id"]].assign(pressure=0),
    )
    return {t: (p, u) for t, p, u in zip(table["time_step"], table["pressure"], table["u_out"], strict=True)}


def test_ventilator_scores_inspiration_only_and_keeps_breaths_whole(tmp_path: Path) -> None:
    truth = ventilator(tmp_path)
    task = load(tmp_path, "ventilator-pressure-prediction")
    assert task.spec.metric == "mean-absolute-error" and task.spec.score_where == {"u_out": 0}
    hce = HiddenConsistentEvaluation(task, split_seed=SEED)
    train = pd.read_csv(task.train_csv, dtype={"id": str})
    split_of = {row_id: name for name, ids in hce.split_ids().items() for row_id in ids}
    splits_per_breath = [len({split_of[i] for i in ids}) for _, ids in train.groupby("breath_id")["id"]]
    assert set(splits_per_breath) == {1}, "a breath was cut across HCE splits"

    def exact_in_only(test: pd.DataFrame) -> pd.DataFrame:
        # Right during inspiration, 1000 off while breathing out: the unscored phase.
        return pd.DataFrame({"pressure": [truth[t][0] + 1000 * truth[t][1] for t in test["time_step"]]})

    scores = hce.score(to_bytes(submit(hce, tmp_path / "public", exact_in_only)))
    assert scores.valid and scores.search == scores.val == scores.test == 0.0, scores

    def off_by_two_in(test: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"pressure": [truth[t][0] + 2 * (1 - truth[t][1]) for t in test["time_step"]]})

    scores = hce.score(to_bytes(submit(hce, tmp_path / "public2", off_by_two_in)))
    assert scores.test == pytest.approx(2.0) and scores.val == pytest.approx(2.0)
    # The competition's own test set, graded as mle-bench grades it.
    answers = pd.read_csv(task.answers_csv)
    spoiled = answers[["id", "pressure"]].assign(pressure=answers["pressure"] + 5 * answers["u_out"])
    spoiled.to_csv(tmp_path / "sub.csv", index=False)
    assert grade_on_answers(task, tmp_path / "sub.csv") == 0.0


def test_champs_reads_answers_csv_and_averages_log_mae_per_type(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    molecules, per_molecule = 60, 8
    n = molecules * per_molecule
    types = np.array(["1JHC", "2JHH", "3JHN"])
    table = pd.DataFrame(
        {
            "id": rng.permutation(10**5)[:n],
            "molecule_name": np.repeat([f"dsgdb9nsd_{k:06d}" for k in range(molecules)], per_molecule),
            "atom_index_0": rng.integers(0, 20, n),
            "atom_index_1": np.arange(n),  # unique: keys the truth below
            "type": types[rng.integers(0, 3, n)],
            "scalar_coupling_constant": rng.normal(10, 5, n).round(6),
        }
    )
    train, answers = table.iloc[: 50 * per_molecule], table.iloc[50 * per_molecule :]
    lay_out(
        tmp_path / "data",
        tmp_path / "repo",
        "champs-scalar-coupling",
        "log-mean-absolute-error",
        train,
        answers.drop(columns="scalar_coupling_constant"),
        answers,
        answers[["id"]].assign(scalar_coupling_constant=0),
        answers_name="answers.csv",
    )
    task = load(tmp_path, "champs-scalar-coupling")
    assert task.answers_csv.name == "answers.csv" and task.spec.answer_columns == ["type"]
    hce = HiddenConsistentEvaluation(task, split_seed=SEED)
    truth = dict(zip(table["atom_index_1"], table["scalar_coupling_constant"], strict=True))
    kind = dict(zip(table["atom_index_1"], table["type"], strict=True))
    # Off by 1 on 1JHC, by 2 on 2JHH, by 4 on 3JHN: log-MAE per type is log 1, log 2, log 4.
    offset = {"1JHC": 1.0, "2JHH": 2.0, "3JHN": 4.0}

    def per_type_error(test: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(
            {"scalar_coupling_constant": [truth[a] + offset[kind[a]] for a in test["atom_index_1"]]}
        )

    public = tmp_path / "public"
    scores = hce.score(to_bytes(submit(hce, public, per_type_error)))
    expected = (math.log(1) + math.log(2) + math.log(4)) / 3
    assert scores.valid and scores.test == pytest.approx(expected), scores
    assert "type" in pd.read_csv(public / "test.csv").columns  # an input, and kept for the grader
    split_of = {row_id: name for name, ids in hce.split_ids().items() for row_id in ids}
    by_molecule = pd.read_csv(task.train_csv, dtype={"id": str}).groupby("molecule_name")["id"]
    assert all(len({split_of[i] for i in ids}) == 1 for _, ids in by_molecule)


def test_spooky_one_hot_encodes_the_author_column(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    authors = ["EAP", "HPL", "MWS"]
    n = 400
    table = pd.DataFrame(
        {
            "id": [f"id{k:05d}" for k in rng.permutation(10**5)[:n]],
            "text": [f"sentence number {k}" for k in range(n)],
            "author": rng.choice(authors, n, p=[0.5, 0.3, 0.2]),
        }
    )
    train, test = table.iloc[:340], table.iloc[340:]
    one_hot = pd.get_dummies(test.set_index("id")["author"]).astype(int).reset_index()
    lay_out(
        tmp_path / "data",
        tmp_path / "repo",
        "spooky-author-identification",
        "multi-class-log-loss",
        train,
        test.drop(columns="author"),
        one_hot[["id", *authors]],
        one_hot[["id"]].assign(EAP=0.403493538995863, HPL=0.287808366106543, MWS=0.308698094897594),
    )
    task = load(tmp_path, "spooky-author-identification")
    assert task.spec.label_column == "author" and task.spec.target_columns == authors
    hce = HiddenConsistentEvaluation(task, split_seed=SEED)
    author_of = dict(zip(table["text"], table["author"], strict=True))

    def certain(test: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({a: [float(author_of[t] == a) for t in test["text"]] for a in authors})

    def uniform(test: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({a: [1 / 3] * len(test) for a in authors})

    perfect = hce.score(to_bytes(submit(hce, tmp_path / "p1", certain)))
    assert perfect.valid
    assert [perfect.search, perfect.val, perfect.test] == pytest.approx([0.0] * 3, abs=1e-9)
    flat = hce.score(to_bytes(submit(hce, tmp_path / "p2", uniform)))
    assert [flat.search, flat.val, flat.test] == pytest.approx([math.log(3)] * 3)
    assert "author" in pd.read_csv(tmp_path / "p1" / "train.csv").columns
    assert "author" not in pd.read_csv(tmp_path / "p1" / "test.csv").columns
    # Stratified on the author: each scored split has the classes in about train.csv's proportions.
    train_labels = pd.read_csv(task.train_csv, dtype={"id": str}).set_index("id")["author"]
    for name in ("search", "val"):
        share = train_labels.loc[hce.split_ids()[name]].value_counts(normalize=True)
        assert share["EAP"] == pytest.approx(0.5, abs=0.1)
    presets = {"spooky-author-identification", "ventilator-pressure-prediction", "champs-scalar-coupling"}
    assert presets <= set(COVERED)


def test_a_class_without_a_probability_column_is_named(tmp_path: Path) -> None:
    root = tmp_path / "task"
    public, private = root / "prepared" / "public", root / "prepared" / "private"
    public.mkdir(parents=True)
    private.mkdir(parents=True)
    rows = pd.DataFrame({"id": [f"r{k}" for k in range(60)], "x": range(60), "kind": ["a", "b", "c"] * 20})
    rows.to_csv(public / "train.csv", index=False)
    pd.DataFrame({"id": ["t1"], "x": [1]}).to_csv(public / "test.csv", index=False)
    pd.DataFrame({"id": ["t1"], "a": [0.5], "b": [0.5]}).to_csv(public / "sample_submission.csv", index=False)
    pd.DataFrame({"id": ["t1"], "a": [1], "b": [0]}).to_csv(private / "test.csv", index=False)
    (public / "description.md").write_text("# toy\n")
    (root / "task.yaml").write_text(
        "name: toy\nmetric: multi-class-log-loss\nid_column: id\ntarget_columns: [a, b]\nlabel_column: kind\n"
    )
    with pytest.raises(TaskError, match=r"class\(es\) \['c'\] of 'kind' have no probability column"):
        HiddenConsistentEvaluation(load_task(root), split_seed=SEED)
    (root / "task.yaml").write_text(
        "name: toy\nmetric: multi-class-log-loss\nid_column: id\ntarget_columns: [a, b]\nlabel_column: kind\n"
        "score_where: {flag: 0}\n"
    )
    with pytest.raises(TaskError, match=r"lacks the column\(s\) 'flag'"):
        load_task(root)


def test_jigsaw_toxic_leaves_rows_labelled_minus_one_unscored(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    classes = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
    n_train, n_test = 300, 80
    labels = rng.integers(0, 2, (n_train + n_test, len(classes)))
    table = pd.DataFrame(labels, columns=classes)
    table.insert(0, "comment_text", [f"comment {k}" for k in range(n_train + n_test)])
    table.insert(0, "id", [f"{k:016x}" for k in rng.permutation(10**6)[: n_train + n_test]])
    train, test = table.iloc[:n_train], table.iloc[n_train:].copy()
    test.loc[test.index[:30], classes] = -1  # Kaggle's test_labels: rows it did not score
    lay_out(
        tmp_path / "data",
        tmp_path / "repo",
        "jigsaw-toxic-comment-classification-challenge",
        "column-wise ROC AUC",
        train,
        test[["id", "comment_text"]],
        test[["id", *classes]],
        test[["id"]].assign(**dict.fromkeys(classes, 0.5)),
    )
    task = load(tmp_path, "jigsaw-toxic-comment-classification-challenge")
    answers = pd.read_csv(task.answers_csv)
    # Right on the scored rows, inverted on the -1 rows: a perfect column-wise AUC all the same.
    right = answers.copy()
    right.loc[right.index[:30], classes] = 1
    right.to_csv(tmp_path / "sub.csv", index=False)
    assert grade_on_answers(task, tmp_path / "sub.csv") == pytest.approx(1.0)
    hce = HiddenConsistentEvaluation(task, split_seed=SEED)
    assert hce.score(
        to_bytes(
            submit(
                hce,
                tmp_path / "public",
                lambda t: pd.DataFrame({c: rng.uniform(size=len(t)) for c in classes}),
            )
        )
    ).valid
