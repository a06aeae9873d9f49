"""The solution script the baseline policy writes: a complete scikit-learn pipeline for one task.

The script reads its own first line, the config line, for the model and its hyperparameters, so that
line is the one place a mutation or crossover changes. It prints a hold-out score for its own use
(the agent never sees the evaluator's score), and with `report_score` (hce.enabled=false) prints
that score as `validation_score: <number>` when it is in the task's metric; it ends by printing
SUBMISSION_WRITTEN.
"""

from string import Template

from agents.task_card import TaskCard
from policies._baseline_config import PROBA_METRICS, BaselineConfig, problem_of

SUBMISSION_WRITTEN = "submission written:"

_SCRIPT = Template('''\
$config_line
"""Solution for $task_name: a scikit-learn model configured by the line above.

Written by the LLM-free baseline policy (a scripted test double, not a language model).
"""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, log_loss, mean_absolute_error, mean_squared_error, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC, SVR

DATA_DIR = Path($data_dir)
METRIC = $metric
ID_COLUMN = $id_column
TARGET_COLUMNS = $target_columns
PROBLEM = $problem  # "auto": decided from the target column
PROBA = $proba  # the metric scores probabilities rather than labels
REPORT_SCORE = $report_score  # print the hold-out score as the self-reported validation_score
MAX_CATEGORIES = 30  # string columns with more distinct values are dropped, not one-hot encoded
SEED = 0
CONFIG = json.loads(Path(__file__).read_text().splitlines()[0].split(":", 1)[1])


def is_classification(y):
    if PROBLEM != "auto":
        return PROBLEM == "classification"
    if not pd.api.types.is_numeric_dtype(y):
        return True
    return y.nunique() <= 20 and bool(np.all(np.asarray(y, dtype=float) % 1 == 0))


def make_model(classify, n_rows):
    name, p = CONFIG["model"], CONFIG["params"]
    if name == "logistic_regression":
        return LogisticRegression(C=p["C"], max_iter=2000)
    if name == "ridge":
        return Ridge(alpha=p["alpha"])
    if name in ("random_forest", "extra_trees"):
        forests = {
            ("random_forest", True): RandomForestClassifier,
            ("random_forest", False): RandomForestRegressor,
            ("extra_trees", True): ExtraTreesClassifier,
            ("extra_trees", False): ExtraTreesRegressor,
        }
        return forests[name, classify](
            n_estimators=p["n_estimators"],
            max_depth=p["max_depth"],
            min_samples_leaf=p["min_samples_leaf"],
            random_state=SEED,
        )
    if name == "hist_gradient_boosting":
        boosting = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
        return boosting(
            learning_rate=p["learning_rate"],
            max_iter=p["max_iter"],
            max_leaf_nodes=p["max_leaf_nodes"],
            l2_regularization=p["l2_regularization"],
            random_state=SEED,
        )
    if name == "knn":
        neighbors = KNeighborsClassifier if classify else KNeighborsRegressor
        return neighbors(n_neighbors=max(1, min(p["n_neighbors"], n_rows)), weights=p["weights"])
    if name == "svm":
        if classify:
            return SVC(C=p["C"], gamma=p["gamma"], probability=PROBA, random_state=SEED)
        return SVR(C=p["C"], gamma=p["gamma"])
    sys.exit(f"unknown model {name!r} in the config line")


def make_pipeline(numeric, categorical, classify, n_rows):
    steps = [("impute", SimpleImputer(strategy=CONFIG["impute"]))]
    if CONFIG["scale"]:
        steps.append(("scale", StandardScaler()))
    parts = [("numeric", Pipeline(steps), numeric)] if numeric else []
    if categorical:
        encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        parts.append(("categorical", encoder, categorical))
    return Pipeline([("prepare", ColumnTransformer(parts)), ("model", make_model(classify, n_rows))])


def features(frame, numeric, categorical):
    X = frame[numeric + categorical].copy()
    X[numeric] = X[numeric].apply(pd.to_numeric, errors="coerce")
    X[categorical] = X[categorical].astype(str)
    return X


def holdout_score(model, X, y, classify):
    """The metric on the hold-out rows, or the closest simple one (accuracy, RMSE)."""
    if classify and METRIC == "auc-roc":
        proba = model.predict_proba(X)
        if proba.shape[1] == 2:
            return METRIC, roc_auc_score(y, proba[:, 1])
        return METRIC, roc_auc_score(y, proba, multi_class="ovr", labels=model.classes_)
    if classify and METRIC in ("multi-class-log-loss", "log-loss"):
        return METRIC, log_loss(y, model.predict_proba(X), labels=model.classes_)
    predicted = model.predict(X)
    if classify:
        return "accuracy", accuracy_score(y, predicted)
    if METRIC == "mean-absolute-error":
        return METRIC, mean_absolute_error(y, predicted)
    return "root-mean-squared-error", float(np.sqrt(mean_squared_error(y, predicted)))


def class_columns(columns, classes):
    """Which probability column each submission column takes: by class name, else by position."""
    names = [str(c) for c in classes]
    if all(c in names for c in columns):
        return [names.index(c) for c in columns]
    if len(columns) == len(names):
        return list(range(len(names)))
    sys.exit(f"cannot match the submission columns {columns} to the classes {names}")


def main():
    train = pd.read_csv(DATA_DIR / "train.csv")
    test = pd.read_csv(DATA_DIR / "test.csv")
    sample = pd.read_csv(DATA_DIR / "sample_submission.csv")
    targets = [c for c in TARGET_COLUMNS if c in train.columns]
    targets = targets or [c for c in train.columns if c not in test.columns and c != ID_COLUMN]
    if not targets:
        sys.exit(f"no target column in train.csv: expected one of {TARGET_COLUMNS}")
    usable = [c for c in train.columns if c in test.columns and c != ID_COLUMN and c not in targets]
    numeric = [c for c in usable if pd.api.types.is_numeric_dtype(train[c])]
    categorical = [c for c in usable if c not in numeric and train[c].nunique() <= MAX_CATEGORIES]
    if not numeric and not categorical:
        sys.exit("no usable feature columns shared by train.csv and test.csv")
    print(f"train {train.shape}, test {test.shape}: {len(numeric)} numeric, {len(categorical)} categorical")
    print(f"config: {CONFIG}")
    X_all, X_test = features(train, numeric, categorical), features(test, numeric, categorical)
    outputs = [c for c in sample.columns if c != ID_COLUMN]
    submission = pd.DataFrame(index=range(len(test)))
    if ID_COLUMN in sample.columns:
        ids = test[ID_COLUMN] if ID_COLUMN in test.columns else sample[ID_COLUMN]
        submission[ID_COLUMN] = ids.to_numpy()[: len(test)]

    reported = []  # hold-out scores in the task's metric, one per target
    for i, target in enumerate(targets):
        known = train[target].notna()
        X, y = X_all[known], train.loc[known, target]
        classify = is_classification(y)
        if len(y) >= 10:
            stratify = y if classify and y.value_counts().min() >= 2 else None
            split = train_test_split(X, y, test_size=0.2, random_state=SEED, stratify=stratify)
            X_fit, X_val, y_fit, y_val = split
            model = make_pipeline(numeric, categorical, classify, len(y_fit)).fit(X_fit, y_fit)
            try:
                metric, value = holdout_score(model, X_val, y_val, classify)
                print(f"local validation {metric} ({target}, 20% hold-out of train.csv): {value:.6f}")
                if metric == METRIC:
                    reported.append(value)
            except ValueError as e:
                print(f"no local validation score for {target}: {e}")
        model = make_pipeline(numeric, categorical, classify, len(y)).fit(X, y)
        if PROBA and classify:
            proba = model.predict_proba(X_test)
            if target in outputs:  # one column: the probability of the positive (largest) class
                submission[target] = proba[:, -1]
            else:  # one column per class, named as in the sample submission
                for column, j in zip(outputs, class_columns(outputs, model.classes_)):
                    submission[column] = proba[:, j]
        else:
            column = target if target in outputs else outputs[min(i, len(outputs) - 1)]
            submission[column] = model.predict(X_test)

    if REPORT_SCORE and len(reported) == len(targets):
        print(f"validation_score: {float(np.mean(reported)):.6f}")
    submission = submission[[c for c in sample.columns if c in submission.columns]]
    submission.to_csv("submission.csv", index=False)
    print(f"$submission_written submission.csv ({len(submission)} rows, columns {list(submission.columns)})")


if __name__ == "__main__":
    main()
''')


def render_script(config: BaselineConfig, card: TaskCard, report_score: bool = False) -> str:
    """The complete solution script for `card`'s task with the model `config` describes;
    `report_score`: it prints its hold-out score as `validation_score: <number>`."""
    return _SCRIPT.substitute(
        config_line=config.line(),
        task_name=card.name.replace('"', "'"),
        data_dir=repr(card.data_dir),
        metric=repr(card.metric),
        id_column=repr(card.id_column),
        target_columns=repr(card.target_columns),
        problem=repr(problem_of(card.metric)),
        proba=repr(card.metric in PROBA_METRICS),
        submission_written=SUBMISSION_WRITTEN,
        report_score=repr(report_score),
    )
