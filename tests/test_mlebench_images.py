"""Image competitions (a folder of images plus a labels CSV) under HCE, each laid out as its mle-bench
prepare.py writes prepared/public and prepared/private: same file and folder names, columns, id formats
and file types (tiny PNG, JPEG and TIFF images written here, each encoding its row's class as a grey
level, so a submission read off the agent's copy of the images is right exactly when every hidden row's
image sits under that row's opaque id)."""

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from evaluation.hce import HiddenConsistentEvaluation
from evaluation.mlebench import COVERED, NOT_YET, grade_on_answers, load_mlebench_task
from evaluation.row_files import fill
from tests.image_competitions import COMPETITIONS, Competition, prepare
from tests.image_files import (
    N_LABELLED,
    N_TEST,
    SEED,
    every_file,
    hex_ids,
    mentions,
    read_class,
    records,
    write_image,
)
from tests.test_mlebench_presets import copy_rows


@pytest.mark.parametrize("competition", COMPETITIONS, ids=lambda c: c.name)
def test_an_image_competition_runs_under_hce(competition: Competition, tmp_path: Path) -> None:
    c = competition
    assert c.name in COVERED and c.name not in NOT_YET
    id_column, truth = prepare(c, tmp_path / "data", tmp_path / "repo")
    task = load_mlebench_task(tmp_path / "data", c.name, tmp_path / "repo", tmp_path / "cache")
    assert task.spec.row_files is not None
    hce = HiddenConsistentEvaluation(task, split_seed=SEED)
    split = hce.split_ids()
    assert len(split["test"]) == N_TEST and sum(len(v) for v in split.values()) == N_LABELLED + N_TEST
    public = tmp_path / "public"
    hce.write_public(public)

    # The agent's copy: no symlink, no original id of a hidden row in any name or any file's bytes.
    files = every_file(public)
    assert not [p for p in files if p.is_symlink()]
    hidden = [i for name in ("search", "val", "test") for i in split[name]]
    names = "\n".join(str(p.relative_to(public)) for p in files)
    assert not [i for i in hidden if mentions(names.encode(), i)]
    blob = b"\n".join(p.read_bytes() for p in files)
    assert not [i for i in hidden if mentions(blob, i)]
    # D_train's images under their own names; every hidden row's image where the test images live.
    pattern_train, pattern_test = task.spec.row_files.train[0], task.spec.row_files.test[0]
    train_copy, test_copy = copy_rows(hce, public, dtype={id_column: str})
    assert sorted(train_copy[id_column]) == sorted(split["train"])
    train_rows = records(train_copy)
    expected = {fill(pattern_train, row) for row in train_rows}
    expected |= {fill(pattern_test, {id_column: i}) for i in test_copy[id_column]}
    images = {str(p.relative_to(public)) for p in files if p.suffix in (".png", ".jpg", ".tif")}
    assert images == expected and len(test_copy) == len(hidden)
    # No label of a hidden row: test.csv has no label column, the TFRecords stay out.
    labels = set(task.spec.target_columns) | {task.spec.label_column} - {None}
    assert labels.isdisjoint(test_copy.columns)
    assert not [p for p in files if "tfrec" in p.name]
    for name in task.spec.public_files:
        assert (public / name).read_bytes() == (task.public_dir / name).read_bytes()
    # Each image in the copy shows the class of the row it belongs to.
    for row in train_rows[:10]:
        assert read_class(public / fill(pattern_train, row)) == truth[row[id_column]]

    # A valid submission, read off the copy's images: scored on all three splits by the grader.
    predicted = np.array(
        [read_class(public / fill(pattern_test, {id_column: i})) for i in test_copy[id_column]]
    )
    submission = pd.DataFrame({id_column: test_copy[id_column], **c.answer_columns(predicted)})
    sample_columns = list(pd.read_csv(public / "sample_submission.csv", nrows=0).columns)
    assert list(submission.columns) == sample_columns
    scores = hce.score(submission.to_csv(index=False).encode())
    assert scores.valid, scores.reason
    assert [scores.search, scores.val, scores.test] == pytest.approx([c.perfect] * 3, abs=1e-9)
    # A wrong one scores worse on every split.
    wrong = pd.DataFrame({id_column: test_copy[id_column], **c.answer_columns((predicted + 1) % c.classes)})
    worse = hce.score(wrong.to_csv(index=False).encode())
    assert worse.valid, worse.reason
    lower = task.lower_is_better
    for value in (worse.search, worse.val, worse.test):
        assert value is not None and (value > c.perfect if lower else value < c.perfect)
    # An invalid one: a row left out, with the reason.
    scores = hce.score(submission.iloc[1:].to_csv(index=False).encode())
    assert not scores.valid and "missing 1 id" in str(scores.reason)
    # The competition's own answers graded on its own test set, as mle-bench grades them.
    answers = tmp_path / "answers.csv"
    pd.read_csv(task.answers_csv)[sample_columns].to_csv(answers, index=False)
    assert grade_on_answers(task, answers) == pytest.approx(c.perfect, abs=1e-9)


