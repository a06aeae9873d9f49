"""Steady-state policy, population ordering and the journal."""

import random

from search.journal import Journal
from search.node import Node
from search.population import Population
from search.steady_state import SteadyStatePolicy


def node(i: int, score: float | None, valid: bool = True) -> Node:
    return Node(
        id=i,
        operator="draft",
        valid=valid,
        search_score=score,
        worker_id=0,
        started_at=0.0,
        ended_at=1.0,
        scored_at=1.0,
    )


def test_drafts_until_enough_valid_nodes():
    pop = Population(lower_is_better=False)
    policy = SteadyStatePolicy(0.2, 0.15, num_drafts=2, rng=random.Random(0))
    assert policy.next_job(pop).operator == "draft"
    pop.add(node(1, 0.5))
    pop.add(node(2, None, valid=False))
    assert policy.next_job(pop).operator == "draft"
    pop.add(node(3, 0.7))
    assert policy.next_job(pop).operator in {"mutate", "crossover"}


def test_crossover_rate_and_parents():
    pop = Population(lower_is_better=False)
    for i in range(1, 6):
        pop.add(node(i, i / 10))
    policy = SteadyStatePolicy(0.2, 0.3, num_drafts=1, rng=random.Random(0))
    plans = [policy.next_job(pop) for _ in range(4000)]
    cross = [p for p in plans if p.operator == "crossover"]
    assert abs(len(cross) / len(plans) - 0.3) < 0.03
    assert all(len(p.parents) == 2 and p.parents[0].id != p.parents[1].id for p in cross)
    mut = [p for p in plans if p.operator == "mutate"]
    assert all(len(p.parents) == 1 for p in mut)
    # rank selection at T=0.2 picks the best node most often
    best_share = sum(p.parents[0].id == 5 for p in mut) / len(mut)
    assert best_share > 0.5


def test_lower_is_better_orients_fitness():
    pop = Population(lower_is_better=True)
    pop.add(node(1, 0.5))
    pop.add(node(2, 0.2))
    best = pop.best()
    assert best is not None and best.id == 2


def test_journal_roundtrip_skips_torn_line(tmp_path):
    j = Journal(tmp_path / "journal.jsonl")
    j.append(node(1, 0.5))
    j.append(node(2, None, valid=False))
    with (tmp_path / "journal.jsonl").open("a") as f:
        f.write('{"id": 3, "oper')
    assert [n.id for n in j.load()] == [1, 2]
