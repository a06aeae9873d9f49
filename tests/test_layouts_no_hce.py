"""The ablation "no HCE" (hce.enabled=false) on the layouts' adapters that have it: every labelled unit
in the agent's copy with its labels, no D_search or D_val, the competition's test rows scored alone.
Each competition's fixture and predictor are those of its own test module."""

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.hce import HiddenConsistentEvaluation
from evaluation.layouts import LAYOUTS, hidden_consistent_evaluation
from evaluation.task import TaskError
from tests import test_mlebench_denoising as denoising
from tests import test_mlebench_file_labels as file_labels
from tests import test_mlebench_gesture as gesture
from tests import test_mlebench_gi_tract as gi_tract
from tests import test_mlebench_gnss as gnss
from tests import test_mlebench_hm as hm
from tests import test_mlebench_hubmap as hubmap
from tests import test_mlebench_json as covid_json
from tests import test_mlebench_lite_text as lite_text
from tests import test_mlebench_medical as medical
from tests import test_mlebench_mlsp as mlsp
from tests import test_mlebench_nfl as nfl
from tests import test_mlebench_question_answering as qa
from tests import test_mlebench_text as text
from tests.test_mlebench_presets import SEED, load, to_bytes


def _uw(copy: Path) -> pd.DataFrame:
    return gi_tract.predict(copy, pd.read_csv(copy / "test.csv"))


def _gnss(copy: Path) -> pd.DataFrame:
    return gnss.predict(pd.read_csv(copy / "sample_submission.csv"))


def _covid(tmp_path: Path) -> None:
    covid_json.prepare(tmp_path, covid_json.molecules(np.random.default_rng(15), 90))


def _sentences(copy: Path) -> pd.DataFrame:
    """The test sentences as they are, each still missing its word: valid, if not good."""
    return pd.read_csv(io.StringIO(text.unzipped(copy / "test_v2.txt.zip")), dtype=str, keep_default_na=False)


def _normalised(copy: Path) -> pd.DataFrame:
    return lite_text.read_zipped(copy / "en_sample_submission_2.csv.zip")


# competition, its fixture, a valid submission read off a copy (None: the copy's sample submission).
CASES: list[tuple[str, Callable[[Path], object], Callable[[Path], pd.DataFrame] | None]] = [
    (gi_tract.UW, gi_tract.uw, _uw),
    (nfl.NFL, nfl.nfl, nfl.predict),
    (gnss.GSDC, gnss.gsdc, _gnss),
    (gesture.GESTURE, gesture.gesture, gesture.predict),
    (hm.HM, hm.hm, hm.predict),
    (hubmap.HUBMAP, hubmap.hubmap, None),
    (file_labels.DOGS, file_labels.dogs, None),
    (file_labels.WHALE, file_labels.whales, None),
    (lite_text.PIZZA, lite_text.pizza, None),
    (covid_json.COVID, _covid, None),
    (medical.OSIC, medical.osic, None),
    (text.BILLION, text.billion_words, _sentences),
    (qa.QA, qa.qa, None),
    (mlsp.MLSP, mlsp.mlsp, None),
    (denoising.DENOISING, denoising.denoising, None),
    (lite_text.NORMALIZATION, lite_text.normalization, _normalised),
]


