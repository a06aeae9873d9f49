"""nfl-player-contact-detection laid out as mle-bench's prepare.py writes it (data made here, shaped
like the real files): label rows per play, step and player pair (or player and ground), the test rows
in the sample submission only, per-play tracking, helmet and video tables, three videos per play."""

from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import matthews_corrcoef

from evaluation.layouts import hidden_consistent_evaluation
from evaluation.mlebench import COVERED, NOT_YET, grade_on_answers
from evaluation.nfl_contact import VIEWS, NflContactHCE
from evaluation.task import TaskError
from tests.test_mlebench_medical import folders
from tests.test_mlebench_presets import SEED, load, to_bytes, write_config

NFL = "nfl-player-contact-detection"
# Real game keys are five digits, play ids padded to six; several plays of a game, the last two plays
# go to mle-bench's test set (prepare.py splits by play).
PLAYS = [f"{game}_{play:06d}" for game in (58168, 58172, 58187, 58203) for play in (123, 2401, 3392)]
PLAYS += ["58210_000511", "58210_001877"]
TEST_PLAYS = set(PLAYS[-2:])
STEPS = range(-2, 5)  # tracking starts before the snap; labels from step 0
NEAR = 1.5  # yards: two players this close are in contact; a player left of x = 20 is on the ground


def players(play: str) -> list[int]:
    base = 35000 + int(play[-4:]) % 97 * 10
    return [base + k for k in range(4)]


def positions(play: str, player: int, step: int) -> tuple[float, float]:
    rng = np.random.default_rng([int(play.replace("_", "")), player, step + 10])
    return round(float(rng.uniform(15, 25)), 2), round(float(rng.uniform(20, 24)), 2)


def contact(play: str, step: int, a: int, b: int | str) -> int:
    xa, ya = positions(play, a, step)
    if b == "G":
        return int(xa < 20)
    xb, yb = positions(play, int(b), step)
    return int(np.hypot(xa - xb, ya - yb) < NEAR)


def nfl(tmp_path: Path) -> None:
    public, private = folders(tmp_path, NFL)
    labels: list[dict[str, object]] = []
    tables: dict[str, list[dict[str, object]]] = {
        f"{side}_{t}": [] for side in ("train", "test") for t in ("tracking", "helmets", "meta")
    }
    for play in PLAYS:
        side = "test" if play in TEST_PLAYS else "train"
        game, play_id = play.split("_")
        ids = players(play)
        for step in STEPS:
            for k, player in enumerate(ids):
                x, y = positions(play, player, step)
                tables[f"{side}_tracking"].append(
                    {"game_play": play, "game_key": game, "play_id": int(play_id), "nfl_player_id": player,
                     "datetime": f"2020-09-11T03:01:{48 + step // 10:02d}.{step % 10}00Z", "step": step,
                     "position": "TE", "team": "home" if k % 2 else "away", "jersey_number": 80 + k,
                     "x_position": x, "y_position": y, "speed": 1.25, "distance": 0.12}
                )  # fmt: skip
            if step < 0:
                continue
            pairs: list[tuple[int, int | str]] = [*combinations(ids, 2), *((p, "G") for p in ids)]
            for a, b in pairs:
                labels.append(
                    {"contact_id": f"{play}_{step}_{a}_{b}", "game_play": play,
                     "datetime": f"2020-09-11T03:01:48.{step}00Z", "step": step,
                     "nfl_player_id_1": a, "nfl_player_id_2": b, "contact": contact(play, step, a, b)}
                )  # fmt: skip
        for view in ("Endzone", "Sideline"):
            tables[f"{side}_helmets"].append(
                {"game_play": play, "game_key": game, "play_id": int(play_id), "view": view,
                 "video": f"{play}_{view}.mp4", "frame": 1, "nfl_player_id": ids[0], "player_label": "H80",
                 "left": 10, "width": 20, "top": 30, "height": 20}
            )  # fmt: skip
            tables[f"{side}_meta"].append(
                {"game_play": play, "game_key": game, "play_id": int(play_id), "view": view,
                 "start_time": "2020-09-11T03:01:43.134Z", "end_time": "2020-09-11T03:01:54.971Z",
                 "snap_time": "2020-09-11T03:01:48.134Z"}
            )  # fmt: skip
        (public / side).mkdir(exist_ok=True)
        for view in VIEWS:
            (public / side / f"{play}_{view}.mp4").write_bytes(f"video of {play} from {view}".encode())
    table = pd.DataFrame(labels)
    in_test = table["game_play"].isin(TEST_PLAYS)
    table[~in_test].to_csv(public / "train_labels.csv", index=False)
    table[in_test].to_csv(private / "test.csv", index=False)
    table[in_test][["contact_id"]].assign(contact=0).to_csv(public / "sample_submission.csv", index=False)
    for side in ("train", "test"):
        for short, name in (
            ("tracking", "player_tracking"),
            ("helmets", "baseline_helmets"),
            ("meta", "video_metadata"),
        ):
            pd.DataFrame(tables[f"{side}_{short}"]).to_csv(public / f"{side}_{name}.csv", index=False)
    write_config(tmp_path / "repo", NFL, "matthews-correlation-coefficient", "test.csv")


