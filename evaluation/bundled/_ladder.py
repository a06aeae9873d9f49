"""The reference ladder: simple classifiers at growing training fractions, scored on the hidden test set.

It stands in for a Kaggle leaderboard on tasks that never had one, so that medals and percentile ranks
mean "better than this share of standard baselines". Everything is seeded, so it is built identically.
"""

import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

TRAIN_FRACTIONS = (0.05, 0.1, 0.25, 0.5, 1.0)
_SEED = 0


def _scaled(model: Callable[[], Any]) -> Callable[[], Any]:
    """Standardise the inputs first: linear models converge badly on raw 0-16 pixels."""
    return lambda: make_pipeline(StandardScaler(), model())


def _baselines() -> list[tuple[str, Callable[[], Any]]]:
    baselines: list[tuple[str, Callable[[], Any]]] = [
        ("constant majority", partial(DummyClassifier, strategy="most_frequent")),
        ("gaussian-nb", GaussianNB),
    ]
    baselines += [
        (f"logreg C={c}", _scaled(partial(LogisticRegression, C=c, max_iter=2000)))
        for c in (0.001, 0.01, 0.1, 1.0)
    ]
    baselines += [
        (f"tree depth={d}", partial(DecisionTreeClassifier, max_depth=d, random_state=_SEED))
        for d in (2, 4, 8)
    ]
    baselines += [(f"knn k={k}", partial(KNeighborsClassifier, n_neighbors=k)) for k in (1, 5, 15)]
    baselines += [
        (f"random-forest trees={n}", partial(RandomForestClassifier, n_estimators=n, random_state=_SEED))
        for n in (10, 100)
    ]
    baselines.append(("hist-gradient-boosting", partial(HistGradientBoostingClassifier, random_state=_SEED)))
    baselines.append(("linear-svc C=0.1", _scaled(partial(LinearSVC, C=0.1, random_state=_SEED))))
    return baselines


def reference_ladder(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray
) -> list[tuple[str, float]]:
    """(entry, accuracy) of every baseline at every training fraction, best first."""
    subsets = {}
    for fraction in TRAIN_FRACTIONS:
        if fraction == 1.0:
            subsets[fraction] = (x_train, y_train)
        else:
            x, _, y, _ = train_test_split(
                x_train, y_train, train_size=fraction, stratify=y_train, random_state=_SEED
            )
            subsets[fraction] = (x, y)
    entries = []
    for name, make in _baselines():
        for fraction, (x, y) in subsets.items():
            model = make()
            # Convergence warnings of the small baselines are expected and say nothing to the user.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(x, y)
            entries.append((f"{name} frac={fraction}", float(np.mean(model.predict(x_test) == y_test))))
    # Stable sort: ties keep the fixed order of the baseline list.
    return sorted(entries, key=lambda entry: -entry[1])
