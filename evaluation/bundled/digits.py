"""The bundled offline task: scikit-learn's copy of the UCI handwritten digits, as a Kaggle-style task."""

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from evaluation.bundled._ladder import TRAIN_FRACTIONS, reference_ladder
from evaluation.bundled.provenance import SKLEARN_DATA

NAME = "digits"
VERSION = 1
_SEED = 0
PIXELS = [f"p{i}" for i in range(64)]
# load_digits reads scikit-learn's digits.csv.gz: masked in sandboxes, since it holds every label.
PROVENANCE = SKLEARN_DATA

TASK_YAML = f"""\
name: {NAME}
metric: accuracy
id_column: id
target_columns: [label]
lower_is_better: false
leaderboard: leaderboard.csv
leaderboard_kind: reference-ladder
description: Classify 8x8 images of handwritten digits (0-9).
"""

DESCRIPTION = """\
# Handwritten Digits Recognition

## Overview

Recognise handwritten digits. Each image is an 8x8 grid of pixel intensities, downsampled from
32x32 bitmaps of digits written by 43 people (the UCI "Optical Recognition of Handwritten Digits"
data set, as shipped with scikit-learn). Your goal is to predict the digit (0-9) shown in each image
of the test set.

## Data

- `train.csv`: the training set, one image per row, with its label.
- `test.csv`: the test set, the same columns without the label.
- `sample_submission.csv`: a submission in the correct format.

Columns:

- `id`: the image's identifier.
- `p0` ... `p63`: pixel intensities, integers from 0 (blank) to 16 (full ink), row by row: `p0`-`p7`
  is the top row of the 8x8 image, `p56`-`p63` the bottom row.
- `label`: the digit, an integer from 0 to 9 (train.csv only).

## Evaluation

Submissions are evaluated on **accuracy**: the fraction of test images whose predicted label equals
the true label. Higher is better.

## Submission format

A CSV file with a header and one row per id of `test.csv`:

```
id,label
d00001,0
d00002,7
...
```
"""

LEADERBOARD_MD = f"""\
# Leaderboard of the digits task

`leaderboard.csv` is a **reference ladder of simple baselines, not a Kaggle leaderboard**: the task
never was a competition. Each entry is a standard classifier (constant majority, Gaussian naive
Bayes, logistic regression, decision trees, k-nearest neighbours, random forests, histogram gradient
boosting, linear SVC) trained on a fraction ({", ".join(map(str, TRAIN_FRACTIONS))}) of the public
`train.csv` and scored by accuracy on the hidden test set. Medals and percentile ranks against it mean
"better than this share of simple baselines".

Ladder version: {NAME}-v{VERSION}.
"""


def _frame(ids: list[str], pixels: np.ndarray, labels: np.ndarray | None) -> pd.DataFrame:
    table = pd.DataFrame(pixels.astype(int), columns=PIXELS)
    table.insert(0, "id", ids)
    if labels is not None:
        table["label"] = labels.astype(int)
    return table.sort_values("id").reset_index(drop=True)


def build(dest: Path) -> None:
    """Write the digits task (task.yaml, prepared/, leaderboard) into the empty directory `dest`."""
    images, labels = load_digits(return_X_y=True)
    # The raw set cycles through 0..9, so ids in raw order would give the labels away: shuffle first.
    order = np.random.RandomState(_SEED).permutation(len(labels))
    images, labels = images[order], labels[order]
    ids = np.array([f"d{i + 1:05d}" for i in range(len(labels))])
    id_train, id_test, x_train, x_test, y_train, y_test = train_test_split(
        ids, images, labels, test_size=0.25, stratify=labels, random_state=_SEED
    )
    public = dest / "prepared" / "public"
    private = dest / "prepared" / "private"
    public.mkdir(parents=True)
    private.mkdir(parents=True)
    (dest / "task.yaml").write_text(TASK_YAML)
    (public / "description.md").write_text(DESCRIPTION)
    train = _frame(list(id_train), x_train, y_train)
    train.to_csv(public / "train.csv", index=False)
    test = _frame(list(id_test), x_test, y_test)
    test.drop(columns="label").to_csv(public / "test.csv", index=False)
    test[["id", "label"]].to_csv(private / "test.csv", index=False)
    test[["id"]].assign(label=0).to_csv(public / "sample_submission.csv", index=False)

    # Trained on train.csv as written, so anyone can rebuild the ladder from the task's own files.
    ladder = reference_ladder(
        train[PIXELS].to_numpy(), train["label"].to_numpy(), test[PIXELS].to_numpy(), test["label"].to_numpy()
    )
    board = pd.DataFrame(
        {
            "rank": range(1, len(ladder) + 1),
            "score": [f"{score:.6f}" for _, score in ladder],
            "entry": [entry for entry, _ in ladder],
        }
    )
    board.to_csv(dest / "leaderboard.csv", index=False)
    (dest / "leaderboard.md").write_text(LEADERBOARD_MD)
