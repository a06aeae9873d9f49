"""What a finished search gives: result.json's RunResult, with the refit of its final pick."""

import logging
import time

import ray

from actors.coordinator import SearchOutcome
from evaluation.leaderboard import Leaderboard
from evaluation.refit import RefitResult
from evaluation.selection import SplitCheck
from evaluation.self_reported import SELF_REPORTED
from evaluation.task import Task
from launcher.config import RunConfig
from launcher.result import RunResult
from launcher.run_actors import RunActors, sandbox_settings
from sandbox import data_dir_seen_by_agent
from search.journal import Journal
from search.run_dir import RunDir
from serving.budget import cost_usd

log = logging.getLogger(__name__)


def refit(cfg: RunConfig, actors: RunActors, rd: RunDir, outcome: SearchOutcome) -> RefitResult | None:
    """`hce.refit_final`: the final node's code once more on every labelled row (evaluation/refit.py),
    run by the evaluator after the search; None when it is off or there is no final node."""
    if not cfg.hce.refit_final or outcome.final is None:
        return None
    box = sandbox_settings(cfg)
    node_id = outcome.final.node_id
    agent_data_dir = data_dir_seen_by_agent(box, rd.public_dir)
    call = actors.evaluator.refit.remote(
        node_id, rd.solution_code(node_id), agent_data_dir, box, box.exec_timeout_s
    )
    try:
        result: RefitResult = ray.get(call)
    except ray.exceptions.RayError as e:  # the search's answer is not lost to a failed refit
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        result = RefitResult(node_id=node_id, valid=False, reason=f"the refit could not run: {first}")
    if not result.valid:
        log.warning("the refit of node %d failed, the unrefit answer stands: %s", node_id, result.reason)
    return result


def record_hce_noise(result: RunResult, check: SplitCheck | None, refitted: RefitResult | None) -> None:
    """Put the split-size check and the refit's outcome into the result."""
    if check is not None:
        result.split_check = check.model_dump()
        result.split_warning = check.warning
    if refitted is not None:
        result.refit_test_score = refitted.test
        result.refit_test_score_se = refitted.test_se
        result.refit_error = refitted.reason


def build_result(
    cfg: RunConfig, task: Task, rd: RunDir, outcome: SearchOutcome, started_at: float
) -> RunResult:
    final = outcome.final
    nodes = {n.id: n for n in Journal(rd.journal).load()}
    board = Leaderboard.from_csv(task.leaderboard_csv, task.lower_is_better) if task.leaderboard_csv else None
    test = final.scores.test if final else None
    hours = max(outcome.wall_s, 1e-9) / 3600
    return RunResult(
        task=task.spec.name,
        seed=cfg.seed,
        best_node=final.node_id if final else None,
        search_score=final.scores.search if final else None,
        val_score=final.scores.val if final else None,
        test_score=test,
        search_score_se=final.scores.search_se if final else None,
        val_score_se=final.scores.val_se if final else None,
        test_score_se=final.scores.test_se if final else None,
        final_selection=(
            final.rule if final else cfg.hce.final_selection if cfg.hce.enabled else SELF_REPORTED
        ),
        percentile_rank=board.percentile_rank(test) if board else None,
        medal=board.medal(test) if board and test is not None else None,
        above_median=board.above_median(test) if board and test is not None else None,
        leaderboard_kind=task.spec.leaderboard_kind if board else None,
        nodes=outcome.nodes,
        valid_nodes=outcome.valid_nodes,
        best_search_node=outcome.best_search_node,
        workers=cfg.search.num_workers,
        jobs_per_worker={
            w: sum(n.worker_id == w for n in nodes.values()) for w in range(cfg.search.num_workers)
        },
        wall_s=outcome.wall_s,
        experiments_per_hour=outcome.nodes / hours,
        policy=cfg.policy.name,
        prompt_tokens=sum(n.prompt_tokens for n in nodes.values()),
        completion_tokens=sum(n.completion_tokens for n in nodes.values()),
        cost_usd=cost_usd(
            cfg.policy.budget,
            sum(n.prompt_tokens for n in nodes.values()),
            sum(n.completion_tokens for n in nodes.values()),
        ),
        budget_stop=outcome.budget_stop,
        disk_full=outcome.disk_full,
        restarts=outcome.restarts,
        run_dir=str(rd.root),
        started_at=started_at,
        ended_at=time.time(),
    )