def test_whales_no_training_image_shows_are_scored_as_new_whale(tmp_path: Path) -> None:
    name = "whale-categorization-playground"
    rng = np.random.default_rng(8)
    # 10 whales with several images, 50 with one (too many classes to stratify, as in the real data):
    # a singleton is new to D_train wherever the split puts it outside D_train.
    whales = [f"w_{k:07x}" for k in rng.choice(16**7, 60, replace=False)]
    index = np.concatenate([np.repeat(np.arange(10), 7), np.arange(10, 60)])
    rng.shuffle(index)
    images = hex_ids(rng, len(index), 8, ".jpg")
    labelled = len(index) - 15
    public, private = (
        tmp_path / "data" / name / "prepared" / "public",
        tmp_path / "data" / name / "prepared" / "private",
    )
    public.mkdir(parents=True)
    private.mkdir(parents=True)
    train = pd.DataFrame({"Image": images[:labelled], "Id": [whales[i] for i in index[:labelled]]})
    train.to_csv(public / "train.csv", index=False)
    answers = pd.DataFrame({"Image": images[labelled:], "Id": [whales[i] for i in index[labelled:]]})
    answers.loc[~answers["Id"].isin(set(train["Id"])), "Id"] = "new_whale"  # as prepare.py does
    answers.to_csv(private / "test.csv", index=False)
    sample = answers.assign(Id="new_whale w_1287fbc w_98baff9 w_7554f44 w_1eafe46")
    sample.to_csv(public / "sample_submission.csv", index=False)
    for k, (image, whale) in enumerate(zip(images, index, strict=True)):
        path = public / ("train" if k < labelled else "test") / image
        path.parent.mkdir(exist_ok=True)
        Image.new("L", (8 + int(whale), 8), 128).save(path)  # the width tells the whale
    (public / "description.md").write_text(f"# {name}\n")
    config = tmp_path / "repo" / "mlebench" / "competitions" / name
    config.mkdir(parents=True)
    (config / "config.yaml").write_text(f"id: {name}\ngrader:\n  name: MAP@5\n")
    task = load_mlebench_task(tmp_path / "data", name, tmp_path / "repo", tmp_path / "cache")
    assert task.spec.unseen_label == "new_whale"
    hce = HiddenConsistentEvaluation(task, split_seed=SEED)
    split = hce.split_ids()
    whale_of = dict(zip(train["Image"], train["Id"], strict=True))
    seen = {whale_of[i] for i in split["train"]}
    unseen_hidden = [i for s in ("search", "val") for i in split[s] if whale_of[i] not in seen]
    assert unseen_hidden, "the fixture must put a whale new to D_train into D_search or D_val"
    copy = tmp_path / "public"
    hce.write_public(copy)
    train_copy, test_copy = copy_rows(hce, copy, dtype=str)
    known = set(train_copy["Id"])

    def whale_in(path: Path) -> str:
        with Image.open(path) as image:
            return whales[image.width - 8]

    guesses = [whale_in(copy / "test" / i) for i in test_copy["Image"]]
    perfect = [g if g in known else "new_whale" for g in guesses]
    submission = pd.DataFrame({"Image": test_copy["Image"], "Id": [f"{p} w_0000000" for p in perfect]})
    scores = hce.score(submission.to_csv(index=False).encode())
    assert scores.valid and [scores.search, scores.val, scores.test] == [1.0, 1.0, 1.0], scores
    # Naming the true whale where it is new to D_train is wrong by the rule: lower where that happens.
    named = hce.score(pd.DataFrame({"Image": test_copy["Image"], "Id": guesses}).to_csv(index=False).encode())
    for s in ("search", "val"):
        relabelled = any(whale_of[i] not in seen for i in split[s])
        assert (getattr(named, s) < 1.0) == relabelled


