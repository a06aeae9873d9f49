"""Steady-state evolution: what the next job of a free worker is. No generations, no barrier."""

import itertools
import random
from typing import NamedTuple

from search.job import Operator
from search.node import Node
from search.population import Population
from search.selection import rank_probabilities, rank_select


class JobPlan(NamedTuple):
    operator: Operator
    parents: list[Node]


class SteadyStatePolicy:
    """Drafts until `num_drafts` valid nodes exist; then crossover with probability c, else mutation.

    Parents come from temperature-scaled rank selection over the valid nodes' D_search fitness.
    """

    def __init__(
        self, temperature: float, crossover_prob: float, num_drafts: int, rng: random.Random
    ) -> None:
        self.temperature = temperature
        self.crossover_prob = crossover_prob
        self.num_drafts = num_drafts
        self.rng = rng
        # (population version, fitness, cumulative selection weights): one rank computation per new
        # node, not per dispatch; at 64 workers the population grows by thousands of nodes.
        self._ranked: tuple[tuple[int, int], list[float], list[float]] | None = None

    def next_job(self, population: Population) -> JobPlan:
        valid = population.valid
        if len(valid) < self.num_drafts:
            return JobPlan("draft", [])
        key = (id(population), population.version)
        if self._ranked is None or self._ranked[0] != key:
            fitness = [population.fitness(n) for n in valid]
            probs = rank_probabilities(fitness, self.temperature)
            self._ranked = (key, fitness, list(itertools.accumulate(probs)))
        _, fitness, cum_weights = self._ranked
        if len(valid) >= 2 and self.rng.random() < self.crossover_prob:
            picks = rank_select(fitness, self.temperature, self.rng, k=2)
            return JobPlan("crossover", [valid[i] for i in picks])
        # The same draw as rank_select(k=1), with the weights accumulated once.
        (pick,) = self.rng.choices(range(len(valid)), cum_weights=cum_weights)
        return JobPlan("mutate", [valid[pick]])
