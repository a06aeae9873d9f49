"""uw-madison-gi-tract-image-segmentation laid out as mle-bench's prepare.py writes it (data made here,
shaped like the real files): 16-bit PNG slices per case-day, three organ masks per slice as RLEs, a
submission row per (id, class), the image sizes in the answers."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from evaluation.gi_tract import GiTractHCE
from evaluation.layouts import hidden_consistent_evaluation
from evaluation.mlebench import COVERED, NOT_YET, grade_on_answers
from evaluation.task import TaskError
from tests.test_mlebench_hubmap import rle
from tests.test_mlebench_medical import folders
from tests.test_mlebench_presets import SEED, load, to_bytes, write_config

UW = "uw-madison-gi-tract-image-segmentation"
CLASSES = ("large_bowel", "small_bowel", "stomach")
SLICES = 4
# Real case numbers are sparse (case2, case7, ...); the last two go to mle-bench's test set whole, and
# case 15's fifth day too (prepare.py moves the days after the fourth of a train case to test).
CASES = [2, 7, 9, 15, 19, 22, 30, 33, 41, 44, 56, 60, 77, 85]
TEST_CASES = {77, 85}


def organs(case: int, day: int, slice_no: int, height: int, width: int) -> np.ndarray:
    """Per pixel, 0 or the organ (1 + its index in CLASSES); the first slice of a case-day shows none."""
    found = np.zeros((height, width), dtype=np.uint16)
    if slice_no == 1:
        return found
    for k in range(3):
        if (case + day + slice_no + k) % 3:  # not every organ on every slice
            row = (case + k * 2) % (height - 1)
            found[row : row + 2, k * 2 + slice_no % 2 : k * 2 + slice_no % 2 + 2] = 1 + k
    return found


def masks(image: np.ndarray) -> dict[str, str]:
    """Each class's RLE as the scan encodes it (organ k at 1000 * (1 + k))."""
    return {c: rle(image // 1000 == 1 + k) for k, c in enumerate(CLASSES)}


def uw(tmp_path: Path) -> None:
    public, private = folders(tmp_path, UW)
    train_rows: list[dict[str, object]] = []
    test_rows: list[dict[str, object]] = []
    for case in CASES:
        height, width = 6 + case % 3, 8 + case % 2
        days = [0, 3, 8, 10, 14] if case == 15 else [0, 2 + case % 3]
        for position, day in enumerate(days):
            test = case in TEST_CASES or position >= 4
            case_day = f"case{case}_day{day}"
            scans = public / ("test" if test else "train") / f"case{case}" / case_day / "scans"
            scans.mkdir(parents=True)
            for slice_no in range(1, SLICES + 1):
                image = (organs(case, day, slice_no, height, width) * 1000).astype(np.uint16)
                Image.fromarray(image).save(scans / f"slice_{slice_no:04d}_{width}_{height}_1.50_1.50.png")
                for c, encoded in masks(image).items():
                    row: dict[str, object] = {
                        "id": f"{case_day}_slice_{slice_no:04d}",
                        "class": c,
                        "segmentation": encoded,
                    }
                    if test:
                        row.update(image_width=float(width), image_height=float(height))
                    (test_rows if test else train_rows).append(row)
    pd.DataFrame(train_rows).to_csv(public / "train.csv", index=False)
    answers = pd.DataFrame(test_rows).rename(columns={"segmentation": "predicted"})
    answers.to_csv(private / "test.csv", index=False)
    answers[["id", "class"]].to_csv(public / "test.csv", index=False)
    answers[["id", "class"]].assign(predicted="1 1 5 2").to_csv(public / "sample_submission.csv", index=False)
    write_config(tmp_path / "repo", UW, "dice-hausdorff-combo", "test.csv")


def predict(copy: Path, test: pd.DataFrame, side: str = "test") -> pd.DataFrame:
    """Masks read off each slice's scan in the copy's `side` folder (found by the id, as an agent would)."""
    predicted = []
    for slice_id, c in zip(test["id"], test["class"], strict=True):
        case_day, slice_no = slice_id.split("_slice_")
        case = case_day.split("_")[0]
        (scan,) = (copy / side / case / case_day / "scans").glob(f"slice_{slice_no}_*.png")
        predicted.append(masks(np.asarray(Image.open(scan)))[c])
    return test.assign(predicted=predicted)


def test_uw_madison_hides_whole_cases_under_new_case_numbers_and_scores_by_id_and_class(
    tmp_path: Path,
) -> None:
    uw(tmp_path)
    assert UW in COVERED and UW not in NOT_YET
    task = load(tmp_path, UW)
    hce = hidden_consistent_evaluation(task, SEED)
    assert isinstance(hce, GiTractHCE)
    split = hce.split_ids()
    case_of = {name: {s.split("_")[0] for s in ids} for name, ids in split.items()}
    assert case_of["search"] and case_of["val"]
    for a, b in (("train", "search"), ("train", "val"), ("search", "val")):
        assert case_of[a].isdisjoint(case_of[b])  # cases kept whole
    assert case_of["test"] == {"case77", "case85", "case15"}

    copy = tmp_path / "public"
    hce.write_public(copy)
    train = pd.read_csv(copy / "train.csv", keep_default_na=False)
    assert list(train.columns) == ["id", "class", "segmentation"]
    assert set(train["id"]) == set(split["train"])
    assert {p.name for p in (copy / "train").iterdir()} == case_of["train"]
    test = pd.read_csv(copy / "test.csv")
    sample = pd.read_csv(copy / "sample_submission.csv", keep_default_na=False)
    assert list(test.columns) == ["id", "class"] and list(sample.columns) == ["id", "class", "predicted"]
    hidden = [s for name in ("search", "val", "test") for s in split[name]]
    assert len(test) == 3 * len(hidden) and (sample[["id", "class"]] == test).all().all()
    assert list(test["class"][:3]) == list(CLASSES)
    # No hidden case's name, no link: new case numbers, above every real one, a folder per case-day.
    real = {f"case{c}" for c in CASES}
    shown_cases = {p.name for p in (copy / "test").iterdir()}
    assert shown_cases.isdisjoint(real) and min(int(c[4:]) for c in shown_cases) > max(CASES)
    assert set(test["id"].str.split("_").str[0]) == shown_cases
    assert not any(p.is_symlink() for p in copy.rglob("*"))
    names = {part for p in copy.rglob("*") for part in p.relative_to(copy).parts}
    assert not any(c in part.split("_") for part in names for c in real - case_of["train"])
    assert not any(s in (copy / "test.csv").read_text() for s in hidden)
    # A slice's id still says its day and slice; the scans of a case-day are the ones its ids name.
    assert test["id"].str.fullmatch(r"case\d+_day\d+_slice_\d{4}").all()

    right = predict(copy, test)
    scores = hce.score(to_bytes(right))
    assert scores.valid and (scores.search, scores.val, scores.test) == (1.0, 1.0, 1.0)
    assert scores.test_se is not None
    empty = hce.score(to_bytes(test.assign(predicted="")))
    assert empty.valid and (empty.test or 0) < 0.5  # valid: an empty mask is an answer
    swapped = right.assign(predicted=right.groupby("id")["predicted"].transform(lambda p: p[::-1].to_numpy()))
    assert 0 < (hce.score(to_bytes(swapped)).test or 0) < 1
    reordered = right.sample(frac=1, random_state=0)
    assert hce.score(to_bytes(reordered)).test == 1.0

    no_class = hce.score(to_bytes(right.drop(columns="class")))
    assert not no_class.valid and "lacks the column(s) 'class'" in str(no_class.reason)
    twice = right.copy()
    twice["class"] = [right["class"][0], right["class"][0], *right["class"][2:]]
    repeated = hce.score(to_bytes(twice))
    assert not repeated.valid and "1 duplicate key in 'id' and 'class'" in str(repeated.reason)
    assert " / large_bowel" in str(repeated.reason)  # the key shown readably
    odd = hce.score(to_bytes(right.assign(predicted="1 2 3")))
    assert not odd.valid and "odd count" in str(odd.reason)

    refit = tmp_path / "refit"
    hce.write_refit(refit)
    labelled = {s for name in ("train", "search", "val") for s in split[name]}
    assert set(pd.read_csv(refit / "train.csv")["id"]) == labelled
    refit_test = pd.read_csv(refit / "test.csv")
    assert len(refit_test) == 3 * len(split["test"])
    assert hce.scorer().score_refit(to_bytes(predict(refit, refit_test))).test == 1.0

    # mle-bench's own test set, graded by its ids and the scans of prepared/public/test.
    original = pd.read_csv(task.public_dir / "test.csv")
    submission = tmp_path / "submission.csv"
    predict(task.public_dir, original).to_csv(submission, index=False)
    assert grade_on_answers(task, submission) == 1.0


def test_uw_madison_broken_layouts_are_named(tmp_path: Path) -> None:
    uw(tmp_path)
    scan = next((tmp_path / "data" / UW / "prepared" / "public" / "train").rglob("slice_0002_*.png"))
    scan.unlink()
    with pytest.raises(
        TaskError, match=r"train\.csv lists slice 'case\d+_day\d+_slice_0002' .* with no scan"
    ):
        hidden_consistent_evaluation(load(tmp_path, UW), SEED)
    uw(tmp_path / "again")
    train_csv = tmp_path / "again" / "data" / UW / "prepared" / "public" / "train.csv"
    table = pd.read_csv(train_csv)
    table.loc[4, "id"] = "scan_0004"
    table.to_csv(train_csv, index=False)
    with pytest.raises(TaskError, match="id 'scan_0004' is not of the form case<N>_day<D>_slice_<SSSS>"):
        hidden_consistent_evaluation(load(tmp_path / "again", UW), SEED)
