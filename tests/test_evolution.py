"""Evolution: what a restarted or resumed coordinator rebuilds from the journal and search_state.json."""

import json
from pathlib import Path

from search.config import BudgetConfig, SearchConfig
from search.evolution import Evolution
from search.journal import JournalUsage
from search.node import Node
from search.run_dir import RunDir
from search.search_state import load_state
from serving.budget import TokenLedger
from serving.config import PolicyBudgetConfig

CONFIG = SearchConfig(
    num_workers=2,
    temperature=0.2,
    crossover_prob=0.15,
    num_drafts=1,
    budget=BudgetConfig(wall_clock_s=100, max_nodes=10),
)


def finish(evo: Evolution, node_id: int, now: float, tokens: int = 0) -> Node:
    node = Node(
        id=node_id,
        operator="draft",
        valid=True,
        search_score=node_id / 10,
        worker_id=0,
        started_at=now,
        ended_at=now,
        scored_at=now,
        prompt_tokens=tokens,
        completion_tokens=1,
    )
    evo.write(node, f"print({node_id})", b"id,y\n1,0\n", {"steps": []})
    evo.add(node)
    evo.save(now)
    return node


def test_a_restart_rebuilds_the_population_keeps_the_deadline_and_reruns_lost_jobs_once(
    tmp_path: Path,
) -> None:
    rd = RunDir(tmp_path)
    evo = Evolution(rd, CONFIG, 0, False, session="actor-1")
    assert not evo.restarted
    deadline = evo.begin(1000.0)
    assert deadline == 1100.0
    jobs = [evo.new_job(deadline) for _ in range(3)]
    for i, job in enumerate(jobs):
        evo.started(job, i % 2, 1001.0)
    finish(evo, jobs[0].node_id, 1002.0)

    again = Evolution(rd, CONFIG, 0, False, session="actor-1")  # the same actor, a new process
    assert again.restarted and again.state.restarts == 1
    assert list(again.population.nodes) == [1]
    assert again.begin(1050.0) == 1100.0, "a restart keeps the session's deadline"
    assert [(r.job.node_id, r.attempt, r.worker_id) for r in again.orphans] == [(2, 1, 1), (3, 1, 0)]
    assert again.new_job(1100.0).node_id == 4, "node ids stay unique"
    again.started(again.orphans[0].job, 0, 1051.0)
    assert again.state.running[2].attempt == 2

    third = Evolution(rd, CONFIG, 0, False, session="actor-1")
    assert third.state.restarts == 2
    by_id = {r.job.node_id: r.attempt for r in third.orphans}
    assert by_id == {2: 2, 3: 1}, "job 2 was re-run once already; job 3 not yet"
    assert third.new_job(1100.0).node_id == 5


def test_a_resume_starts_a_new_deadline_from_the_time_used(tmp_path: Path) -> None:
    rd = RunDir(tmp_path)
    evo = Evolution(rd, CONFIG, 0, False, session="run-1")
    evo.begin(1000.0)
    finish(evo, evo.new_job(1100.0).node_id, 1030.0)
    assert json.loads(rd.state.read_text())["elapsed_s"] == 30.0

    resumed = Evolution(rd, CONFIG, 0, False, session="run-2")
    assert not resumed.restarted and resumed.state.restarts == 0
    assert resumed.begin(5000.0) == 5070.0, "70 s of the 100 s budget are left"
    assert resumed.elapsed(5010.0) == 40.0


def test_an_unreadable_state_file_falls_back_to_the_journal(tmp_path: Path) -> None:
    rd = RunDir(tmp_path)
    evo = Evolution(rd, CONFIG, 0, False, session="a")
    evo.begin(0.0)
    for i in (1, 2):
        finish(evo, evo.new_job(100.0).node_id, float(i))
    rd.state.write_text('{"next_id": ')
    assert load_state(rd.state).next_id == 1
    again = Evolution(rd, CONFIG, 0, False, session="a")
    assert again.new_job(100.0).node_id == 3, "ids continue past the journal's"


def test_the_token_ledger_counts_from_the_journal(tmp_path: Path) -> None:
    rd = RunDir(tmp_path)
    evo = Evolution(rd, CONFIG, 0, False, session="a")
    evo.begin(0.0)
    for i, tokens in ((1, 40), (2, 50)):
        finish(evo, evo.new_job(100.0).node_id, float(i), tokens=tokens)
    ledger = TokenLedger(PolicyBudgetConfig(max_tokens=100), JournalUsage(rd.journal))
    assert ledger.totals() == (90, 2)
    assert ledger.add(5, 2) is None and ledger.add(0, 1) is not None
    assert TokenLedger(PolicyBudgetConfig(), JournalUsage(tmp_path / "none.jsonl")).totals() == (0, 0)


