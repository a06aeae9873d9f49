"""Competitions whose data are JSON lines with one labelled unit per line, laid out as mle-bench's
prepare.py writes them (data made here, shaped like the real files): stanford-covid-vaccine (RNA
molecules, five per-base targets submitted per position, three scored on the first seq_scored)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.covid_vaccine import CovidVaccineHCE
from evaluation.layouts import hidden_consistent_evaluation
from evaluation.mlebench import COVERED, NOT_YET, grade_on_answers, load_mlebench_task
from evaluation.task import Task, TaskError
from tests.test_mlebench_presets import SEED, to_bytes

COVID = "stanford-covid-vaccine"
TARGETS = ["reactivity", "deg_Mg_pH10", "deg_pH10", "deg_Mg_50C", "deg_50C"]
SCORED = ["reactivity", "deg_Mg_pH10", "deg_Mg_50C"]
TEST_FIELDS = ["index", "id", "sequence", "structure", "predicted_loop_type", "seq_length", "seq_scored"]
LENGTH, SCORED_LENGTH = 20, 12


def molecules(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Kaggle-shaped molecules: a sequence, structure and loop type per base, the error and target
    lists over the first seq_scored bases, a signal-to-noise filter failing on a fifth of them."""
    table = pd.DataFrame(
        {
            "index": range(n),
            "id": [f"id_{k:09x}" for k in rng.permutation(16**6)[:n]],
            "sequence": ["".join(rng.choice(list("ACGU"), LENGTH)) for _ in range(n)],
            "structure": ["((....))" + "." * (LENGTH - 8)] * n,
            "predicted_loop_type": ["SSHHHHSS" + "E" * (LENGTH - 8)] * n,
            "signal_to_noise": rng.uniform(0, 10, n).round(3),
            "SN_filter": (rng.uniform(size=n) > 0.2).astype(int),
            "seq_length": LENGTH,
            "seq_scored": SCORED_LENGTH,
        }
    )
    for column in TARGETS:
        table[column.replace("reactivity", "reactivity_error").replace("deg_", "deg_error_")] = [
            list(rng.uniform(0, 0.3, SCORED_LENGTH).round(4)) for _ in range(n)
        ]
    for column in TARGETS:
        table[column] = [list(rng.normal(0.5, 0.3, SCORED_LENGTH).round(4)) for _ in range(n)]
    return table


