"""The search's durable side: the population rebuilt from the journal, the state file, new jobs, records."""

import functools
import random

from search.best_of_k import IndependentDrafts
from search.config import SearchConfig
from search.job import Job, Parent
from search.journal import Journal
from search.node import Node
from search.population import Population
from search.run_dir import RunDir
from search.search_state import (
    RunningJob,
    SearchState,
    load_state,
    save_state,
    state_text,
    write_state_text,
)
from search.steady_state import SteadyStatePolicy

PARENT_CODE_CACHE = 256  # nodes whose code is kept in memory for the next jobs' parents


class Evolution:
    """Steady-state evolution over one run directory.

    Built from the journal (every finished node) and search_state.json (next id, time used, running
    jobs). `session` names who runs the search (under Ray: the coordinator actor's id, which a
    restarted actor keeps). The same session again means the coordinator died and came back: it
    keeps the session's deadline and counts the restart. Another session is a resume: a new deadline
    from the time already used.
    """

    def __init__(
        self, run_dir: RunDir, config: SearchConfig, seed: int, lower_is_better: bool, session: str
    ) -> None:
        self.run_dir = run_dir
        # A node's code never changes once written, and rank selection draws the same top nodes again
        # and again: their code is read from disk once, not at every dispatch.
        self._parent_code = functools.lru_cache(maxsize=PARENT_CODE_CACHE)(run_dir.solution_code)
        self.config = config
        self.seed = seed
        self.journal = Journal(run_dir.journal)
        self.population = Population(lower_is_better)
        for node in self.journal.load():
            self.population.add(node)
        self.state: SearchState = load_state(run_dir.state)
        # Ids stay unique even if the state file was lost: never below the journal's highest id.
        self.state.next_id = max(self.state.next_id, max(self.population.nodes, default=0) + 1)
        self.restarted = self.state.session == session
        self.state.session = session
        if self.restarted:
            self.state.restarts += 1
        else:
            self.state.deadline = None
        # Jobs that were running when the last coordinator died, minus those it journaled.
        self.orphans: list[RunningJob] = [
            r for i, r in sorted(self.state.running.items()) if i not in self.population.nodes
        ]
        self.state.running = {r.job.node_id: r for r in self.orphans}
        self._running_json = {i: r.model_dump_json() for i, r in self.state.running.items()}
        save_state(run_dir.state, self.state)
        # A resumed run continues the random stream past the nodes it already made.
        self.policy: SteadyStatePolicy | IndependentDrafts = (
            IndependentDrafts()
            if config.strategy == "best_of_k"
            else SteadyStatePolicy(
                config.temperature,
                config.crossover_prob,
                config.num_drafts,
                random.Random(f"{seed}:{len(self.population)}"),
            )
        )

    def begin(self, now: float) -> float:
        """This session's deadline (unix time): kept across restarts, else now plus the time left."""
        if self.state.deadline is None:
            self.state.deadline = now + self.config.budget.wall_clock_s - self.state.elapsed_s
            save_state(self.run_dir.state, self.state)
        return self.state.deadline

    def elapsed(self, now: float) -> float:
        """Search time used, this session and the ones before."""
        if self.state.deadline is None:
            return self.state.elapsed_s
        return now - (self.state.deadline - self.config.budget.wall_clock_s)

    def new_job(self, deadline: float) -> Job:
        """The next job of a free worker: a draft, a mutation or a crossover, with a fresh node id."""
        plan = self.policy.next_job(self.population)
        node_id = self.state.next_id
        self.state.next_id += 1
        parents = [
            Parent(
                node_id=p.id,
                code=self._parent_code(p.id),
                search_score=p.search_score or 0.0,
                search_se=p.search_se,
            )
            for p in plan.parents
        ]
        return Job(
            node_id=node_id,
            operator=plan.operator,
            parents=parents,
            seed=random.Random(f"{self.seed}:{node_id}").randrange(2**31),
            deadline=deadline,
        )

    def started(self, job: Job, worker_id: int, now: float) -> None:
        """Note a dispatch in the state file before the job runs (a re-dispatch counts its attempt)."""
        write_state_text(self.run_dir.state, self.note_started(job, worker_id, now))

    def note_started(self, job: Job, worker_id: int, now: float) -> str:
        """Note a dispatch in memory; return the state file's new text, for the caller to write."""
        before = self.state.running.get(job.node_id)
        attempt = before.attempt + 1 if before else 1
        running = RunningJob(job=job, worker_id=worker_id, attempt=attempt)
        self.state.running[job.node_id] = running
        self._running_json[job.node_id] = running.model_dump_json()
        self.state.elapsed_s = self.elapsed(now)
        return state_text(self.state, self._running_json)

    def write(self, node: Node, code: str, submission: bytes | None, trajectory: dict[str, object]) -> None:
        """Write the node's folder, then journal it: from then on it is never lost or re-run.

        Touches only files, so a caller may run it in a thread; `add` must follow in the caller's.
        """
        self.run_dir.write_node(node, code, submission, trajectory)
        self.journal.append(node)

    def add(self, node: Node) -> None:
        """Add a journaled node to the population; its job is no longer running.

        The state file is not rewritten for it: the journal already says the job is done, and the
        next dispatch (or `save`) writes the shorter list of running jobs.
        """
        self.population.add(node)
        self.state.running.pop(node.id, None)
        self._running_json.pop(node.id, None)

    def save(self, now: float) -> None:
        """Write the state file now (the time used, for a later resume)."""
        self._save(now)

    def _save(self, now: float) -> None:
        self.state.elapsed_s = self.elapsed(now)
        save_state(self.run_dir.state, self.state)
