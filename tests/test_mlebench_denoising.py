"""denoising-dirty-documents laid out as mle-bench's prepare.py writes it (data made here, shaped like
the real files): dirty and cleaned pages as PNGs, answers a row per pixel of the cleaned test pages."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from evaluation.denoising import DenoisingHCE
from evaluation.layouts import hidden_consistent_evaluation
from evaluation.mlebench import COVERED, NOT_YET, grade_on_answers
from evaluation.task import TaskError
from tests.test_mlebench_lite_text import folders, load, write_config
from tests.test_mlebench_presets import SEED, to_bytes

DENOISING = "denoising-dirty-documents"
SHAPE = (6, 9)


def clean_page(k: int) -> np.ndarray:
    """A page: white with a dark stroke whose position depends on the page."""
    page = np.full(SHAPE, 255, dtype=np.uint8)
    page[k % SHAPE[0], :] = 20
    return page


def dirty(page: np.ndarray) -> np.ndarray:
    """The same page with a coffee stain: every white pixel greyed (so cleaning is: white if > 150)."""
    return np.where(page > 150, 180, page).astype(np.uint8)


def denoising(tmp_path: Path, n: int = 40, n_test: int = 8) -> None:
    public, private = folders(tmp_path, DENOISING)
    for folder in ("train", "train_cleaned", "test"):
        (public / folder).mkdir()
    pages = [3 * k + 2 for k in range(n)]  # Kaggle's names: numbers, not contiguous
    rows = []
    for j, k in enumerate(pages):
        clean = clean_page(k)
        if j < n - n_test:
            Image.fromarray(dirty(clean)).save(public / "train" / f"{k}.png")
            Image.fromarray(clean).save(public / "train_cleaned" / f"{k}.png")
        else:
            Image.fromarray(dirty(clean)).save(public / "test" / f"{k}.png")
            for r in range(SHAPE[0]):
                for c in range(SHAPE[1]):
                    rows.append({"id": f"{k}_{r + 1}_{c + 1}", "value": clean[r, c] / 255.0})
    answers = pd.DataFrame(rows)
    answers.to_csv(private / "answers.csv", index=False)
    answers.assign(value=1).to_csv(public / "sampleSubmission.csv", index=False)
    write_config(tmp_path / "repo", DENOISING, "root_mean_squared_error", "answers.csv")


def cleaned(path: Path) -> np.ndarray:
    grey = np.asarray(Image.open(path).convert("L"))
    return np.where(grey > 150, 255, grey) / 255.0


def test_denoising_hides_whole_pages_and_scores_their_pixels(tmp_path: Path) -> None:
    denoising(tmp_path)
    assert DENOISING in COVERED and DENOISING not in NOT_YET
    task = load(tmp_path, DENOISING)
    hce = hidden_consistent_evaluation(task, SEED)
    assert isinstance(hce, DenoisingHCE)
    split = hce.split_ids()
    public = tmp_path / "public"
    hce.write_public(public)
    assert sorted(p.name for p in public.iterdir()) == [
        "description.md",
        "sampleSubmission.csv",
        "test",
        "train",
        "train_cleaned",
    ]
    train = sorted(p.stem for p in (public / "train").iterdir())
    assert train == sorted(split["train"]) == sorted(p.stem for p in (public / "train_cleaned").iterdir())
    hidden = sorted(p.stem for p in (public / "test").iterdir())
    assert len(hidden) == len(split["search"]) + len(split["val"]) + 8
    assert all(h.startswith("r") for h in hidden)  # no page number of a hidden page
    sample = pd.read_csv(public / "sampleSubmission.csv")
    assert len(sample) == len(hidden) * SHAPE[0] * SHAPE[1]
    assert set(sample["id"].str.rsplit("_", n=2).str[0]) == set(hidden)

    guess = {}
    for page in hidden:
        image = cleaned(public / "test" / f"{page}.png")
        for r in range(SHAPE[0]):
            for c in range(SHAPE[1]):
                guess[f"{page}_{r + 1}_{c + 1}"] = image[r, c]
    right = sample.assign(value=[guess[i] for i in sample["id"]])
    scores = hce.score(to_bytes(right))
    assert scores.valid and (scores.search, scores.val, scores.test) == (0.0, 0.0, 0.0)
    white = hce.score(to_bytes(sample.assign(value=1.0)))
    assert white.valid and white.test == pytest.approx(
        np.sqrt(np.mean((1 - 20 / 255) ** 2 * (np.arange(54) < 9)))
    )
    bad = hce.score(to_bytes(right.assign(value="dark")))
    assert not bad.valid and "numbers" in str(bad.reason)

    answers = pd.read_csv(task.answers_csv)
    answers.to_csv(tmp_path / "sub.csv", index=False)
    assert grade_on_answers(task, tmp_path / "sub.csv") == 0.0
    refit = tmp_path / "refit"
    hce.write_refit(refit)
    assert len(list((refit / "test").iterdir())) == 8 and len(list((refit / "train_cleaned").iterdir())) == 32


def test_a_dirty_page_without_its_cleaned_version_is_named(tmp_path: Path) -> None:
    denoising(tmp_path)
    (tmp_path / "data" / DENOISING / "prepared" / "public" / "train_cleaned" / "2.png").unlink()
    with pytest.raises(TaskError, match=r"no cleaned page 2\.png"):
        hidden_consistent_evaluation(load(tmp_path, DENOISING), SEED)
