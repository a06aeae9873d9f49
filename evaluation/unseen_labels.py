"""Labels the agent's training rows never show: scored as one "unseen" class, as Kaggle's rule says.

whale-categorization-playground scores an image of a whale that no training image shows as
`new_whale` (mle-bench's prepare.py relabels its test answers so, relative to its train.csv). Under HCE
the agent's training rows are D_train, so every scored split is relabelled relative to D_train: a
whale seen only in D_search, D_val or the competition's own training rows is new to the agent.
"""

import pandas as pd


def relabel_unseen(answers: pd.DataFrame, column: str, seen: set[str], unseen_label: str) -> pd.DataFrame:
    """The answers with every value of `column` that is not in `seen` replaced by `unseen_label`."""
    relabelled = answers.copy()
    known = relabelled[column].astype(str).isin(seen | {unseen_label})
    relabelled.loc[~known, column] = unseen_label
    return relabelled
