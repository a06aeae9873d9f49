"""hubmap-kidney-segmentation laid out as mle-bench's prepare.py writes it (data made here, shaped like
the real files): TIFF slides, glomeruli as RLE masks, the slide sizes in the dataset information."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from evaluation.hubmap import HubmapHCE
from evaluation.layouts import hidden_consistent_evaluation
from evaluation.mlebench import COVERED, NOT_YET
from tests.test_mlebench_lite_text import folders, load, write_config
from tests.test_mlebench_presets import SEED, to_bytes

HUBMAP = "hubmap-kidney-segmentation"


def rle(mask: np.ndarray) -> str:
    """1-based 'start length' runs over the pixels numbered column by column (mle-bench's rle_decode)."""
    flat = np.concatenate([[0], mask.flatten(order="F").astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(flat))
    starts, ends = edges[0::2], edges[1::2]
    return " ".join(f"{s + 1} {e - s}" for s, e in zip(starts, ends, strict=True))


def slide(k: int) -> tuple[np.ndarray, np.ndarray]:
    """(image, mask): a slide of its own size with one bright glomerulus somewhere on it."""
    height, width = 8 + k % 4, 10 + k % 5
    mask = np.zeros((height, width), dtype=bool)
    mask[k % 3 : k % 3 + 3, k % 4 : k % 4 + 4] = True
    return np.where(mask, 220, 30).astype(np.uint8), mask


def hubmap(tmp_path: Path) -> None:
    public, private = folders(tmp_path, HUBMAP)
    ids = [f"{k * 7919 % 65536:04x}{k:05d}" for k in range(15)]
    info: list[dict[str, object]] = []
    train_rows: list[dict[str, object]] = []
    test_rows: list[dict[str, object]] = []
    for side in ("train", "test"):
        (public / side).mkdir()
    for k, slide_id in enumerate(ids):
        image, mask = slide(k)
        side = "train" if k < 12 else "test"
        Image.fromarray(image).save(public / side / f"{slide_id}.tiff")
        (public / side / f"{slide_id}.json").write_text(json.dumps([{"type": "Feature", "id": k}]))
        (public / side / f"{slide_id}-anatomical-structure.json").write_text(json.dumps([{"cortex": k}]))
        height, width = mask.shape
        info.append(
            {
                "image_file": f"{slide_id}.tiff",
                "width_pixels": width,
                "height_pixels": height,
                "anatomical_structures_segmention_file": f"{slide_id}-anatomical-structure.json",
                "glomerulus_segmentation_file": f"{slide_id}.json",
                "patient_number": 67000 + k,
                "sex": "Male" if k % 2 else "Female",
                "age": 40 + k,
            }
        )
        (train_rows if side == "train" else test_rows).append(
            {"id": slide_id, "encoding": rle(mask), "width_pixels": width, "height_pixels": height}
        )
    pd.DataFrame(info).to_csv(public / "HuBMAP-20-dataset_information.csv", index=False)
    pd.DataFrame(train_rows)[["id", "encoding"]].to_csv(public / "train.csv", index=False)
    pd.DataFrame(test_rows).to_csv(private / "test.csv", index=False)
    sample = pd.DataFrame({"id": [r["id"] for r in test_rows], "predicted": ""})
    sample.to_csv(public / "sample_submission.csv", index=False)
    sample.to_csv(public / "test" / "sample_submission.csv", index=False)
    write_config(tmp_path / "repo", HUBMAP, "dice-coefficient", "test.csv")


def segment(path: Path) -> str:
    return rle(np.asarray(Image.open(path)) > 128)


def test_hubmap_hides_whole_slides_with_their_sizes_and_without_their_polygons(tmp_path: Path) -> None:
    hubmap(tmp_path)
    assert HUBMAP in COVERED and HUBMAP not in NOT_YET
    task = load(tmp_path, HUBMAP)
    hce = hidden_consistent_evaluation(task, SEED)
    assert isinstance(hce, HubmapHCE)
    split = hce.split_ids()
    assert (len(split["search"]), len(split["val"]), len(split["test"])) == (1, 1, 3)
    public = tmp_path / "public"
    hce.write_public(public)
    train = pd.read_csv(public / "train.csv")
    assert list(train.columns) == ["id", "encoding"] and sorted(train["id"]) == sorted(split["train"])
    sample = pd.read_csv(public / "sample_submission.csv", keep_default_na=False)
    assert (public / "test" / "sample_submission.csv").read_text() == (
        public / "sample_submission.csv"
    ).read_text()
    hidden = list(sample["id"])
    assert len(hidden) == 5
    for slide_id in hidden:
        assert (public / "test" / f"{slide_id}.tiff").is_file()
        assert (public / "test" / f"{slide_id}-anatomical-structure.json").is_file()
        assert not (public / "test" / f"{slide_id}.json").exists()  # the polygons: the label
    assert sorted(p.name for p in (public / "train").glob("*.json") if "anatomical" not in p.name) == sorted(
        f"{s}.json" for s in split["train"]
    )
    info = pd.read_csv(public / "HuBMAP-20-dataset_information.csv", keep_default_na=False)
    assert sorted(info["image_file"]) == sorted(f"{s}.tiff" for s in [*split["train"], *hidden])
    originals = {s for name in ("search", "val", "test") for s in split[name]}
    text = (
        " ".join(p.name for p in public.rglob("*"))
        + (public / "HuBMAP-20-dataset_information.csv").read_text()
    )
    assert not any(s in text for s in originals)
    assert (
        info.loc[info["image_file"].isin([f"{s}.tiff" for s in hidden]), "glomerulus_segmentation_file"] == ""
    ).all()

    right = sample.assign(predicted=[segment(public / "test" / f"{s}.tiff") for s in hidden])
    scores = hce.score(to_bytes(right))
    assert scores.valid and (scores.search, scores.val, scores.test) == (1.0, 1.0, 1.0)
    nothing = hce.score(to_bytes(sample))
    assert nothing.valid and nothing.test == 0.0
    shifted = right.assign(
        predicted=[
            " ".join(str(int(n) + (k % 2 == 0)) for k, n in enumerate(r.split())) for r in right["predicted"]
        ]
    )
    assert 0 < (hce.score(to_bytes(shifted)).test or 0) < 1
    bad = hce.score(to_bytes(right.assign(predicted="1 2 3")))
    assert not bad.valid and "odd count" in str(bad.reason)

    refit = tmp_path / "refit"
    hce.write_refit(refit)
    assert len(pd.read_csv(refit / "train.csv")) == 12 and len(list((refit / "test").glob("*.tiff"))) == 3
    assert len(pd.read_csv(refit / "HuBMAP-20-dataset_information.csv")) == 15


def test_a_slide_without_its_size_is_named(tmp_path: Path) -> None:
    hubmap(tmp_path)
    path = tmp_path / "data" / HUBMAP / "prepared" / "public" / "HuBMAP-20-dataset_information.csv"
    pd.read_csv(path).iloc[1:].to_csv(path, index=False)
    with pytest.raises(Exception, match="has no size for slide"):
        hidden_consistent_evaluation(load(tmp_path, HUBMAP), SEED)
