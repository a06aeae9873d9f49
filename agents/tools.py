"""The tools the agent sees: their OpenAI function schemas and the executors that run them in a sandbox."""

import copy
import io
import re
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from agents._arguments import ToolError, check_arguments, parse_arguments, signature
from agents.trim import trim_middle
from sandbox.base import ExecResult, Sandbox
from sandbox.safe_files import FileTooLargeError

# Matches the first line of every command observation; the baseline policy reads it back.
EXIT_STATUS_RE = re.compile(r"^\[exit (-?\d+)")
# The names competitions give their sample submission (the first one present is checked against).
SAMPLE_SUBMISSIONS = ("sample_submission.csv", "sampleSubmission.csv", "sample_submission_null.csv")


# The defaults of agent.max_record_mb and agent.max_submission_mb, in bytes.
MAX_RECORD_BYTES = 10 << 20
MAX_SUBMISSION_BYTES = 1 << 30


class ToolLimits(NamedTuple):
    """The limits of one tool call: its wall time and the length of its observation; and the task's id
    column, which validate_submission checks the ids by (None: the sample submission's first column),
    with the columns that key a row together with it where ids repeat (uw-madison: class), and whether
    the metric takes an empty cell as an answer (an empty mask). `max_record_bytes` caps the code that
    submit records, `max_submission_bytes` the predictions file it hands in (and validate checks)."""

    timeout_s: float
    observation_chars: int
    id_column: str | None = None
    key_columns: tuple[str, ...] = ()
    accepts_empty: bool = False
    max_record_bytes: int = MAX_RECORD_BYTES
    max_submission_bytes: int = MAX_SUBMISSION_BYTES


class Submission(NamedTuple):
    """What `submit` hands in: the predictions file, the code that made it and, with HCE off, the
    agent's own validation score."""

    code: str
    submission: bytes
    validation_score: float | None = None


class ToolResult(NamedTuple):
    """The observation the agent sees; `error` is set when the call itself was wrong or failed."""

    observation: str
    error: str | None = None
    submitted: Submission | None = None


class Tool(NamedTuple):
    """A tool: its name, its OpenAI function-tool schema and its executor."""

    name: str
    schema: dict[str, Any]
    run: Callable[[Sandbox, dict[str, Any], ToolLimits], Awaitable[ToolResult]]


def error_result(message: str) -> ToolResult:
    """An observation that tells the agent what went wrong with its call."""
    return ToolResult(f"error: {message}", error=message)


def format_exec(result: ExecResult, observation_chars: int) -> str:
    """`[exit 0, 1.23 s]` then the output, trimmed to head and tail so the whole fits the limit."""
    status = f"exit {result.exit_code}" + (", timed out" if result.timed_out else "")
    header = f"[{status}, {result.duration_s:.2f} s]"
    output = result.output if result.output.strip() else "(no output)"
    return f"{header}\n{trim_middle(output, observation_chars - len(header) - 1)}"


def observation_with_limits(observation: str, steps_left: int, seconds_left: float) -> str:
    """The observation as the agent sees it: with the steps and the time it has left."""
    return f"{observation}\n[{max(0, steps_left)} steps left, {max(0.0, seconds_left):.0f} s left]"


def _mib(n: int) -> str:
    return f"{n / (1 << 20):g} MiB"


def over_cap(error: ValueError) -> bool:
    """Whether the sandbox refused a read for its size alone (sandbox/safe_files.py)."""
    return isinstance(error, FileTooLargeError)


def _submission_refused(path: str, error: ValueError, cap: int) -> ToolResult:
    if over_cap(error):
        return error_result(
            f"{path} is larger than the {_mib(cap)} a submission may have (agent.max_submission_mb): {error}"
        )
    return error_result(f"cannot read {path}: {error}")


async def _bash(sandbox: Sandbox, args: dict[str, Any], limits: ToolLimits) -> ToolResult:
    result = await sandbox.run_shell(args["command"], limits.timeout_s)
    return ToolResult(format_exec(result, limits.observation_chars))


async def _python(sandbox: Sandbox, args: dict[str, Any], limits: ToolLimits) -> ToolResult:
    result = await sandbox.run_python(args["code"], limits.timeout_s)
    return ToolResult(format_exec(result, limits.observation_chars))


