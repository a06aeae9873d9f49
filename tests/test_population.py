"""The population keeps its valid nodes and its best node up to date node by node: the same answers
as computing them from all nodes, whatever order nodes arrive in."""

import random

import pytest

from search.population import Population
from tests.test_steady_state import node


@pytest.mark.parametrize("lower_is_better", [False, True])
def test_valid_and_best_match_a_recount_after_every_add(lower_is_better: bool) -> None:
    rng = random.Random(7)
    pop = Population(lower_is_better)
    ids = list(range(1, 301))
    rng.shuffle(ids)  # a resumed or restarted run adds nodes out of id order
    for i in ids:
        valid = rng.random() > 0.2
        pop.add(node(i, rng.choice([0.1, 0.5, 0.9, rng.random()]) if valid else None, valid))
        counted = [n for _, n in sorted(pop.nodes.items()) if n.valid and n.search_score is not None]
        assert pop.valid == counted
        best = max(counted, key=lambda n: (pop.fitness(n), -n.id), default=None)  # earliest on ties
        assert pop.best() == best


def test_a_node_recorded_again_replaces_the_old_one() -> None:
    pop = Population(lower_is_better=False)
    pop.add(node(1, 0.9))
    pop.add(node(2, 0.5))
    pop.add(node(1, None, valid=False))
    assert [n.id for n in pop.valid] == [2]
    best = pop.best()
    assert best is not None and best.id == 2