def predict(copy: Path, flip_step: int | None = None) -> pd.DataFrame:
    """Contacts of the copy's sample rows from its test tracking, joined as a Kaggle notebook would
    (game_play, step and the player ids parsed off each contact_id); `flip_step`'s rows flipped."""
    sample = pd.read_csv(copy / "sample_submission.csv")
    tracking = pd.read_csv(copy / "test_player_tracking.csv", dtype={"nfl_player_id": str})
    parts = sample["contact_id"].str.split("_", expand=True)
    rows = pd.DataFrame(
        {"game_play": parts[0] + "_" + parts[1], "step": parts[2].astype(int), "a": parts[3], "b": parts[4]}
    )
    where = tracking[["game_play", "step", "nfl_player_id", "x_position", "y_position"]]
    for side in ("a", "b"):
        named = where.rename(
            columns={"nfl_player_id": side, "x_position": f"x_{side}", "y_position": f"y_{side}"}
        )
        rows = rows.merge(named, on=["game_play", "step", side], how="left")
    near = np.hypot(rows["x_a"] - rows["x_b"], rows["y_a"] - rows["y_b"]) < NEAR
    guess = np.where(rows["b"] == "G", rows["x_a"] < 20, near).astype(int)
    if flip_step is not None:
        guess = np.where(rows["step"] == flip_step, 1 - guess, guess)
    return sample.assign(contact=guess)


