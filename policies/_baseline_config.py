"""The baseline policy's search space: model families, their hyperparameters, and how configs are
drafted, mutated and crossed over. A config is one JSON line at the top of a solution script."""

import json
import math
import random
from typing import Literal, NamedTuple

from pydantic import BaseModel, ValidationError

CONFIG_PREFIX = "# aira-baseline-config: "

Problem = Literal["classification", "regression", "auto"]
ParamValue = int | float | str

# MLE-bench grader names by what they score; an unknown metric leaves the choice to the script,
# which looks at the target column ("auto").
_CLASSIFICATION_METRICS = {
    "accuracy",
    "auc-roc",
    "multi-class-log-loss",
    "log-loss",
    "f1",
    "balanced-accuracy",
}
_REGRESSION_METRICS = {
    "root-mean-squared-error",
    "mean-squared-error",
    "mean-absolute-error",
    "rmse",
    "mae",
    "r2",
}
PROBA_METRICS = {"auc-roc", "multi-class-log-loss", "log-loss"}

# Mutation moves: multiplicative for log-scaled values, a fraction of the range for linear ones.
_LOG_FACTORS = (0.5, 0.7, 1.4, 2.0)
_RANGE_STEPS = (-0.2, -0.1, 0.1, 0.2)
SWITCH_FAMILY_PROB = 0.15


class Param(NamedTuple):
    """A hyperparameter's range: `log` floats, `linear` floats, `int` (log-spaced) or `choice`."""

    kind: Literal["log", "linear", "int", "choice"]
    low: float = 0.0
    high: float = 0.0
    choices: tuple[str, ...] = ()


class Family(NamedTuple):
    """A model family: the problems it solves and its hyperparameters."""

    problems: frozenset[str]
    params: dict[str, Param]


_BOTH = frozenset({"classification", "regression", "auto"})
_TREES = {
    "n_estimators": Param("int", 20, 300),
    "max_depth": Param("int", 2, 32),
    "min_samples_leaf": Param("int", 1, 20),
}
FAMILIES: dict[str, Family] = {
    "logistic_regression": Family(frozenset({"classification"}), {"C": Param("log", 1e-3, 1e2)}),
    "ridge": Family(frozenset({"regression"}), {"alpha": Param("log", 1e-3, 1e3)}),
    "random_forest": Family(_BOTH, _TREES),
    "extra_trees": Family(_BOTH, _TREES),
    "hist_gradient_boosting": Family(
        _BOTH,
        {
            "learning_rate": Param("log", 0.01, 0.5),
            "max_iter": Param("int", 20, 300),
            "max_leaf_nodes": Param("int", 4, 64),
            "l2_regularization": Param("linear", 0.0, 10.0),
        },
    ),
    "knn": Family(
        _BOTH,
        {"n_neighbors": Param("int", 1, 50), "weights": Param("choice", choices=("uniform", "distance"))},
    ),
    "svm": Family(_BOTH, {"C": Param("log", 1e-2, 1e3), "gamma": Param("log", 1e-4, 0.3)}),
}


class BaselineConfig(BaseModel):
    """What a baseline solution script does: model family, hyperparameters and preprocessing."""

    model: str
    params: dict[str, ParamValue]
    scale: bool = True
    impute: Literal["median", "mean"] = "median"

    def line(self) -> str:
        """The config as the script's first line."""
        return CONFIG_PREFIX + json.dumps(self.model_dump())


def problem_of(metric: str) -> Problem:
    """Classification or regression, from the metric's name; "auto" when the name is unknown."""
    if metric in _CLASSIFICATION_METRICS:
        return "classification"
    if metric in _REGRESSION_METRICS:
        return "regression"
    return "auto"


def parse_config_line(code: str) -> BaselineConfig | None:
    """The config of a baseline script (its first matching line), None when it has none."""
    for line in code.splitlines():
        if line.startswith(CONFIG_PREFIX):
            try:
                return BaselineConfig.model_validate_json(line[len(CONFIG_PREFIX) :])
            except ValidationError:
                return None
    return None


