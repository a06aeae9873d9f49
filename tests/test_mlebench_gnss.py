"""smartphone-decimeter-2022 laid out as mle-bench's prepare.py writes it (data made here, shaped like
the real files): a folder per trip (drive and phone) of GNSS logs, reference positions per epoch in the
train trips' ground_truth.csv and, as in mle-bench's copy, the reference receiver's log
supplemental/span_log.nmea in every trip."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.gnss_trips import GnssTripsHCE, drive_date
from evaluation.layouts import hidden_consistent_evaluation
from evaluation.mlebench import COVERED, NOT_YET, grade_on_answers
from evaluation.task import TaskError
from tests.test_mlebench_medical import folders
from tests.test_mlebench_presets import SEED, load, to_bytes, write_config

GSDC = "smartphone-decimeter-2022"
# Drives by date (two on 2021-4-28, as on real days with several runs), one or two phones each; the
# last two dates are mle-bench's test set (prepare.py splits by date).
DRIVES = {
    "2020-05-15-US-MTV-1": ["GooglePixel4XL"],
    "2020-05-21-US-MTV-2": ["GooglePixel4", "XiaomiMi8"],
    "2020-07-08-US-MTV-1": ["GooglePixel5"],
    "2020-08-03-US-MTV-1": ["GooglePixel4XL", "SamsungGalaxyS20Ultra"],
    "2021-01-04-US-RWC-1": ["GooglePixel4"],
    "2021-04-28-US-SJC-1": ["GooglePixel4", "SamsungGalaxyS20Ultra"],
    "2021-04-28-US-MTV-1": ["GooglePixel5"],
    "2021-7-19-US-MTV-1": ["XiaomiMi8"],
    "2021-12-07-US-LAX-1": ["GooglePixel6Pro"],
    "2022-01-11-US-MTV-1": ["GooglePixel6Pro"],
    "2022-03-31-US-LAX-1": ["SamsungGalaxyS20Ultra"],
    "2022-04-01-US-LAX-2": ["GooglePixel5", "XiaomiMi8"],
}
TEST_DRIVES = {"2022-03-31-US-LAX-1", "2022-04-01-US-LAX-2"}
EPOCHS = 30


def truth(trip: str, epoch: int) -> tuple[int, float, float]:
    """(UnixTimeMillis, latitude, longitude) of a trip's epoch: a drive along a line, one epoch a second."""
    seed = sum(map(ord, trip))
    start = 1_589_500_000_000 + seed * 1_000_000
    return start + epoch * 1000 + 442, 37.4 + seed % 50 * 1e-3 + epoch * 1e-5, -122.1 - epoch * 2e-5


def gsdc(tmp_path: Path) -> None:
    public, private = folders(tmp_path, GSDC)
    answers = []
    for drive, phones in DRIVES.items():
        side = "test" if drive in TEST_DRIVES else "train"
        for phone in phones:
            trip = f"{drive}-{phone}"
            folder = public / side / drive / phone
            (folder / "supplemental").mkdir(parents=True)
            rows = [truth(trip, e) for e in range(EPOCHS)]
            gnss = pd.DataFrame({"MessageType": "Raw", "utcTimeMillis": [t for t, _, _ in rows], "Svid": 7})
            gnss.to_csv(folder / "device_gnss.csv", index=False)
            (folder / "supplemental" / "gnss_log.txt").write_text(f"# Version: v3.0.0.1 {trip}\n")
            span = "".join(f"$GPGGA,{t},{lat:.9f},{lon:.9f}\n" for t, lat, lon in rows)
            (folder / "supplemental" / "span_log.nmea").write_text(span)  # the leak of mle-bench#93
            if side == "train":
                pd.DataFrame(
                    {"MessageType": "Fix", "Provider": "GT", "LatitudeDegrees": [lat for _, lat, _ in rows],
                     "LongitudeDegrees": [lon for _, _, lon in rows], "AltitudeMeters": 10.5,
                     "UnixTimeMillis": [t for t, _, _ in rows]}
                ).to_csv(folder / "ground_truth.csv", index=False)  # fmt: skip
            else:
                answers += [
                    {"tripId": trip, "UnixTimeMillis": t, "LatitudeDegrees": lat, "LongitudeDegrees": lon}
                    for t, lat, lon in rows
                ]
    (public / "metadata").mkdir()
    (public / "metadata" / "constellation_type_mapping.csv").write_text("ConstellationType,Name\n1,GPS\n")
    table = pd.DataFrame(answers)
    table.to_csv(private / "test.csv", index=False)
    table.assign(LatitudeDegrees=37.904611315634504, LongitudeDegrees=-86.48107806249548).to_csv(
        public / "sample_submission.csv", index=False
    )
    write_config(tmp_path / "repo", GSDC, "average-haversine-distance", "test.csv")


