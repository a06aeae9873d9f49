"""Temperature-scaled rank selection (AIRA_2): p(i) ∝ (N − r_i + 1)^(1/T), rank 1 = best."""

import math
import random
from collections.abc import Sequence


def ranks(fitness: Sequence[float]) -> list[int]:
    """Rank of each entry, 1 = highest fitness; ties broken by position (earlier = better)."""
    order = sorted(range(len(fitness)), key=lambda i: (-fitness[i], i))
    out = [0] * len(fitness)
    for r, i in enumerate(order, start=1):
        out[i] = r
    return out


def rank_probabilities(fitness: Sequence[float], temperature: float) -> list[float]:
    """Selection probability of each entry under temperature-scaled rank selection.

    Computed in log space so that small T (near-greedy) does not overflow.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if not fitness:
        return []
    n = len(fitness)
    logs = [math.log(n - r + 1) / temperature for r in ranks(fitness)]
    top = max(logs)
    weights = [math.exp(v - top) for v in logs]
    total = sum(weights)
    return [w / total for w in weights]


def rank_select(fitness: Sequence[float], temperature: float, rng: random.Random, k: int = 1) -> list[int]:
    """Sample k distinct indices by rank selection (without replacement, renormalising after each)."""
    if k > len(fitness):
        raise ValueError(f"cannot select {k} of {len(fitness)} entries")
    chosen: list[int] = []
    left = list(range(len(fitness)))
    for _ in range(k):
        probs = rank_probabilities([fitness[i] for i in left], temperature)
        pick = rng.choices(range(len(left)), weights=probs)[0]
        chosen.append(left.pop(pick))
    return chosen
