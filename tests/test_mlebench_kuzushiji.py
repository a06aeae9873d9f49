"""kuzushiji-recognition under HCE, laid out as mle-bench's prepare.py writes it: prepared/public holds
train.csv (image_id, labels: "U+XXXX x y width height ..." per character, empty for a page without
any), train_images.zip and test_images.zip (flat `{image_id}.jpg` members), unicode_translation.csv
and sample_submission.csv (the test pages, labels "U+003F 1 1 U+FF2F 2 2"); prepared/private/test.csv
holds the test pages' boxes. Each tiny JPEG written here encodes its page's layout as a grey level,
so a submission read off the agent's copy of the pages hits every box exactly when every hidden
page's image sits under that page's opaque id. Graded by micro F1 of predicted centre points."""

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.hce import HiddenConsistentEvaluation
from evaluation.mlebench import load_mlebench_task
from tests.image_files import SEED, every_file, mentions, read_class, write_image
from tests.test_mlebench_presets import copy_rows

NAME = "kuzushiji-recognition"
N_LABELLED, N_TEST = 90, 10
# Four page layouts (the grey level of a page's image says which): boxes "label x y width height".
LAYOUTS = [
    "U+306F 100 200 40 60 U+304C 300 120 50 50",
    "U+3067 20 20 10 10",
    "",  # a page without characters
    "U+306B 500 500 30 40 U+306F 10 900 20 20 U+3092 70 70 16 16",
]


def centres(layout: str) -> str:
    """The right prediction for a layout: each box's label and a point inside it (as the gold
    submission of prepare.py: the corner moved in by one)."""
    t = layout.split()
    return " ".join(f"{t[i]} {int(t[i + 1]) + 1} {int(t[i + 2]) + 1}" for i in range(0, len(t), 5))


def write_competition(data: Path) -> None:
    rng = np.random.default_rng(11)
    ids = [
        f"{rng.integers(100000000, 999999999)}_{i:05d}_{rng.integers(1, 3)}"
        for i in range(N_LABELLED + N_TEST)
    ]
    k = rng.integers(0, len(LAYOUTS), len(ids))
    public, private = data / NAME / "prepared" / "public", data / NAME / "prepared" / "private"
    public.mkdir(parents=True)
    private.mkdir(parents=True)
    table = pd.DataFrame({"image_id": ids, "labels": [LAYOUTS[j] or np.nan for j in k]})
    table.iloc[:N_LABELLED].to_csv(public / "train.csv", index=False)
    table.iloc[N_LABELLED:].to_csv(private / "test.csv", index=False)
    sample = table.iloc[N_LABELLED:].assign(labels="U+003F 1 1 U+FF2F 2 2")
    sample.to_csv(public / "sample_submission.csv", index=False)
    pd.DataFrame({"Unicode": ["U+306F", "U+304C"], "char": ["は", "が"]}).to_csv(
        public / "unicode_translation.csv", index=False
    )
    for part, rows in (("train_images", range(N_LABELLED)), ("test_images", range(N_LABELLED, len(ids)))):
        with zipfile.ZipFile(public / f"{part}.zip", "w", zipfile.ZIP_DEFLATED) as archive:
            for i in rows:
                image = data / "raw" / f"{ids[i]}.jpg"
                write_image(image, int(k[i]))
                archive.write(image, arcname=f"{ids[i]}.jpg")
    (public / "description.md").write_text(f"# {NAME}\n")


def test_kuzushiji_pages_in_zip_archives_run_under_hce(tmp_path: Path) -> None:
    write_competition(tmp_path / "data")
    config = tmp_path / "repo" / "mlebench" / "competitions" / NAME
    config.mkdir(parents=True)
    (config / "config.yaml").write_text(f"id: {NAME}\ngrader:\n  name: f1-score\n")
    task = load_mlebench_task(tmp_path / "data", NAME, tmp_path / "repo", tmp_path / "cache")
    hce = HiddenConsistentEvaluation(task, split_seed=SEED)
    split = hce.split_ids()
    assert (
        len(split["test"]) == N_TEST and len(split["train"]) + len(split["search"]) + len(split["val"]) == 90
    )
    copy = tmp_path / "public"
    hce.write_public(copy)
    assert sorted(p.name for p in copy.iterdir()) == sorted(
        [
            "description.md",
            "sample_submission.csv",
            "test_images.zip",
            "train.csv",
            "train_images.zip",
            "unicode_translation.csv",
        ]
    )
    train = copy_rows(hce, copy, dtype=str, keep_default_na=False)[0]
    assert sorted(train["image_id"]) == sorted(split["train"])
    sample = pd.read_csv(copy / "sample_submission.csv", dtype=str)
    with zipfile.ZipFile(copy / "train_images.zip") as archive:
        assert sorted(archive.namelist()) == sorted(f"{i}.jpg" for i in split["train"])
    with zipfile.ZipFile(copy / "test_images.zip") as archive:
        assert sorted(archive.namelist()) == sorted(f"{i}.jpg" for i in sample["image_id"])
        hidden = [i for s in ("search", "val", "test") for i in split[s]]
        blob = b"\n".join([*(p.read_bytes() for p in every_file(copy)), *map(str.encode, archive.namelist())])
        assert not [i for i in hidden if mentions(blob, i)], "a hidden page's id in the agent's copy"

        def page(member: str) -> int:
            with archive.open(member) as f:
                return read_class(f)

        predicted = [centres(LAYOUTS[page(f"{i}.jpg")]) for i in sample["image_id"]]
    submission = pd.DataFrame({"image_id": sample["image_id"], "labels": predicted})
    scores = hce.score(submission.to_csv(index=False).encode())
    assert scores.valid and [scores.search, scores.val, scores.test] == [1.0, 1.0, 1.0], scores
    # A wrong label everywhere: no hit anywhere, F1 0 on every split.
    wrong = submission.assign(labels=submission["labels"].str.replace("U+3", "U+4", regex=False))
    assert hce.score(wrong.to_csv(index=False).encode()).test == 0.0
    bad = submission.assign(labels=submission["labels"].where(submission["labels"] == "", "U+306F 1"))
    reason = str(hce.score(bad.to_csv(index=False).encode()).reason)
    assert "not groups of 3" in reason, reason
    assert "missing 1 id" in str(hce.score(submission.iloc[1:].to_csv(index=False).encode()).reason)
