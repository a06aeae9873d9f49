"""How an agent is shown a D_search score: rounded to its standard error's leading significant digit,
or to three significant digits without one (evaluation/scores.py: shown_score)."""

import math

import pytest

from evaluation.scores import SHOWN_DIGITS, ShownScore, shown_score


@pytest.mark.parametrize(
    ("score", "se", "value", "shown_se", "text"),
    [
        (0.83412, 0.0137, 0.83, 0.01, "0.83 ± 0.01"),  # the example
        (0.83412, 0.00137, 0.834, 0.001, "0.834 ± 0.001"),
        (-0.5123, 0.0096, -0.51, 0.01, "-0.51 ± 0.01"),  # 0.0096 rounds up to 0.01: two places
        (0.5, 0.096, 0.5, 0.1, "0.5 ± 0.1"),
        (0.999, 0.0004, 0.999, 0.0004, "0.9990 ± 0.0004"),  # trailing zeros kept to the SE's place
        (1234.5, 56.0, 1230.0, 60.0, "1230 ± 60"),  # an SE above 1: tens
        (12.3, 9.6, 10.0, 10.0, "10 ± 10"),
        (0.0, 0.01, 0.0, 0.01, "0.00 ± 0.01"),
    ],
)
def test_a_score_is_rounded_to_its_standard_errors_leading_digit(
    score: float, se: float, value: float, shown_se: float, text: str
) -> None:
    shown = shown_score(score, se)
    assert shown == ShownScore(value, shown_se, text)
    assert math.isclose(shown.value, value) and shown.se is not None and math.isclose(shown.se, shown_se)


@pytest.mark.parametrize("se", [None, 0.0, float("nan"), float("inf"), -0.01])
@pytest.mark.parametrize(
    ("score", "value", "text"),
    [
        (0.83412, 0.834, "0.834"),
        (0.9996, 1.0, "1.00"),  # rounding up to 1 keeps three digits, not four
        (123456.0, 123000.0, "123000"),
        (-3.14159, -3.14, "-3.14"),
        (0.00001234, 0.0000123, "0.0000123"),  # fixed notation, never an exponent
        (0.0, 0.0, "0"),
    ],
)
def test_without_a_usable_standard_error_three_significant_digits(
    score: float, se: float | None, value: float, text: str
) -> None:
    assert SHOWN_DIGITS == 3
    assert shown_score(score, se) == ShownScore(value, None, text)


def test_a_score_that_is_not_finite_is_shown_as_it_is() -> None:
    assert shown_score(float("inf"), 0.1) == ShownScore(float("inf"), None, "inf")
    nan = shown_score(float("nan"), None)
    assert math.isnan(nan.value) and nan.se is None and nan.text == "nan"


def test_shown_scores_hide_a_one_label_change() -> None:
    """What the rounding is for: on 1000 rows (SE ~0.013 at 80 % accuracy), flipping one prediction
    moves accuracy by 0.001; the shown score does not move (but across a rounding boundary), so a
    submission tells next to nothing about single labels."""
    se = math.sqrt(0.8 * 0.2 / 1000)
    assert shown_score(0.801, se) == shown_score(0.802, se) == ShownScore(0.8, 0.01, "0.80 ± 0.01")


def test_rounding_twice_changes_nothing() -> None:
    for score, se in [(0.83412, 0.0137), (1234.5, 56.0), (0.83412, None), (0.9996, None)]:
        once = shown_score(score, se)
        assert shown_score(once.value, once.se) == once
