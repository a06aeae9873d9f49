"""The run's token and cost budget: one ledger actor that every worker's client reports usage to."""

from collections.abc import Callable

import ray

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


# Tokens of nodes that finished: node id -> (prompt, completion). The run passes a reader of its
# journal (search.journal.JournalUsage) that returns the nodes recorded since its last call.
FinishedUsage = Callable[[], dict[int, tuple[int, int]]]


class TokenLedger:
    """Tokens used by all of a run's agents, and whether the budget is spent.

    Counts two things: the finished nodes, read from the run's journal (`finished`, at start and
    before each answer), and the episodes still running, each reported by its worker as cumulative
    totals under an episode key (`report`). A node's episode stops counting as running once the
    node is in the journal, whose totals then stand for it. So a resumed run keeps its budget, and a
    ledger restarted after a crash knows every finished node at once and each running episode's
    whole usage with that episode's next report. What an attempt of a node used before the node was
    re-run (its worker died) is not counted once the node is journaled by its last attempt.
    """

    def __init__(self, budget: PolicyBudgetConfig, finished: FinishedUsage | None = None) -> None:
        self.budget = budget
        self.finished = finished
        self.journaled: set[int] = set()  # ids of the nodes counted from the journal
        self.journaled_total = [0, 0]
        self.running: dict[str, tuple[int, int, int]] = {}  # episode key -> node id, prompt, completion
        self.loose = [0, 0]  # usage reported without an episode (a client outside a run's workers)
        self._read_finished()

    def _read_finished(self) -> None:
        if self.finished is None:
            return
        fresh = {i: u for i, u in self.finished().items() if i not in self.journaled}
        if not fresh:
            return
        for node_id, (prompt, completion) in fresh.items():
            self.journaled.add(node_id)
            self.journaled_total[0] += prompt
            self.journaled_total[1] += completion
        self.running = {k: v for k, v in self.running.items() if v[0] not in fresh}

    def add(self, prompt_tokens: int, completion_tokens: int) -> str | None:
        """Count one completion's usage outside an episode; return why the budget is spent, if it is."""
        self.loose[0] += prompt_tokens
        self.loose[1] += completion_tokens
        return self.exhausted()

    def report(self, episode: str, node_id: int, prompt_tokens: int, completion_tokens: int) -> str | None:
        """An episode's usage so far (cumulative, so a report lost to a restart costs nothing); return
        why the budget is spent, if it now is. A report older than one already counted is ignored."""
        if node_id not in self.journaled:  # a node journaled since is dropped by the read in totals()
            seen = self.running.get(episode)
            if seen is None or prompt_tokens + completion_tokens >= seen[1] + seen[2]:
                self.running[episode] = (node_id, prompt_tokens, completion_tokens)
        return self.exhausted()

    def exhausted(self) -> str | None:
        """Why the budget is spent, or None while requests may go on."""
        return budget_spent(self.budget, *self.totals())

    def totals(self) -> tuple[int, int]:
        """Prompt and completion tokens counted so far."""
        self._read_finished()
        prompt = self.journaled_total[0] + self.loose[0] + sum(r[1] for r in self.running.values())
        completion = self.journaled_total[1] + self.loose[1] + sum(r[2] for r in self.running.values())
        return prompt, completion


# Restarted after a crash, rebuilt from the journal and the next reports; the workers' calls wait for it
# and are retried.
TokenLedgerActor = ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)(TokenLedger)
