"""HCE for hubmap-kidney-segmentation: kidney slides as TIFFs, glomeruli as run-length-encoded masks.

mle-bench's prepare.py keeps 12 of Kaggle's 15 labelled slides for train.csv (id, encoding) with
`train/<id>.tiff`, `train/<id>.json` (the glomeruli as polygons: the label again) and
`train/<id>-anatomical-structure.json`; its 3 test slides go to `test/` (tiff and anatomical
structure; prepare.py copies their `<id>.json` too, which gives their labels away, and this copy does
not), `HuBMAP-20-dataset_information.csv` lists every slide with its size and donor, and the answers
`prepared/private/test.csv` add `width_pixels`, `height_pixels` to the encoding.

The unit HCE splits is the slide (a row of train.csv). With 12 slides, D_search and D_val hold one
slide each at the default fractions: their scores are the Dice of one slide, a noisy guide, which the
standard errors show. A hidden slide's files are in `test/` under its opaque id, its line of the
dataset information under that id, without the polygon file's name; its size goes to the answers.
"""

from pathlib import Path

import pandas as pd

from evaluation.hce import HiddenConsistentEvaluation, _read_text
from evaluation.mask_metrics import HUBMAP_HEIGHT, HUBMAP_WIDTH
from evaluation.row_files import place_file
from evaluation.scoring import SCORED_SPLITS
from evaluation.task import TaskError

INFO = "HuBMAP-20-dataset_information.csv"
IMAGE_FILE, POLYGONS = "image_file", "glomerulus_segmentation_file"


class HubmapHCE(HiddenConsistentEvaluation):
    """The generic HCE over train.csv's slides, with the slide sizes of the dataset information in the
    hidden answers and the information file and polygon files cut to what the agent may see."""

    folds_hidden = True  # hce.enabled=false: its copy is written from _split alone

    def _info(self) -> pd.DataFrame:
        path = self.task.public_dir / INFO
        try:
            info = _read_text(path)
        except (OSError, ValueError) as e:
            raise TaskError(f"{path} is not a readable CSV ({e})") from None
        missing = [c for c in (IMAGE_FILE, HUBMAP_WIDTH, HUBMAP_HEIGHT) if c not in info.columns]
        if missing:
            raise TaskError(f"{path} lacks the column(s) {missing} that prepare.py keeps")
        return info.assign(**{self._id: info[IMAGE_FILE].str.removesuffix(".tiff")})

    def _labelled_train(self, train: pd.DataFrame) -> pd.DataFrame:
        sizes = self._info().set_index(self._id)[[HUBMAP_WIDTH, HUBMAP_HEIGHT]]
        unknown = sorted(set(train[self._id]) - set(sizes.index))
        if unknown:
            raise TaskError(f"{self.task.public_dir / INFO} has no size for slide {unknown[0]!r}")
        return train.assign(**{c: train[self._id].map(sizes[c]).to_numpy() for c in sizes.columns})

    def _write_extras(self, dest: Path, train: list[str], hidden: list[tuple[str, str]]) -> None:
        """The polygons of the labelled slides shown, the information file cut to the copy's slides."""
        public = self.task.public_dir
        for slide in train:
            place_file(public / "train" / f"{slide}.json", dest / "train" / f"{slide}.json")
        info = self._info().set_index(self._id)
        rows = [info.loc[slide].copy() for slide in train]
        for name, slide in hidden:
            row = info.loc[slide].copy() if slide in info.index else pd.Series("", index=info.columns)
            opaque = self._opaque[(name, slide)]
            row[IMAGE_FILE] = f"{opaque}.tiff"
            row = row.str.replace(slide, opaque, regex=False)
            if POLYGONS in row.index:
                row[POLYGONS] = ""
            rows.append(row)
        table = pd.DataFrame(rows).reset_index(drop=True)
        table.sort_values(IMAGE_FILE).to_csv(dest / INFO, index=False)
        # prepare.py copies the sample submission into test/ as well.
        place_file(dest / self.task.spec.sample_file, dest / "test" / self.task.spec.sample_file)

    def write_public(self, dest: Path) -> None:
        super().write_public(dest)
        hidden = [(name, slide) for name in SCORED_SPLITS for slide in self._split[name]]
        self._write_extras(Path(dest), self._split["train"], hidden)

    def write_refit(self, dest: Path) -> None:
        super().write_refit(dest)
        labelled = [s for name in ("train", "search", "val") for s in self._split[name]]
        self._write_extras(Path(dest), labelled, [("test", s) for s in self._split["test"]])
