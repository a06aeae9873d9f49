"""The run's token and cost budget: one ledger actor that every worker's client reports usage to."""

from pathlib import Path

import ray

from search.journal import Journal
from serving.config import PolicyBudgetConfig


def budget_spent(budget: PolicyBudgetConfig, prompt_tokens: int, completion_tokens: int) -> str | None:
    """Why the budget is spent after these totals, or None while it is not."""
    total = prompt_tokens + completion_tokens
    if budget.max_tokens is not None and total >= budget.max_tokens:
        return f"token budget reached: {total} of policy.budget.max_tokens={budget.max_tokens} tokens used"
    if budget.max_cost_usd is not None:
        cost = cost_usd(budget, prompt_tokens, completion_tokens)
        if cost is not None and cost >= budget.max_cost_usd:
            return f"cost budget reached: ${cost:.4f} of policy.budget.max_cost_usd={budget.max_cost_usd}"
    return None


def cost_usd(budget: PolicyBudgetConfig, prompt_tokens: int, completion_tokens: int) -> float | None:
    """The cost of these tokens at the configured prices, None when no prices are set."""
    p, c = budget.usd_per_million_prompt_tokens, budget.usd_per_million_completion_tokens
    if p is None or c is None:
        return None
    return (prompt_tokens * p + completion_tokens * c) / 1e6


class TokenLedger:
    """Tokens used by all of a run's agents, and whether the budget is spent.

    Starts from the totals of the nodes in the run's journal (none without one), so a resumed run
    keeps its budget and a restarted ledger counts on from the nodes finished so far. What running
    episodes used since the last journaled node is not in the journal: a restart forgets that much.
    """

    def __init__(self, budget: PolicyBudgetConfig, journal: str | Path | None = None) -> None:
        self.budget = budget
        done = Journal(Path(journal)).load() if journal is not None else []
        self.prompt_tokens = sum(n.prompt_tokens for n in done)
        self.completion_tokens = sum(n.completion_tokens for n in done)

    def add(self, prompt_tokens: int, completion_tokens: int) -> str | None:
        """Count one completion's usage; return why the budget is spent, if it now is."""
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens
        return self.exhausted()

    def exhausted(self) -> str | None:
        """Why the budget is spent, or None while requests may go on."""
        return budget_spent(self.budget, self.prompt_tokens, self.completion_tokens)

    def totals(self) -> tuple[int, int]:
        """Prompt and completion tokens counted so far."""
        return self.prompt_tokens, self.completion_tokens


# Restarted after a crash, rebuilt from the journal; the workers' calls wait for it and are retried.
TokenLedgerActor = ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)(TokenLedger)
