"""A class column of train.csv as the submission's probability columns, one per class (one-hot, or
multi-hot when a row holds several classes, as freesound's `labels` "Bark,Purr")."""

import pandas as pd


def row_classes(labels: pd.Series, separator: str | None) -> pd.Series:
    """Each row's classes: the cell itself, or the cell split at `separator`."""
    if separator is None:
        return labels.map(lambda v: [v])
    return labels.map(lambda v: [c.strip() for c in str(v).split(separator) if c.strip()])


def unknown_classes(labels: pd.Series, classes: list[str], separator: str | None) -> list[str]:
    """The classes of the rows that are not among `classes`, sorted."""
    seen = {c for row in row_classes(labels, separator) for c in row}
    return sorted(seen - set(classes))


def class_indicators(labels: pd.Series, classes: list[str], separator: str | None) -> pd.DataFrame:
    """One "0"/"1" text column per class: whether the row holds that class."""
    if separator is None:
        return pd.DataFrame({c: (labels == c).astype(int).astype(str) for c in classes}, index=labels.index)
    held = row_classes(labels, separator)
    return pd.DataFrame(
        {c: held.map(lambda row, c=c: str(int(c in row))) for c in classes}, index=labels.index
    )
