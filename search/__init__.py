"""Pure search logic: population, rank selection, steady-state policy, journal. No Ray here."""

from search.budget import Budget
from search.job import Job, Operator, Parent
from search.journal import Journal
from search.node import Node
from search.population import Population
from search.selection import rank_probabilities, rank_select, ranks
from search.steady_state import JobPlan, SteadyStatePolicy

__all__ = [
    "Budget",
    "Job",
    "JobPlan",
    "Journal",
    "Node",
    "Operator",
    "Parent",
    "Population",
    "SteadyStatePolicy",
    "rank_probabilities",
    "rank_select",
    "ranks",
]
