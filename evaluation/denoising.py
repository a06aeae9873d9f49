"""HCE for denoising-dirty-documents: scanned pages as PNGs, scored per pixel of the cleaned page.

mle-bench's prepare.py writes `train/<k>.png` (dirty pages) with `train_cleaned/<k>.png` (the same
pages cleaned), `test/<k>.png` (dirty pages whose cleaned versions it turned into the answers),
`sampleSubmission.csv` and the answers `prepared/private/answers.csv`: a row per pixel, `id` =
`<k>_<row>_<col>` (from 1), `value` = the cleaned pixel's grey level / 255.

The unit HCE splits is the page (its pixels stay together). The agent's copy has D_train's pages in
`train/` and `train_cleaned/` under their names, and every hidden page (D_search, D_val, D_test) dirty
in `test/` under an opaque name, its pixels `<opaque>_<row>_<col>` in the sample submission; no cleaned
version of a hidden page is in it. Graded by RMSE over the pixels.
"""

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from evaluation._opaque import opaque_ids, opaque_key
from evaluation.grading import read_sample
from evaluation.hce import HiddenConsistentEvaluation
from evaluation.row_files import place_file
from evaluation.scoring import SCORED_SPLITS
from evaluation.splits import hce_split
from evaluation.task import Task, TaskError

DIRTY, CLEANED, TEST = "train", "train_cleaned", "test"

_NOTE = """

## Note on this copy of the task

`train/` and `train_cleaned/` hold the pages available to you, dirty and cleaned. The cleaned
versions of the pages of `test/` are hidden and their names are opaque. Predict every pixel
`<page>_<row>_<col>` of `{sample}` and write a submission with exactly its columns.
"""


def page_pixels(path: Path, stem: str) -> tuple[np.ndarray, np.ndarray]:
    """(ids `<stem>_<row>_<col>` from 1, grey levels / 255) of a page, row by row as prepare.py does."""
    try:
        with Image.open(path) as image:
            grey = np.asarray(image.convert("L"), dtype=float) / 255.0
    except OSError as e:
        raise TaskError(f"{path} is not a readable image ({e})") from None
    rows, cols = np.indices(grey.shape)
    ids = np.char.add(
        np.char.add(f"{stem}_", (rows + 1).ravel().astype(str)),
        np.char.add("_", (cols + 1).ravel().astype(str)),
    )
    return ids, grey.ravel()


def _stems(folder: Path) -> list[str]:
    if not folder.is_dir():
        raise TaskError(f"{folder} is missing; prepare denoising-dirty-documents again with mlebench")
    return sorted(p.stem for p in folder.glob("*.png"))


class DenoisingHCE(HiddenConsistentEvaluation):
    """HCE whose unit is a page of train/ and whose scored rows are its pixels."""

    writes_tables = False
    folds_hidden = True  # hce.enabled=false: its copy is written from _split alone

    def __init__(
        self, task: Task, split_seed: int, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    ) -> None:
        self._start(task, split_seed, fractions)
        public = task.public_dir
        pages, cleaned = _stems(public / DIRTY), set(_stems(public / CLEANED))
        unmatched = [p for p in pages if p not in cleaned]
        if unmatched:
            raise TaskError(f"{public / CLEANED} has no cleaned page {unmatched[0]}.png for {public / DIRTY}")
        try:
            self._split = hce_split(pages, None, split_seed, fractions)
        except ValueError as e:
            raise TaskError(f"{public / DIRTY}: {e}") from None
        self._split["test"] = _stems(public / TEST)
        self._sample = read_sample(task.sample_submission_csv, self._id, self.metric)
        self._sample_text = pd.read_csv(task.sample_submission_csv, dtype=str, keep_default_na=False, nrows=1)
        answers = pd.read_csv(task.answers_csv, dtype={self._id: str})
        units = [(name, page) for name in SCORED_SPLITS for page in self._split[name]]
        self._unit_opaque = opaque_ids(opaque_key(split_seed, task.answers_csv), units)
        self._answers, self._opaque, self._pixel_ids = {}, {}, {}
        for name in SCORED_SPLITS:
            folder = TEST if name == "test" else CLEANED
            parts = [page_pixels(public / folder / f"{page}.png", page) for page in self._split[name]]
            ids = np.concatenate([i for i, _ in parts]) if parts else np.array([], dtype=str)
            hidden = (
                np.concatenate(
                    [
                        np.char.replace(i, f"{page}_", f"{self._unit_opaque[(name, page)]}_", count=1)
                        for (i, _), page in zip(parts, self._split[name], strict=True)
                    ]
                )
                if parts
                else np.array([], dtype=str)
            )
            self._pixel_ids[name] = hidden
            self._opaque.update({(name, str(o)): str(h) for o, h in zip(ids, hidden, strict=True)})
            if name == "test":
                self._answers[name] = answers[[self._id, self._targets[0]]]
                unanswered = set(ids) ^ set(answers[self._id])
                if unanswered:
                    raise TaskError(
                        f"{task.answers_csv} and {public / TEST} disagree on {len(unanswered)} pixel(s) "
                        f"(e.g. {sorted(unanswered)[0]!r}); every pixel of every test page needs one answer"
                    )
            else:
                values = np.concatenate([v for _, v in parts])
                self._answers[name] = pd.DataFrame({self._id: ids, self._targets[0]: values})
        self._scorer = None

    def fold_hidden_into_train(self) -> None:
        super().fold_hidden_into_train()
        none = np.array([], dtype=str)
        self._pixel_ids = {**self._pixel_ids, "search": none, "val": none}

    def _write(self, dest: Path, train: list[str], splits: tuple[str, ...]) -> None:
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        public = self.task.public_dir
        description = self.task.description_md.read_text(encoding="utf-8").rstrip()
        (dest / "description.md").write_text(
            description + _NOTE.format(sample=self.task.spec.sample_file), encoding="utf-8"
        )
        for page in train:
            for folder in (DIRTY, CLEANED):
                place_file(public / folder / f"{page}.png", dest / folder / f"{page}.png")
        for name in splits:
            source = TEST if name == "test" else DIRTY
            for page in self._split[name]:
                place_file(
                    public / source / f"{page}.png", dest / TEST / f"{self._unit_opaque[(name, page)]}.png"
                )
        ids = np.concatenate([self._pixel_ids[name] for name in splits])
        self._write_sample(dest, pd.DataFrame({self._id: np.sort(ids)}))

    def write_public(self, dest: Path) -> None:
        """The agent's copy: D_train's pages dirty and cleaned, every hidden page dirty in test/."""
        self._write(dest, self._split["train"], SCORED_SPLITS)

    def write_refit(self, dest: Path) -> None:
        """The refit's copy: every labelled page dirty and cleaned, the D_test pages in test/."""
        labelled = [p for name in ("train", "search", "val") for p in self._split[name]]
        self._write(dest, labelled, ("test",))