def predict(sample: pd.DataFrame, shift: float = 0.0) -> pd.DataFrame:
    """Each row's true position (the fixture knows it), its latitude moved by `shift` degrees on
    SamsungGalaxyS20Ultra trips."""
    epochs = {
        (trip, truth(trip, e)[0]): truth(trip, e) for trip in set(sample["tripId"]) for e in range(EPOCHS)
    }
    found = [
        epochs[(trip, int(t))] for trip, t in zip(sample["tripId"], sample["UnixTimeMillis"], strict=True)
    ]
    moved = sample["tripId"].str.endswith("S20Ultra") * shift
    return sample.assign(
        LatitudeDegrees=[lat for _, lat, _ in found] + moved, LongitudeDegrees=[lon for _, _, lon in found]
    )


def score_by_hand(truth_rows: pd.DataFrame, guess: pd.DataFrame) -> float:
    """mle-bench's grade: per trip, the mean of the 50th and 95th percentile haversine distances
    (radius 6,371 km), averaged over trips."""
    merged = truth_rows.merge(guess, on=["tripId", "UnixTimeMillis"], suffixes=("", "_guess"))
    lat1, lon1 = np.deg2rad(merged["LatitudeDegrees"]), np.deg2rad(merged["LongitudeDegrees"])
    lat2, lon2 = np.deg2rad(merged["LatitudeDegrees_guess"]), np.deg2rad(merged["LongitudeDegrees_guess"])
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    merged["d"] = 2 * 6_371_000 * np.arcsin(np.sqrt(a))
    per_trip = merged.groupby("tripId")["d"].apply(
        lambda d: np.mean([np.quantile(d, 0.5), np.quantile(d, 0.95)])
    )
    return float(per_trip.mean())