async def _validate_submission(sandbox: Sandbox, args: dict[str, Any], limits: ToolLimits) -> ToolResult:
    """Format only (columns, ids, missing values) against the sample submission: never a score."""
    path = args["submission_path"]
    try:
        data = await sandbox.read_file(path, limits.max_submission_bytes)
    except FileNotFoundError:
        return error_result(f"{path} does not exist in the working directory: write your predictions first")
    except ValueError as e:
        return _submission_refused(path, e, limits.max_submission_bytes)
    except OSError as e:
        return error_result(f"cannot read {path}: {e}")
    # Imported here: `evaluation` pulls in scikit-learn and pandas (2.5 s), which a restarting worker
    # should not wait for.
    import pandas as pd

    from evaluation.submission import SubmissionError, read_submission, row_keys

    found = await _read_sample(sandbox)
    if isinstance(found, ToolResult):
        return found
    name, data_bytes = found
    try:
        text = pd.read_csv(io.BytesIO(data_bytes), dtype=str, keep_default_na=False)
        # The task's id column (insults keys its rows by the comment, its last column).
        named = limits.id_column
        id_column = named if named is not None and named in text.columns else str(text.columns[0])
        keys = [c for c in limits.key_columns if c in text.columns]
        sample = pd.read_csv(io.BytesIO(data_bytes), dtype=dict.fromkeys([id_column, *keys], str))
    except ValueError as e:
        return error_result(f"the task's {name} is not a readable CSV to check against: {e}")
    # Predicted columns: the others that the sample fills in every row (insults' Date, copied from the
    # test inputs, may be empty).
    targets = [str(c) for c in text.columns if c not in (id_column, *keys) and (text[c] != "").all()]
    expected = set(row_keys(sample, id_column, keys).tolist())
    try:
        table = read_submission(
            data, sample, id_column, targets, expected, accepts_empty=limits.accepts_empty, key_columns=keys
        )
    except SubmissionError as e:
        return ToolResult(f"{path} is not a valid submission: {e}")
    once = "every id once" if not keys else f"every ({', '.join([id_column, *keys])}) once"
    return ToolResult(
        f"{path} has the format of {name}: {len(table)} rows, columns "
        f"{', '.join(map(str, table.columns))}, {once}, no missing values. (Format only: no score.)"
    )


async def _read_sample(sandbox: Sandbox) -> tuple[str, bytes] | ToolResult:
    """The name and bytes of the task's sample submission (as its competition names it)."""
    for name in SAMPLE_SUBMISSIONS:
        try:
            return name, await sandbox.read_data(name)
        except FileNotFoundError:
            continue
        except OSError as e:
            return error_result(f"cannot read the task's {name} to check against: {e}")
    return error_result(
        f"the task has no sample submission ({', '.join(SAMPLE_SUBMISSIONS)}) to check against"
    )


async def _submit(sandbox: Sandbox, args: dict[str, Any], limits: ToolLimits) -> ToolResult:
    path, code_path = args["submission_path"], args["code_path"]
    try:
        submission = await sandbox.read_file(path, limits.max_submission_bytes)
    except FileNotFoundError:
        return error_result(
            f"{path} does not exist in the working directory: write your predictions to it first, "
            "then call submit again"
        )
    except ValueError as e:
        return _submission_refused(path, e, limits.max_submission_bytes)
    except OSError as e:
        return error_result(f"cannot read {path}: {e}")
    if not submission.strip():
        return error_result(f"{path} is empty: write a prediction for every test row, then call submit again")
    # The code is a record for the search (shown to later agents), not required to score the submission;
    # but one over its cap is refused, not dropped: the agent can still make it fit.
    try:
        code = (await sandbox.read_file(code_path, limits.max_record_bytes)).decode(errors="replace")
        kept = f" with the code in {code_path}"
    except FileNotFoundError:
        code, kept = "", f" ({code_path} not found: no code recorded)"
    except ValueError as e:
        if over_cap(e):
            return error_result(
                f"{code_path} is larger than the {_mib(limits.max_record_bytes)} kept of a solution's code "
                f"(agent.max_record_mb): {e}. Keep only the code in {code_path} (data, model weights and "
                "outputs go in other files), then call submit again"
            )
        code, kept = "", f" (no code recorded: cannot read {code_path}: {e})"
    except OSError as e:
        code, kept = "", f" (no code recorded: cannot read {code_path}: {e})"
    reported = args.get("validation_score")
    score = float(reported) if reported is not None else None
    said = f", validation score {score:g}" if score is not None else ""
    return ToolResult(
        f"submitted {path} ({len(submission)} bytes){kept}{said}",
        submitted=Submission(code, submission, score),
    )