def test_aerial_cactus_images_in_zip_archives(tmp_path: Path) -> None:
    name = "aerial-cactus-identification"
    rng = np.random.default_rng(9)
    ids = hex_ids(rng, N_LABELLED + N_TEST, 32, ".jpg")
    k = rng.integers(0, 2, len(ids))
    public, private = (
        tmp_path / "data" / name / "prepared" / "public",
        tmp_path / "data" / name / "prepared" / "private",
    )
    public.mkdir(parents=True)
    private.mkdir(parents=True)
    table = pd.DataFrame({"id": ids, "has_cactus": k})
    table.iloc[:N_LABELLED].to_csv(public / "train.csv", index=False)
    table.iloc[N_LABELLED:].to_csv(private / "test.csv", index=False)
    table.iloc[N_LABELLED:].assign(has_cactus=0.5).to_csv(public / "sample_submission.csv", index=False)
    # As prepare.py: the images written to train/ and test/, zipped flat into train.zip and test.zip.
    for part, rows in (("train", table.iloc[:N_LABELLED]), ("test", table.iloc[N_LABELLED:])):
        with zipfile.ZipFile(public / f"{part}.zip", "w", zipfile.ZIP_DEFLATED) as archive:
            for row_id, label in zip(rows["id"], rows["has_cactus"], strict=True):
                image = tmp_path / "raw" / row_id
                write_image(image, int(label))
                archive.write(image, arcname=row_id)
    (public / "description.md").write_text(f"# {name}\n")
    config = tmp_path / "repo" / "mlebench" / "competitions" / name
    config.mkdir(parents=True)
    (config / "config.yaml").write_text(f"id: {name}\ngrader:\n  name: auc-roc\n")
    task = load_mlebench_task(tmp_path / "data", name, tmp_path / "repo", tmp_path / "cache")
    hce = HiddenConsistentEvaluation(task, split_seed=SEED)
    split = hce.split_ids()
    copy = tmp_path / "public"
    hce.write_public(copy)
    test_copy = copy_rows(hce, copy, dtype=str)[1]
    with zipfile.ZipFile(copy / "train.zip") as archive:
        assert sorted(archive.namelist()) == sorted(split["train"])
    with zipfile.ZipFile(copy / "test.zip") as archive:
        assert sorted(archive.namelist()) == sorted(test_copy["id"])
        hidden = [i for s in ("search", "val", "test") for i in split[s]]
        blob = b"\n".join([*(p.read_bytes() for p in every_file(copy)), *map(str.encode, archive.namelist())])
        assert not [i for i in hidden if mentions(blob, i)]

        def cactus(member: str) -> int:
            with archive.open(member) as f:
                return read_class(f)

        predicted = [cactus(i) for i in test_copy["id"]]
    submission = pd.DataFrame({"id": test_copy["id"], "has_cactus": predicted})
    scores = hce.score(submission.to_csv(index=False).encode())
    assert scores.valid and [scores.search, scores.val, scores.test] == [1.0, 1.0, 1.0], scores
    flipped = submission.assign(has_cactus=1 - submission["has_cactus"])
    assert hce.score(flipped.to_csv(index=False).encode()).test == 0.0
    assert "missing 1 id" in str(hce.score(submission.iloc[1:].to_csv(index=False).encode()).reason)