def test_nfl_hides_whole_plays_under_new_game_keys_in_every_table(tmp_path: Path) -> None:
    nfl(tmp_path)
    assert NFL in COVERED and NFL not in NOT_YET
    task = load(tmp_path, NFL)
    hce = hidden_consistent_evaluation(task, SEED)
    assert isinstance(hce, NflContactHCE)
    split = hce.split_ids()  # plays, the unit of the split
    assert split["search"] and split["val"] and set(split["test"]) == TEST_PLAYS
    assert sorted(p for ids in split.values() for p in ids) == sorted(PLAYS)

    copy = tmp_path / "public"
    hce.write_public(copy)
    assert not (copy / "test.csv").exists()  # as prepare.py: the test rows are the sample's
    labels = pd.read_csv(copy / "train_labels.csv")
    assert set(labels["game_play"]) == set(split["train"])
    assert {p.name for p in (copy / "train").iterdir()} == {
        f"{p}_{v}.mp4" for p in split["train"] for v in VIEWS
    }
    hidden = [p for name in ("search", "val", "test") for p in split[name]]
    sample = pd.read_csv(copy / "sample_submission.csv")
    assert list(sample.columns) == ["contact_id", "contact"] and (sample["contact"] == 0).all()
    assert len(sample) == sum(p in hidden for p in pd.read_csv(task.train_csv)["game_play"]) + len(
        pd.read_csv(task.answers_csv)
    )
    shown = set(sample["contact_id"].str.rsplit("_", n=3).str[0])
    assert len(shown) == len(hidden)
    games = {p.split("_")[0] for p in PLAYS}
    assert min(int(p.split("_")[0]) for p in shown) > max(int(g) for g in games)
    assert {p.split("_")[1] for p in shown} == {p.split("_")[1] for p in hidden}  # play ids kept
    for name in ("player_tracking", "baseline_helmets", "video_metadata"):
        train, test = pd.read_csv(copy / f"train_{name}.csv"), pd.read_csv(copy / f"test_{name}.csv")
        assert set(train["game_play"]) == set(split["train"]) and set(test["game_play"]) == shown
        assert (test["game_play"].str.split("_").str[0].astype(int) == test["game_key"]).all()
    helmets = pd.read_csv(copy / "test_baseline_helmets.csv")
    assert (helmets["video"] == helmets["game_play"] + "_" + helmets["view"] + ".mp4").all()
    assert {p.name for p in (copy / "test").iterdir()} == {f"{p}_{v}.mp4" for p in shown for v in VIEWS}
    # No hidden play under its real name anywhere in the copy.
    text = " ".join(p.read_text() for p in copy.glob("*.csv")) + " ".join(str(p) for p in copy.rglob("*"))
    assert not any(p in text for p in hidden)
    # A hidden video is the play's own, under its new name.
    tracking = pd.read_csv(copy / "test_player_tracking.csv")
    ids = tracking.groupby("game_play")["nfl_player_id"].min()
    for opaque, first in ids.items():
        play_id = str(opaque).split("_")[1]
        (real,) = [p for p in hidden if players(p)[0] == first and p.split("_")[1] == play_id]
        assert (copy / "test" / f"{opaque}_All29.mp4").read_text() == f"video of {real} from All29"

    right = predict(copy)
    scores = hce.score(to_bytes(right))
    assert scores.valid and (scores.search, scores.val, scores.test) == (1.0, 1.0, 1.0)
    assert scores.test_se is not None
    assert hce.score(to_bytes(right.sample(frac=1, random_state=0))).test == 1.0
    # The D_test score is mle-bench's grade: sklearn's MCC on the answers, for the same mistakes.
    wrong = hce.score(to_bytes(predict(copy, flip_step=2)))
    answers = pd.read_csv(task.answers_csv)
    flipped = np.where(answers["step"] == 2, 1 - answers["contact"], answers["contact"])
    assert wrong.valid and wrong.test == pytest.approx(matthews_corrcoef(answers["contact"], flipped))
    assert (wrong.test or 1) < 1
    probabilities = hce.score(to_bytes(right.assign(contact=0.7)))
    assert not probabilities.valid and "must be 0 or 1" in str(probabilities.reason)
    short = hce.score(to_bytes(right.iloc[1:]))
    assert not short.valid and "missing" in str(short.reason)

    refit = tmp_path / "refit"
    hce.write_refit(refit)
    labelled = {p for name in ("train", "search", "val") for p in split[name]}
    assert set(pd.read_csv(refit / "train_labels.csv")["game_play"]) == labelled
    assert set(pd.read_csv(refit / "train_player_tracking.csv")["game_play"]) == labelled
    refit_sample = pd.read_csv(refit / "sample_submission.csv")
    assert len(refit_sample) == len(answers)
    assert hce.scorer().score_refit(to_bytes(predict(refit))).test == 1.0

    # mle-bench's own test set, graded by its real contact ids and prepared/public's test tables.
    submission = tmp_path / "submission.csv"
    predict(task.public_dir).to_csv(submission, index=False)
    assert grade_on_answers(task, submission) == 1.0


def test_nfl_broken_layouts_are_named(tmp_path: Path) -> None:
    nfl(tmp_path)
    video = tmp_path / "data" / NFL / "prepared" / "public" / "train" / f"{PLAYS[0]}_Endzone.mp4"
    video.unlink()
    with pytest.raises(TaskError, match=rf"train_labels\.csv has play '{PLAYS[0]}' .* without its 3 videos"):
        hidden_consistent_evaluation(load(tmp_path, NFL), SEED)

    nfl(tmp_path / "ids")
    labels_csv = tmp_path / "ids" / "data" / NFL / "prepared" / "public" / "train_labels.csv"
    table = pd.read_csv(labels_csv)
    table.loc[3, "contact_id"] = "58168_000123_0_1"
    table.to_csv(labels_csv, index=False)
    with pytest.raises(TaskError, match="contact_id '58168_000123_0_1' is not of the form"):
        hidden_consistent_evaluation(load(tmp_path / "ids", NFL), SEED)

    nfl(tmp_path / "tables")
    (tmp_path / "tables" / "data" / NFL / "prepared" / "public" / "test_video_metadata.csv").unlink()
    with pytest.raises(TaskError, match=r"test_video_metadata\.csv is missing"):
        hidden_consistent_evaluation(load(tmp_path / "tables", NFL), SEED)
