"""HCE's smaller inference channels: which groups are D_search or D_val cannot be recomputed from
public values, the agent's test.csv renders every row alike whichever file it came from, and a
split saved under the old keying is not reused."""

import hashlib
import json
from pathlib import Path

import pandas as pd

from evaluation.hce import HiddenConsistentEvaluation
from evaluation.rendering import canonical_number, render_uniformly
from evaluation.split_store import split_path
from evaluation.splits import SPLITS, group_split
from evaluation.task import Task, load_task
from tests.test_hce import make_task

SEED = 3
FRACTIONS = (0.8, 0.1, 0.1)


def grouped_task(root: Path) -> Task:
    task = make_task(root)
    train = pd.read_csv(task.train_csv)
    train["series"] = train["id"] // 5  # 40 series of 5 rows; the series is in test.csv too
    train.to_csv(task.train_csv, index=False)
    (task.root / "task.yaml").write_text(
        "name: toy\nmetric: accuracy\nid_column: id\ntarget_columns: [y]\ngroup_column: series\n"
    )
    return load_task(task.root)


def public_guesses(ids: list[str], groups: list[str]) -> list[dict[str, list[str]]]:
    """Group splits an agent could compute from what it knows: the seed in the config, the ids and
    groups of train.csv, keyed every way the public values allow (and the old, seed-keyed way)."""
    public_keys = [str(SEED).encode(), f"aira-hce-split\x00{SEED}".encode(), b""]
    guesses = [group_split(ids, groups, key, FRACTIONS) for key in public_keys]

    def old_order(g: str) -> str:  # the keying before the evaluator's secret
        return hashlib.sha256(f"aira-hce-split\x00{SEED}\x00group\x00{g}".encode()).hexdigest()

    ordered = sorted(set(groups), key=old_order)
    guesses.append({"search": [i for i, g in zip(ids, groups, strict=True) if g in ordered[32:36]]})
    return guesses


def test_the_group_split_is_not_reproducible_from_public_values(tmp_path: Path) -> None:
    task = grouped_task(tmp_path / "t")
    split = HiddenConsistentEvaluation(task, split_seed=SEED).split_ids()
    train = pd.read_csv(task.train_csv, dtype=str)
    ids, groups = list(train["id"]), list(train["series"])
    for guess in public_guesses(ids, groups):
        assert guess["search"] != split["search"]
    # The same train.csv with other hidden answers: another split, so the secret is what decides.
    other = grouped_task(tmp_path / "other")
    answers = pd.read_csv(other.answers_csv)
    answers["y"] = answers["y"].iloc[::-1].to_numpy()
    answers.to_csv(other.answers_csv, index=False)
    assert HiddenConsistentEvaluation(other, split_seed=SEED).split_ids()["search"] != split["search"]
    # ...and yet it is stable: a new evaluator (a resume, another seed's run) gets the same one.
    split_path(task, SEED, FRACTIONS).unlink()
    assert HiddenConsistentEvaluation(task, split_seed=SEED).split_ids() == split


def test_a_split_saved_under_the_old_keying_is_not_reused(tmp_path: Path) -> None:
    task = grouped_task(tmp_path / "t")
    split = HiddenConsistentEvaluation(task, split_seed=SEED).split_ids()
    saved = split_path(task, SEED, FRACTIONS)
    stored = json.loads(saved.read_text())
    assert stored["format"] == 3
    stored["format"] = 1  # what a run before the secret keying left, with a split an agent can recompute
    stored["ids"]["search"], stored["ids"]["val"] = stored["ids"]["val"], stored["ids"]["search"]
    saved.write_text(json.dumps(stored))
    assert HiddenConsistentEvaluation(task, split_seed=SEED).split_ids() == split
    assert json.loads(saved.read_text())["format"] == 3  # rewritten under the current keying


def test_test_csv_renders_rows_of_both_files_alike(tmp_path: Path) -> None:
    task = make_task(tmp_path / "t")
    # train.csv writes its numbers one way, test.csv another, as real competitions do.
    train = pd.read_csv(task.train_csv)
    train["x"] = train["x"].map(lambda v: f"{v:.17e}")  # the same values, in exponent notation
    train["noise"] = train["noise"].round(3).map(lambda v: f"{v:.5f}")
    train["id"] = train["id"].astype(str)
    train.to_csv(task.train_csv, index=False)
    test = pd.read_csv(task.test_csv)
    test["noise"] = test["noise"].round(3)
    test.to_csv(task.test_csv, index=False)
    hce = HiddenConsistentEvaluation(load_task(task.root), split_seed=SEED)
    hce.write_public(tmp_path / "public")
    text = pd.read_csv(tmp_path / "public" / "test.csv", dtype=str)
    for column in ("x", "noise"):
        cells = text[column]
        assert all(cell == canonical_number(float(cell)) for cell in cells), column
        assert not cells.str.contains(r"e[+-]|\.\d*0$", regex=True).any(), column
    assert len(text) == sum(len(v) for k, v in hce.split_ids().items() if k in (*SPLITS[1:], "test"))


def test_rendering_keeps_text_and_empty_cells() -> None:
    table = pd.DataFrame({"a": ["3.0", "3", "", "1e-05"], "b": ["x", "3.0", "", "y"]})
    out = render_uniformly(table, ["a", "b"])
    assert list(out["a"]) == ["3", "3", "", "1e-05"] and list(out["b"]) == ["x", "3.0", "", "y"]
