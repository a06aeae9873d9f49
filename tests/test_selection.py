"""Rank selection: sampled frequencies follow p(i) ∝ (N − r_i + 1)^(1/T); T -> 0 is greedy."""

import random

import pytest

from search.selection import rank_probabilities, rank_select, ranks


def test_ranks_best_is_one_and_ties_keep_order():
    assert ranks([0.5, 0.9, 0.1, 0.9]) == [3, 1, 4, 2]


def test_probabilities_match_formula():
    fitness = [0.3, 0.9, 0.5, 0.7]
    t = 0.5
    n = len(fitness)
    r = ranks(fitness)
    w = [(n - ri + 1) ** (1 / t) for ri in r]
    expected = [x / sum(w) for x in w]
    assert rank_probabilities(fitness, t) == pytest.approx(expected)


def test_sampled_frequencies_match_formula():
    fitness = [0.1, 0.4, 0.2, 0.8, 0.6]
    t = 1.0
    rng = random.Random(0)
    draws = 40000
    counts = [0] * len(fitness)
    for _ in range(draws):
        counts[rank_select(fitness, t, rng)[0]] += 1
    for c, p in zip(counts, rank_probabilities(fitness, t), strict=True):
        # 5 standard errors of a binomial proportion
        assert abs(c / draws - p) < 5 * (p * (1 - p) / draws) ** 0.5


def test_small_temperature_is_greedy():
    fitness = [0.2, 0.95, 0.94, 0.1]
    probs = rank_probabilities(fitness, 1e-4)
    assert probs[1] == pytest.approx(1.0)
    rng = random.Random(1)
    assert {rank_select(fitness, 1e-4, rng)[0] for _ in range(200)} == {1}


def test_paper_temperature_prefers_top_but_explores():
    probs = rank_probabilities(list(range(10)), 0.2)
    assert probs[9] > probs[8] > probs[0] > 0
    assert probs[9] < 1


def test_select_two_distinct():
    rng = random.Random(2)
    for _ in range(100):
        a, b = rank_select([0.1, 0.2, 0.3], 0.2, rng, k=2)
        assert a != b


def test_rejects_non_positive_temperature():
    with pytest.raises(ValueError, match="temperature"):
        rank_probabilities([1.0], 0)
