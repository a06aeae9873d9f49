"""The ablation "no evolution" (`search.strategy=best_of_k`): K independent drafts.

Every job is a draft: no parent, no mutation, no crossover. The workers stay as busy as under
evolution (a free worker gets the next draft at once); the final pick is by D_val as usual.
"""

from search.population import Population
from search.steady_state import JobPlan


class IndependentDrafts:
    """Answers every free worker with a fresh draft, whatever the population holds."""

    def next_job(self, population: Population) -> JobPlan:
        return JobPlan("draft", [])