@pytest.mark.parametrize(("competition", "lay_out", "predict"), CASES, ids=[c[0] for c in CASES])
def test_no_hce_puts_every_labelled_unit_in_the_copy_and_scores_the_test_rows(
    tmp_path: Path,
    competition: str,
    lay_out: Callable[[Path], object],
    predict: Callable[[Path], pd.DataFrame] | None,
) -> None:
    lay_out(tmp_path)
    task = load(tmp_path, competition)
    with_hce = hidden_consistent_evaluation(task, SEED).split_ids()
    hce = hidden_consistent_evaluation(task, SEED, hidden_split=False)
    split = hce.split_ids()
    assert split["search"] == [] and split["val"] == [] and split["test"] == with_hce["test"]
    labelled = [u for name in ("train", "search", "val") for u in with_hce[name]]
    assert sorted(split["train"]) == sorted(labelled)
    copy = tmp_path / "copy"
    hce.write_public(copy)
    refit = tmp_path / "refit"
    hce.write_refit(refit)
    # The copy is the refit's: every labelled unit with its labels, the test units alone hidden (a
    # sample submission's rows may come in another order).
    for path in sorted(p for p in refit.rglob("*") if p.is_file()):
        name = path.relative_to(refit)
        mine, refit_bytes = (copy / name).read_bytes(), path.read_bytes()
        if name.suffix == ".zip":  # an archive written afresh carries no clock time
            with zipfile.ZipFile(copy / name) as z:
                assert {i.date_time for i in z.infolist()} <= {(1980, 1, 1, 0, 0, 0)}, name
        if "ample" in name.name:
            assert sorted(mine.splitlines()) == sorted(refit_bytes.splitlines()), name
        else:
            assert mine == refit_bytes, name
    sample = copy / task.spec.sample_file
    submission = to_bytes(predict(copy)) if predict is not None else sample.read_bytes()
    scores = hce.score(submission)
    assert scores.valid, scores.reason
    assert scores.search is None and scores.val is None and scores.test is not None


# The adapters whose refit's copy is their folded copy (`_write_folded`).
FOLDED_REFITS = [c for c in CASES if c[0] in (covid_json.COVID, medical.OSIC, text.BILLION)]


@pytest.mark.parametrize(
    ("competition", "lay_out", "predict"), FOLDED_REFITS, ids=[c[0] for c in FOLDED_REFITS]
)
def test_the_refit_copy_of_a_folding_adapter_keeps_the_agents_test_ids(
    tmp_path: Path,
    competition: str,
    lay_out: Callable[[Path], object],
    predict: Callable[[Path], pd.DataFrame] | None,
) -> None:
    """With HCE on, the refit's copy is the folded one: all labelled units, the D_test units under the
    opaque ids of the agent's copy; its submission is scored on D_test."""
    lay_out(tmp_path)
    task = load(tmp_path, competition)
    hce = hidden_consistent_evaluation(task, SEED)
    split = hce.split_ids()
    copy, refit = tmp_path / "copy", tmp_path / "refit"
    hce.write_public(copy)
    hce.write_refit(refit)
    assert hce.split_ids() == split  # writing the refit's copy leaves the evaluator's split alone

    def rows(folder: Path) -> pd.DataFrame:
        return predict(folder) if predict is not None else pd.read_csv(folder / task.spec.sample_file)

    agent, refit_rows = rows(copy), rows(refit)
    hidden = len(split["search"]) + len(split["val"]) + len(split["test"])
    assert 0 < len(refit_rows) < len(agent) and hidden > len(split["test"])
    assert set(refit_rows[task.spec.id_column]) < set(agent[task.spec.id_column])
    assert hce.scorer().score_refit(to_bytes(refit_rows)).valid
    # The agent's copy still hides D_search and D_val: the refit's labelled file is the larger.
    labelled = {covid_json.COVID: "train.json", medical.OSIC: "train.csv", text.BILLION: "train_v2.txt.zip"}
    assert (refit / labelled[competition]).stat().st_size > (copy / labelled[competition]).stat().st_size


def test_an_adapter_without_the_fold_refuses_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert not HiddenConsistentEvaluation.folds_hidden
    assert [name for name, cls in LAYOUTS.items() if not cls.folds_hidden] == ["streamed-table"]
    monkeypatch.setattr(LAYOUTS[covid_json.COVID], "folds_hidden", False)
    _covid(tmp_path)
    with pytest.raises(TaskError, match=r"hce\.enabled=false is not supported for layout"):
        hidden_consistent_evaluation(load(tmp_path, covid_json.COVID), SEED, hidden_split=False)


def test_every_layout_with_the_fold_is_checked_here(tmp_path: Path) -> None:
    """A new adapter that sets `folds_hidden` gets a case above (the streamed table: test_mlebench_taxi)."""
    layouts = set()
    for k, (competition, lay_out, _) in enumerate(CASES):
        lay_out(tmp_path / str(k))
        layouts.add(load(tmp_path / str(k), competition).spec.layout)
    assert layouts == {name for name, cls in LAYOUTS.items() if cls.folds_hidden}
