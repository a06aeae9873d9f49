"""The ablation "no HCE" (hce.enabled=false) on the layouts' adapters that have it: every labelled unit
in the agent's copy with its labels, no D_search or D_val, the competition's test rows scored alone.
Each competition's fixture and predictor are those of its own test module."""

import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.hce import HiddenConsistentEvaluation
from evaluation.layouts import LAYOUTS, hidden_consistent_evaluation
from evaluation.task import TaskError
from tests import test_mlebench_file_labels as file_labels
from tests import test_mlebench_gesture as gesture
from tests import test_mlebench_gi_tract as gi_tract
from tests import test_mlebench_gnss as gnss
from tests import test_mlebench_hm as hm
from tests import test_mlebench_hubmap as hubmap
from tests import test_mlebench_json as covid_json
from tests import test_mlebench_lite_text as lite_text
from tests import test_mlebench_nfl as nfl
from tests.test_mlebench_presets import SEED, load, to_bytes


def _uw(copy: Path) -> pd.DataFrame:
    return gi_tract.predict(copy, pd.read_csv(copy / "test.csv"))


def _gnss(copy: Path) -> pd.DataFrame:
    return gnss.predict(pd.read_csv(copy / "sample_submission.csv"))


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
        if name.suffix == ".gz":  # gzip writes the time of compression into its header
            continue
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


def test_adapters_without_the_fold_still_refuse_it(tmp_path: Path) -> None:
    assert not HiddenConsistentEvaluation.folds_hidden
    refused = sorted(
        name for name, cls in LAYOUTS.items() if not cls.folds_hidden and name != "streamed-table"
    )
    assert "stanford-covid-vaccine" in refused
    covid_json.prepare(tmp_path, covid_json.molecules(np.random.default_rng(15), 90))
    with pytest.raises(TaskError, match=r"hce\.enabled=false is not supported for layout"):
        hidden_consistent_evaluation(load(tmp_path, covid_json.COVID), SEED, hidden_split=False)
