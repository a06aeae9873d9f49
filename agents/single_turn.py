"""The static single-turn operator: the ablation "no subagents" (`agent.operator=single_turn`), as in
aira-dojo and AIRA_2's ablation.

One policy call, without tools, returns a complete solution.py (the reply's last ```python block);
the worker runs it once in the sandbox under the exec timeout. If the run fails (an exit status other
than 0, a timeout, a reply without code) or writes no submission.csv, a debug call (`prompts.debug`)
gets the code and its output and returns a fixed script, up to `agent.max_debug_rounds` times. Then
the submission.csv of the last run is submitted if it exists. Each call is a conversation of its own
(system prompt and one task message); the trajectory records every message and one step per call
(the reply, the run, its output), like a ReAct episode's.
"""

import asyncio
import re
import time

import openai

from agents.candidate import Step, Trajectory
from agents.config import AgentConfig
from agents.prompt import ParentCode, render_debug_message, render_single_turn_system, render_user_message
from agents.react import (
    EPISODE_TOKENS_REASON,
    MAX_ERROR_CHARS,
    ChatPolicy,
    EpisodeOutcome,
    PolicyStop,
    count_tokens,
    episode_end,
    job_facts,
)
from agents.task_card import TaskCard
from agents.tools import format_exec, over_cap
from sandbox.base import Sandbox

SOLUTION = "solution.py"
SUBMISSION = "submission.csv"
# A stale submission of an earlier round must not pass for this run's.
RUN_COMMAND = f"rm -f {SUBMISSION} && exec python {SOLUTION}"
NO_CODE = "the reply holds no ```python block with solution.py: reply with the complete script in one"
_CODE_BLOCK = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.DOTALL)
_VALIDATION_LINE = re.compile(r"^validation_score:\s*(\S+)\s*$", re.MULTILINE)


def extract_code(reply: str) -> str | None:
    """The script in a reply: its last fenced code block, None when it has none."""
    blocks = _CODE_BLOCK.findall(reply)
    return blocks[-1] if blocks else None


def reported_score(output: str) -> float | None:
    """The last `validation_score: <number>` line a run printed, None when there is none (or it is
    not a number)."""
    for value in reversed(_VALIDATION_LINE.findall(output)):
        try:
            return float(value)
        except ValueError:
            continue
    return None


async def run_single_turn(
    client: ChatPolicy,
    model: str,
    sandbox: Sandbox,
    card: TaskCard,
    operator: str,
    parents: list[ParentCode],
    seed: int,
    deadline: float,
    agent: AgentConfig,
    exec_timeout_s: float,
    self_report: bool = False,
) -> EpisodeOutcome:
    """Run the single-turn operator for one job: a script, its run, debug rounds; see the module.
    `self_report` (hce.enabled=false): the validation score is the last run's `validation_score:`
    line. Raises ValueError only for a caller's mistake: an operator with the wrong number of parents.
    """
    ends_at, end_reason = episode_end(deadline, agent)
    prompts = agent.prompts
    rules = render_single_turn_system(prompts, card, exec_timeout_s, agent.max_debug_rounds, self_report)
    system = {"role": "system", "content": rules}
    task = render_user_message(prompts, card, operator, parents, agent.parent_code_chars)
    trajectory = Trajectory(messages=[system, {"role": "user", "content": task}])
    facts = job_facts(card, operator, parents, "single_turn", self_report)
    code, output, printed = "", "", ""
    for round_ in range(agent.max_debug_rounds + 1):
        if round_ > 0:
            task = render_debug_message(prompts, card, code, output)
            trajectory.messages.append({"role": "user", "content": task})
        remaining = ends_at - time.time()
        if remaining <= 0:
            return _end(trajectory, end_reason)
        used = trajectory.prompt_tokens + trajectory.completion_tokens
        if agent.max_episode_tokens is not None and used >= agent.max_episode_tokens:
            return _end(trajectory, EPISODE_TOKENS_REASON)
        request = [system, {"role": "user", "content": task}]
        try:
            completion = await asyncio.wait_for(
                client.complete(model, request, [], seed, facts | {"turn": round_}), timeout=remaining
            )
        except TimeoutError:
            return _end(trajectory, end_reason)
        except PolicyStop as e:
            return _end(trajectory, str(e))
        except openai.OpenAIError as e:
            output = f"policy request failed: {type(e).__name__}: {str(e)[:MAX_ERROR_CHARS]}"
            trajectory.steps.append(Step(index=round_, error=output))
            continue
        count_tokens(trajectory, completion)
        reply = (completion.choices[0].message.content or "") if completion.choices else ""
        trajectory.messages.append({"role": "assistant", "content": reply})
        found = extract_code(reply)
        if found is None:
            output = NO_CODE
            trajectory.steps.append(Step(index=round_, reasoning=reply, error=NO_CODE))
            continue
        code = found
        step, printed = await _run_once(
            sandbox, code, ends_at, exec_timeout_s, agent.observation_chars, agent.max_submission_mb << 20
        )
        trajectory.steps.append(step.model_copy(update={"index": round_, "reasoning": reply}))
        output = step.observation
        if step.error is None:
            break
    try:
        submission = await sandbox.read_file(SUBMISSION, agent.max_submission_mb << 20)
    except (OSError, ValueError):
        why = trajectory.steps[-1].error if trajectory.steps else "no reply"
        return _end(trajectory, f"single-turn operator: no {SUBMISSION} after {round_} debug round(s): {why}")
    score = reported_score(printed) if self_report else None
    return EpisodeOutcome(code, submission, trajectory, None, score)


async def _run_once(
    sandbox: Sandbox,
    code: str,
    ends_at: float,
    exec_timeout_s: float,
    observation_chars: int,
    max_submission_bytes: int,
) -> tuple[Step, str]:
    """Write solution.py and run it once: its step (an error unless it exited 0 and wrote a
    submission of at most `max_submission_bytes`) and everything it printed."""
    await sandbox.write_file(SOLUTION, code)
    timeout = max(1.0, min(exec_timeout_s, ends_at - time.time()))
    started = time.monotonic()
    result = await sandbox.exec(["bash", "-c", RUN_COMMAND], timeout)
    observation = format_exec(result, observation_chars)
    error = None
    if result.exit_code != 0 or result.timed_out:
        how = "timed out" if result.timed_out else f"exit {result.exit_code}"
        error = f"python {SOLUTION} failed ({how})"
    else:
        try:
            await sandbox.read_file(SUBMISSION, max_submission_bytes)
        except ValueError as e:  # refused: a link, a FIFO, over agent.max_submission_mb ...
            error = f"python {SOLUTION} wrote a {SUBMISSION} that cannot be handed in"
            cap = f"; at most {max_submission_bytes >> 20} MiB (agent.max_submission_mb)"
            why = f"{e}{cap}" if over_cap(e) else str(e)
            observation += f"\n({SUBMISSION} cannot be handed in: {why})"
        except OSError:
            error = f"python {SOLUTION} wrote no {SUBMISSION}"
            observation += f"\n(no {SUBMISSION} was written)"
    step = Step(
        index=0,
        tool="bash",
        arguments={"command": f"python {SOLUTION}"},
        observation=observation,
        duration_s=time.monotonic() - started,
        error=error,
    )
    return step, result.output


def _end(trajectory: Trajectory, reason: str) -> EpisodeOutcome:
    return EpisodeOutcome("", None, trajectory, reason)