def prepare(tmp_path: Path, raw: pd.DataFrame) -> pd.DataFrame:
    """What mle-bench's prepare.py writes: a tenth of the filtered molecules become its test set."""
    public = tmp_path / "data" / COVID / "prepared" / "public"
    private = tmp_path / "data" / COVID / "prepared" / "private"
    public.mkdir(parents=True)
    private.mkdir(parents=True)
    test_ids = raw[raw["SN_filter"] > 0].sample(n=len(raw) // 10, random_state=0)["id"]
    train, test = raw[~raw["id"].isin(test_ids)].copy(), raw[raw["id"].isin(test_ids)].copy()
    records = []
    for _, row in test.iterrows():
        for k in range(LENGTH):
            scored = k < SCORED_LENGTH
            values = {c: row[c][k] if scored else 0.0 for c in TARGETS}
            records.append({"id_seqpos": f"{row['id']}_{k}", **values, "keep": scored})
    answers = pd.DataFrame(records)
    answers.to_csv(private / "test.csv", index=False, float_format="%.10f")
    train["index"] = range(len(train))
    train.to_json(public / "train.json", orient="records", lines=True)
    test = test[TEST_FIELDS].copy()
    test["index"] = range(len(test))
    test.to_json(public / "test.json", orient="records", lines=True)
    sample = answers[["id_seqpos", *TARGETS]].assign(**dict.fromkeys(TARGETS, 0.0))
    sample.to_csv(public / "sample_submission.csv", index=False, float_format="%.10f")
    (public / "description.md").write_text(f"# {COVID}\n")
    config = tmp_path / "repo" / "mlebench" / "competitions" / COVID
    config.mkdir(parents=True)
    (config / "config.yaml").write_text(f"id: {COVID}\ngrader:\n  name: multi-class-log-loss\n")
    return answers


def mcrmse(truth: dict[str, list[list[float]]], guess: dict[str, list[list[float]]]) -> float:
    """The competition's metric from its definition: per scored column, the RMSE over every scored
    base of every molecule; then the mean of the three."""
    errors = []
    for column in SCORED:
        t = np.concatenate([np.asarray(v)[:SCORED_LENGTH] for v in truth[column]])
        g = np.concatenate([np.asarray(v)[:SCORED_LENGTH] for v in guess[column]])
        errors.append(np.sqrt(np.mean((t - g) ** 2)))
    return float(np.mean(errors))


def test_stanford_covid_keeps_molecules_whole_and_scores_three_targets_per_base(tmp_path: Path) -> None:
    rng = np.random.default_rng(15)
    raw = molecules(rng, 90)
    answers = prepare(tmp_path, raw)
    task = load_mlebench_task(tmp_path / "data", COVID, tmp_path / "repo", tmp_path / "cache")
    assert COVID in COVERED and COVID not in NOT_YET
    assert task.spec.metric == "mean-column-wise-rmse" and task.spec.scored_columns == SCORED
    hce = hidden_consistent_evaluation(task, SEED)
    assert isinstance(hce, CovidVaccineHCE)
    split = hce.split_ids()
    train = pd.read_json(task.train_csv, lines=True, dtype={"id": str}).set_index("id")
    assert sorted(split["train"] + split["search"] + split["val"]) == sorted(train.index)
    assert len(split["search"]) >= 5 and len(split["val"]) >= 5
    failing = set(train.index[train["SN_filter"] == 0])
    assert failing and failing <= set(split["train"]), "a molecule failing the SN filter was hidden"

    public = tmp_path / "public"
    hce.write_public(public)
    names = sorted(p.name for p in public.iterdir())
    assert names == ["description.md", "sample_submission.csv", "test.json", "train.json"]
    seen = pd.read_json(public / "train.json", lines=True, dtype={"id": str})
    assert sorted(seen["id"]) == sorted(split["train"]) and list(seen["index"]) == list(range(len(seen)))
    test = pd.read_json(public / "test.json", lines=True, dtype={"id": str})
    assert list(test.columns) == TEST_FIELDS and len(test) == sum(
        len(split[n]) for n in ("search", "val", "test")
    )
    hidden = [i for n in ("search", "val", "test") for i in split[n]]
    for path in public.iterdir():
        blob = path.read_bytes()
        assert not [i for i in hidden if i.encode() in blob], f"{path.name} names a hidden molecule"
    sample = pd.read_csv(public / "sample_submission.csv")
    assert list(sample.columns) == ["id_seqpos", *TARGETS] and len(sample) == len(test) * LENGTH

    # A forecast from each molecule's sequence (unique here): the truth plus noise on the scored
    # bases, nonsense where nothing is scored (unscored targets, bases past seq_scored).
    by_sequence: dict[str, dict[str, list[float]]] = {
        str(s): {c: list(row[c]) for c in TARGETS} for s, row in raw.set_index("sequence").iterrows()
    }
    noise = np.random.default_rng(1)
    guess: dict[str, dict[str, list[float]]] = {}
    rows = []
    for opaque, sequence in zip(test["id"], test["sequence"], strict=True):
        guess[sequence] = {
            c: list(np.asarray(by_sequence[sequence][c]) + noise.normal(0, 0.1, SCORED_LENGTH))
            for c in SCORED
        }
        for k in range(LENGTH):
            cells = {c: (guess[sequence][c][k] if k < SCORED_LENGTH else 99.0) for c in SCORED}
            rows.append({"id_seqpos": f"{opaque}_{k}", **cells, "deg_pH10": 99.0, "deg_50C": -99.0})
    submission = pd.DataFrame(rows)
    scores = hce.score(to_bytes(submission))
    assert scores.valid, scores.reason
    sequence_of = raw.set_index("id")["sequence"]
    for name in ("search", "val", "test"):
        sequences = [sequence_of[m] for m in split[name]]
        truth = {c: [by_sequence[s][c] for s in sequences] for c in SCORED}
        expected = mcrmse(truth, {c: [guess[s][c] for s in sequences] for c in SCORED})
        assert getattr(scores, name) == pytest.approx(expected, rel=1e-9), name
    assert scores.search is not None and 0.05 < scores.search < 0.15

    # The competition's own test set, graded from its answers file.
    answers.drop(columns="keep").to_csv(tmp_path / "sub.csv", index=False)
    assert grade_on_answers(task, tmp_path / "sub.csv") == pytest.approx(0.0, abs=1e-9)
    # Invalid: an unscored column left out (the competition requires all five), a position missing.
    bad = hce.score(to_bytes(submission.drop(columns="deg_50C")))
    assert not bad.valid and "deg_50C" in (bad.reason or ""), bad
    bad = hce.score(to_bytes(submission.iloc[1:]))
    assert not bad.valid and submission["id_seqpos"].iloc[0] in (bad.reason or ""), bad


def test_an_unknown_layout_is_named_with_the_known_ones(tmp_path: Path) -> None:
    answers = prepare(tmp_path, molecules(np.random.default_rng(2), 30))
    assert len(answers) == 3 * LENGTH
    task = load_mlebench_task(tmp_path / "data", COVID, tmp_path / "repo", tmp_path / "cache")
    spec = task.spec.model_copy(update={"layout": "stanford-covid-vaccine-v2"})
    with pytest.raises(TaskError, match=r"unknown layout 'stanford-covid-vaccine-v2'; known layouts are "):
        hidden_consistent_evaluation(Task(spec=spec, root=task.root), SEED)
    train = task.public_dir / "train.json"
    train.write_text(train.read_text().replace('"seq_scored"', '"scored"'))
    with pytest.raises(TaskError, match=r"train\.json lacks the field\(s\) \['seq_scored'\]"):
        hidden_consistent_evaluation(task, SEED)