def _function(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    parameters = {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": parameters},
    }


TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        Tool(
            "bash",
            _function(
                "bash",
                "Run a bash command in your shell. Returns the exit status, the duration and the output "
                "(stdout and stderr). The shell persists between calls: `cd`, variables and background jobs "
                "carry over. A command past the time limit is interrupted; the shell goes on.",
                {
                    "command": {
                        "type": "string",
                        "description": "the command, e.g. `ls -la` or `python train.py`",
                    }
                },
                ["command"],
            ),
            _bash,
        ),
        Tool(
            "python",
            _function(
                "python",
                "Run Python code in your persistent Jupyter kernel (cwd: the working directory) and return "
                "its exit status (1 on an exception), duration and output. Variables and imports persist "
                "between calls. A cell past the time limit is interrupted. Use print() to see values.",
                {"code": {"type": "string", "description": "the Python code of one cell"}},
                ["code"],
            ),
            _python,
        ),
        Tool(
            "validate_submission",
            _function(
                "validate_submission",
                "Check that a predictions file has the format of the task's sample_submission.csv: the same "
                "columns, every id exactly once, no missing values. Format only: it gives no score.",
                {
                    "submission_path": {
                        "type": "string",
                        "default": "submission.csv",
                        "description": "the predictions file",
                    }
                },
                [],
            ),
            _validate_submission,
        ),
        Tool(
            "submit",
            _function(
                "submit",
                "Hand in your solution and end the episode: the predictions file and the code that produced "
                "it, both in the working directory. Call it once the predictions file is written.",
                {
                    "submission_path": {
                        "type": "string",
                        "default": "submission.csv",
                        "description": "the predictions file",
                    },
                    "code_path": {
                        "type": "string",
                        "default": "solution.py",
                        "description": "the script that writes it",
                    },
                },
                [],
            ),
            _submit,
        ),
    )
}


def _self_reporting_submit() -> Tool:
    """`submit` with the agent's own validation score, for hce.enabled=false: the search ranks
    solutions by that score. Optional in the schema: a submission without it is kept and becomes an
    invalid node saying why."""
    schema = copy.deepcopy(TOOLS["submit"].schema)
    schema["function"]["parameters"]["properties"]["validation_score"] = {
        "type": "number",
        "description": "your solution's score on your own validation split of train.csv, in the task's "
        "metric: the search ranks solutions by it and picks the final answer by it",
    }
    return Tool("submit", schema, _submit)


# The tools when the agent reports its own validation score (hce.enabled=false).
SELF_REPORTING_TOOLS: dict[str, Tool] = TOOLS | {"submit": _self_reporting_submit()}


def tools_for(self_report: bool) -> dict[str, Tool]:
    """The agent's tools: with `self_report`, `submit` takes its validation score."""
    return SELF_REPORTING_TOOLS if self_report else TOOLS


def tool_schemas(self_report: bool = False) -> list[dict[str, Any]]:
    """The OpenAI `tools` list for chat.completions.create (a copy: callers may change it)."""
    return [copy.deepcopy(tool.schema) for tool in tools_for(self_report).values()]


async def call_tool(
    sandbox: Sandbox,
    name: str,
    arguments: str | dict[str, Any],
    limits: ToolLimits,
    self_report: bool = False,
) -> ToolResult:
    """Run one tool call; every mistake in it (unknown tool, bad JSON, wrong arguments) becomes an
    error observation for the agent instead of an exception."""
    tool = tools_for(self_report).get(name)
    if tool is None:
        return error_result(f"unknown tool {name!r}; the tools are: {', '.join(TOOLS)}")
    parameters = tool.schema["function"]["parameters"]
    try:
        parsed = parse_arguments(arguments) if isinstance(arguments, str) else arguments
        checked = check_arguments(parameters, parsed)
    except ToolError as e:
        return error_result(f"{name}: {e}. Call it as {signature(name, parameters)}")
    try:
        return await tool.run(sandbox, checked, limits)
    except OSError as e:  # the sandbox could not run it (disk full, workspace gone): tell, don't crash
        return error_result(f"{name} could not run: {e}")