def test_a_restarted_ledger_counts_every_running_episode_whole(tmp_path: Path) -> None:
    """Killed mid-run: the new ledger knows the finished nodes from the journal at once, and each
    running episode's whole usage from its next cumulative report; a node stops counting as running
    when the journal has it, so nothing is counted twice."""
    rd = RunDir(tmp_path)
    evo = Evolution(rd, CONFIG, 0, False, session="a")
    evo.begin(0.0)
    finish(evo, evo.new_job(100.0).node_id, 1.0, tokens=40)  # node 1: 40 prompt + 1 completion
    running = evo.new_job(100.0).node_id
    budget = PolicyBudgetConfig()
    first = TokenLedger(budget, JournalUsage(rd.journal))
    assert first.report("w0-a", running, 30, 3) is None and first.report("w0-a", running, 70, 7) is None
    assert first.totals() == (40 + 70, 1 + 7)

    again = TokenLedger(budget, JournalUsage(rd.journal))  # the restart: the running episode is unknown
    assert again.totals() == (40, 1)
    again.report("w0-a", running, 90, 9)  # its next report carries everything it used
    again.report("w0-a", running, 70, 7)  # a late, older report changes nothing
    assert again.totals() == (40 + 90, 1 + 9)
    finish(evo, running, 2.0, tokens=95)  # the node is journaled: the journal stands for the episode
    assert again.totals() == (40 + 95, 1 + 1)
    again.report("w0-a", running, 95, 1)  # a report after the node was journaled adds nothing
    assert again.totals() == (135, 2)


def test_the_journal_reader_leaves_a_line_still_being_written(tmp_path: Path) -> None:
    rd = RunDir(tmp_path)
    evo = Evolution(rd, CONFIG, 0, False, session="a")
    evo.begin(0.0)
    finish(evo, evo.new_job(100.0).node_id, 1.0, tokens=40)
    usage = JournalUsage(rd.journal)
    line = rd.journal.read_text()
    with rd.journal.open("a") as f:
        f.write(line.replace('"id":1', '"id":2')[:50])  # half a line, no newline yet
    assert usage() == {1: (40, 1)}
    with rd.journal.open("a") as f:
        f.write(line.replace('"id":1', '"id":2')[50:])
    assert usage() == {2: (40, 1)} and usage() == {}


def test_state_writes_are_shared_and_a_full_disk_reaches_every_waiter(tmp_path: Path) -> None:
    import asyncio
    import errno
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from search.search_state import StateWriter

    gate = threading.Event()
    writes: list[str] = []

    class SlowDisk(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            def slow():
                gate.wait(5)
                writes.append(args[1])
                if args[1] == "full":
                    raise OSError(errno.ENOSPC, "No space left on device")
                return fn(*args, **kwargs)

            return super().submit(slow)

    async def main() -> None:
        writer = StateWriter(tmp_path / "state.json", SlowDisk(max_workers=1))
        first = asyncio.ensure_future(writer.write('{"a": 1}'))
        await asyncio.sleep(0.05)
        rest = [asyncio.ensure_future(writer.write(f'{{"a": {i}}}')) for i in range(2, 6)]
        await asyncio.sleep(0.05)
        gate.set()
        await asyncio.gather(first, *rest)
        assert writes == ['{"a": 1}', '{"a": 5}'], "four dispatches shared one write of the newest state"
        assert (tmp_path / "state.json").read_text() == '{"a": 5}'
        failing = [asyncio.ensure_future(writer.write("full")) for _ in range(3)]
        results = await asyncio.gather(*failing, return_exceptions=True)
        assert all(isinstance(r, OSError) and r.errno == errno.ENOSPC for r in results)

    asyncio.run(main())


def test_a_parent_carries_its_exact_score_and_standard_error_from_the_journal(tmp_path: Path) -> None:
    """The search ranks by exact scores; the standard error travels with the parent so that the worker
    can round the score for the agent (agents/prompt.py), also after a restart."""
    rd = RunDir(tmp_path)
    evo = Evolution(rd, CONFIG, 0, False, session="a")
    deadline = evo.begin(1000.0)
    job = evo.new_job(deadline)
    node = Node(
        id=job.node_id,
        operator="draft",
        valid=True,
        search_score=0.83412,
        search_se=0.0137,
        worker_id=0,
        started_at=1001.0,
        ended_at=1002.0,
        scored_at=1002.0,
    )
    evo.write(node, "print(1)", b"id,y\n1,0\n", {"steps": []})
    evo.add(node)
    again = Evolution(rd, CONFIG, 0, False, session="b")  # from the journal
    for e in (evo, again):
        child = e.new_job(deadline)
        assert [(p.search_score, p.search_se) for p in child.parents] == [(0.83412, 0.0137)]


def test_best_of_k_makes_every_job_an_independent_draft(tmp_path: Path) -> None:
    """search.strategy=best_of_k (the ablation "no evolution"): no parent, no crossover, ever."""
    evolving = Evolution(RunDir(tmp_path / "evo"), CONFIG, 0, False, session="a")
    drafts = Evolution(
        RunDir(tmp_path / "bok"), CONFIG.model_copy(update={"strategy": "best_of_k"}), 0, False, session="a"
    )
    for evo in (evolving, drafts):
        deadline = evo.begin(1000.0)
        for _ in range(30):
            job = evo.new_job(deadline)
            evo.started(job, 0, 1001.0)
            node = Node(
                id=job.node_id,
                operator=job.operator,
                parent_ids=[p.node_id for p in job.parents],
                valid=True,
                search_score=job.node_id / 100,
                worker_id=0,
                started_at=1001.0,
                ended_at=1002.0,
                scored_at=1002.0,
            )
            evo.write(node, "print(1)", b"id,y\n1,0\n", {"steps": []})
            evo.add(node)
    kinds = {n.operator for n in evolving.population.nodes.values()}
    assert kinds - {"draft"}, "evolution mutates and crosses once num_drafts valid nodes exist"
    assert {n.operator for n in drafts.population.nodes.values()} == {"draft"}
    assert all(not n.parent_ids for n in drafts.population.nodes.values())
    seeds = {drafts.new_job(2000.0).seed for _ in range(5)}
    assert len(seeds) == 5, "each draft has a seed of its own"