def fallback_config(problem: Problem) -> BaselineConfig:
    """A simple configuration that rarely fails: a scaled linear model (trees when the kind is unknown)."""
    if problem == "classification":
        return BaselineConfig(model="logistic_regression", params={"C": 1.0})
    if problem == "regression":
        return BaselineConfig(model="ridge", params={"alpha": 1.0})
    return BaselineConfig(
        model="hist_gradient_boosting",
        params={"learning_rate": 0.1, "max_iter": 100, "max_leaf_nodes": 31, "l2_regularization": 0.0},
    )


def draft_config(problem: Problem, rng: random.Random) -> BaselineConfig:
    """A random family with random hyperparameters and preprocessing."""
    model = rng.choice(_families(problem))
    params = {name: _sample(spec, rng) for name, spec in FAMILIES[model].params.items()}
    return BaselineConfig(
        model=model, params=params, scale=rng.random() < 0.7, impute=rng.choice(["median", "mean"])
    )


def mutate_config(parent: BaselineConfig, problem: Problem, rng: random.Random) -> BaselineConfig:
    """Perturb one or two hyperparameters of `parent`; with a small probability switch family."""
    parent = repair_config(parent, problem, rng)
    others = [f for f in _families(problem) if f != parent.model]
    if others and rng.random() < SWITCH_FAMILY_PROB:
        model = rng.choice(others)
        params = {name: _sample(spec, rng) for name, spec in FAMILIES[model].params.items()}
        return parent.model_copy(update={"model": model, "params": params})
    specs = FAMILIES[parent.model].params
    params = dict(parent.params)
    for name in rng.sample(sorted(specs), k=min(len(specs), rng.choice([1, 2]))):
        params[name] = _perturb(params[name], specs[name], rng)
    return parent.model_copy(update={"params": params})


def crossover_config(
    better: BaselineConfig, other: BaselineConfig, problem: Problem, rng: random.Random
) -> BaselineConfig:
    """The family of `better` (its params mixed with `other`'s when the family is the same), and the
    preprocessing of `other`."""
    better, other = repair_config(better, problem, rng), repair_config(other, problem, rng)
    params = dict(better.params)
    if other.model == better.model:
        params = {name: rng.choice([value, other.params[name]]) for name, value in params.items()}
    return BaselineConfig(model=better.model, params=params, scale=other.scale, impute=other.impute)


def repair_config(config: BaselineConfig, problem: Problem, rng: random.Random) -> BaselineConfig:
    """A config valid for `problem`: a known family that fits it, every parameter present and in range."""
    if config.model not in _families(problem):
        return draft_config(problem, rng).model_copy(update={"scale": config.scale, "impute": config.impute})
    specs = FAMILIES[config.model].params
    params = {name: _clip(config.params.get(name), spec, rng) for name, spec in specs.items()}
    return config.model_copy(update={"params": params})


def _families(problem: Problem) -> list[str]:
    return [name for name, family in FAMILIES.items() if problem in family.problems]


def _sample(spec: Param, rng: random.Random) -> ParamValue:
    if spec.kind == "choice":
        return rng.choice(spec.choices)
    if spec.kind == "linear":
        return _round(rng.uniform(spec.low, spec.high))
    value = math.exp(rng.uniform(math.log(spec.low), math.log(spec.high)))
    return round(value) if spec.kind == "int" else _round(value)


def _perturb(value: ParamValue, spec: Param, rng: random.Random) -> ParamValue:
    """A different value near `value`, within the range (a step that hits a bound goes the other way)."""
    if spec.kind == "choice":
        return rng.choice([c for c in spec.choices if c != value] or list(spec.choices))
    current = float(value)
    for _ in range(10):
        if spec.kind == "linear":
            moved = current + rng.choice(_RANGE_STEPS) * (spec.high - spec.low)
        else:
            moved = current * rng.choice(_LOG_FACTORS)
        new = _clip(moved, spec, rng)
        if new != value:
            return new
    return value


def _clip(value: object, spec: Param, rng: random.Random) -> ParamValue:
    if spec.kind == "choice":
        return value if isinstance(value, str) and value in spec.choices else rng.choice(spec.choices)
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return _sample(spec, rng)
    clipped = min(max(float(value), spec.low), spec.high)
    return round(clipped) if spec.kind == "int" else _round(clipped)


def _round(value: float) -> float:
    return float(f"{value:.4g}")