def test_gsdc_hides_whole_dates_without_their_reference_positions(tmp_path: Path) -> None:
    gsdc(tmp_path)
    assert GSDC in COVERED and GSDC not in NOT_YET
    task = load(tmp_path, GSDC)
    hce = hidden_consistent_evaluation(task, SEED)
    assert isinstance(hce, GnssTripsHCE)
    split = hce.split_ids()  # trips, `<drive>-<phone>`
    date_of = {f"{d}-{p}": drive_date(d) for d, phones in DRIVES.items() for p in phones}
    dates = {name: {date_of[t] for t in trips} for name, trips in split.items()}
    assert dates["search"] and dates["val"]
    for a, b in (("train", "search"), ("train", "val"), ("search", "val"), ("train", "test")):
        assert dates[a].isdisjoint(dates[b])  # a date's drives and phones in one split
    assert {t.rsplit("-", 1)[0] for t in split["test"]} == TEST_DRIVES

    copy = tmp_path / "public"
    hce.write_public(copy)
    train_trips = {f"{p.parent.name}-{p.name}" for p in (copy / "train").glob("*/*")}
    assert train_trips == set(split["train"])
    assert len(list((copy / "train").rglob("ground_truth.csv"))) == len(train_trips)
    hidden = [t for name in ("search", "val", "test") for t in split[name]]
    assert {f"{p.parent.name}-{p.name}" for p in (copy / "test").glob("*/*")} == set(hidden)
    # A hidden trip keeps its logs, not its reference positions: no file of test/ holds a true latitude.
    assert not list((copy / "test").rglob("ground_truth.csv")) and not list(
        (copy / "test").rglob("span_log.nmea")
    )
    assert len(list((copy / "test").rglob("device_gnss.csv"))) == len(hidden)
    assert len(list((copy / "test").rglob("gnss_log.txt"))) == len(hidden)
    text = " ".join(p.read_text() for p in (copy / "test").rglob("*") if p.is_file())
    text += (copy / "sample_submission.csv").read_text()
    assert not any(f"{truth(t, 3)[1]:.9f}"[:9] in text for t in hidden)
    assert (copy / "metadata" / "constellation_type_mapping.csv").is_file()
    sample = pd.read_csv(copy / "sample_submission.csv")
    assert list(sample.columns) == ["tripId", "UnixTimeMillis", "LatitudeDegrees", "LongitudeDegrees"]
    assert len(sample) == EPOCHS * len(hidden) and set(sample["tripId"]) == set(hidden)

    right = predict(sample)
    scores = hce.score(to_bytes(right))
    assert scores.valid and (scores.search, scores.val, scores.test) == (0.0, 0.0, 0.0)
    shifted = predict(sample, shift=1e-4)  # about 11 m on the Samsung trips
    moved = hce.score(to_bytes(shifted))
    answers = pd.read_csv(task.answers_csv)
    test_rows = shifted[shifted["tripId"].isin(split["test"])]
    assert moved.valid and moved.test == pytest.approx(score_by_hand(answers, test_rows))
    assert 2 < (moved.test or 0) < 8  # 11 m on one of the three D_test trips and moved.test_se is not None
    assert hce.score(to_bytes(shifted.sample(frac=1, random_state=0))).test == moved.test  # matched by key
    floats = hce.score(to_bytes(right.assign(UnixTimeMillis=right["UnixTimeMillis"].astype(float))))
    assert not floats.valid and "'tripId' and 'UnixTimeMillis' values" in str(floats.reason)
    assert "1591802000442.0'" in str(floats.reason)  # the rewritten key shown
    nan = hce.score(to_bytes(right.assign(LatitudeDegrees=np.nan)))
    assert not nan.valid and "LatitudeDegrees" in str(nan.reason)

    refit = tmp_path / "refit"
    hce.write_refit(refit)
    labelled = {t for name in ("train", "search", "val") for t in split[name]}
    assert {f"{p.parent.name}-{p.name}" for p in (refit / "train").glob("*/*")} == labelled
    assert len(list((refit / "train").rglob("ground_truth.csv"))) == len(labelled)
    refit_sample = pd.read_csv(refit / "sample_submission.csv")
    assert set(refit_sample["tripId"]) == set(split["test"])
    assert hce.scorer().score_refit(to_bytes(predict(refit_sample))).test == 0.0

    # mle-bench's own test set, graded by its (tripId, UnixTimeMillis) rows.
    submission = tmp_path / "submission.csv"
    original = pd.read_csv(task.sample_submission_csv)
    predict(original, shift=1e-4).to_csv(submission, index=False)
    assert grade_on_answers(task, submission) == pytest.approx(moved.test)


def test_gsdc_broken_layouts_are_named(tmp_path: Path) -> None:
    gsdc(tmp_path)
    public = tmp_path / "data" / GSDC / "prepared" / "public"
    (public / "train" / "2020-07-08-US-MTV-1" / "GooglePixel5" / "ground_truth.csv").unlink()
    with pytest.raises(
        TaskError, match=r"train trip '2020-07-08-US-MTV-1-GooglePixel5' has no ground_truth\.csv"
    ):
        hidden_consistent_evaluation(load(tmp_path, GSDC), SEED)

    gsdc(tmp_path / "undated")
    public = tmp_path / "undated" / "data" / GSDC / "prepared" / "public"
    (public / "train" / "2020-07-08-US-MTV-1").rename(public / "train" / "MTV-1")
    with pytest.raises(TaskError, match="drive 'MTV-1' does not start with a date"):
        hidden_consistent_evaluation(load(tmp_path / "undated", GSDC), SEED)

    gsdc(tmp_path / "lost")
    public = tmp_path / "lost" / "data" / GSDC / "prepared" / "public"
    shutil.rmtree(public / "test" / "2022-03-31-US-LAX-1" / "SamsungGalaxyS20Ultra")
    with pytest.raises(
        TaskError, match=r"trip '2022-03-31-US-LAX-1-SamsungGalaxyS20Ultra' .* with no folder"
    ):
        hidden_consistent_evaluation(load(tmp_path / "lost", GSDC), SEED)
