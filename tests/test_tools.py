"""The agent's tools in the default (bubblewrap) sandbox: schemas, argument validation, error
observations, trimming, the stateful shell and kernel, and the format-only submission check."""

import asyncio
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.tools import TOOLS, ToolLimits, ToolResult, call_tool, format_exec, tool_schemas
from agents.trim import trim_middle
from sandbox import BwrapSandbox, ExecResult

LIMITS = ToolLimits(timeout_s=20, observation_chars=4000)
# One event loop per test, as in an episode: the shell and the kernel live on it between calls.
_loop: list[asyncio.Runner] = []


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[BwrapSandbox]:
    data = tmp_path / "data"
    data.mkdir()
    (data / "sample_submission.csv").write_text("id,y\na,0\nb,0\nc,0\n")
    box = BwrapSandbox(tmp_path / "ws", data, kill_grace_s=0.5)
    with asyncio.Runner() as runner:
        _loop.append(runner)
        yield box
        runner.run(box.close())
        _loop.pop()


def call(
    sandbox: BwrapSandbox, name: str, arguments: str | dict[str, Any], limits: ToolLimits = LIMITS
) -> ToolResult:
    return _loop[-1].run(call_tool(sandbox, name, arguments, limits))


def test_schemas_are_openai_function_tools() -> None:
    schemas = tool_schemas()
    assert [s["function"]["name"] for s in schemas] == ["bash", "python", "validate_submission", "submit"]
    for schema in schemas:
        assert schema["type"] == "function"
        assert schema["function"]["description"]
        assert schema["function"]["parameters"]["type"] == "object"
    schemas[0]["function"]["name"] = "changed"
    assert tool_schemas()[0]["function"]["name"] == "bash"


def test_bash_shows_exit_status_duration_and_output(sandbox: BwrapSandbox) -> None:
    result = call(sandbox, "bash", '{"command": "echo hi; (exit 2)"}')
    assert re.match(r"^\[exit 2, \d+\.\d\d s\]\nhi\n$", result.observation)
    assert result.error is None and result.submitted is None


def test_bash_without_output_says_so(sandbox: BwrapSandbox) -> None:
    assert call(sandbox, "bash", {"command": "true"}).observation.endswith("\n(no output)")


def test_python_runs_code_in_the_workspace_and_shows_tracebacks(sandbox: BwrapSandbox) -> None:
    ok = call(sandbox, "python", {"code": "import os\nprint(os.getcwd())"})
    assert ok.observation.startswith("[exit 0,") and "/workspace" in ok.observation
    failed = call(sandbox, "python", {"code": "x = 1\nraise ValueError('bad value')"})
    assert failed.observation.startswith("[exit 1,")
    assert (
        "raise ValueError('bad value')" in failed.observation
        and "ValueError: bad value" in failed.observation
    )


def test_the_shell_keeps_cwd_variables_and_background_jobs(sandbox: BwrapSandbox) -> None:
    call(sandbox, "bash", {"command": "mkdir sub && cd sub; sleep 60 &"})
    call(sandbox, "bash", {"command": "MINE=1"})
    result = call(sandbox, "bash", {"command": "echo $(pwd) $MINE; jobs | wc -l"})
    assert result.observation.endswith("\n/workspace/sub 1\n1\n")


def test_a_timeout_interrupts_the_command_and_the_shell_goes_on(sandbox: BwrapSandbox) -> None:
    call(sandbox, "bash", {"command": "cd /tmp; KEEP=42"})
    limits = ToolLimits(timeout_s=1, observation_chars=4000)
    loop = call(sandbox, "bash", {"command": "echo start; while :; do :; done"}, limits)
    assert loop.observation.startswith("[exit 130, timed out,") and "start" in loop.observation
    assert "timed out after 1 s: the command was interrupted" in loop.observation
    stubborn = call(sandbox, "bash", {"command": "bash -c 'trap \"\" INT TERM; sleep 60'"}, limits)
    assert stubborn.observation.startswith("[exit 137, timed out,")
    after = call(sandbox, "bash", {"command": "echo $(pwd) $KEEP"})
    assert after.observation.endswith("\n/tmp 42\n")


def test_an_exited_shell_is_restarted_with_a_notice(sandbox: BwrapSandbox) -> None:
    gone = call(sandbox, "bash", {"command": "X=1; exit 3"})
    assert gone.observation.startswith("[exit 3,") and "the shell exited (status 3)" in gone.observation
    assert call(sandbox, "bash", {"command": 'echo "[$X]"'}).observation.endswith("\n[]\n")


def test_the_kernel_keeps_variables_and_survives_an_interrupt(sandbox: BwrapSandbox) -> None:
    call(sandbox, "python", {"code": "import time\nweights = [1, 2, 3]"})
    limits = ToolLimits(timeout_s=1, observation_chars=4000)
    slow = call(sandbox, "python", {"code": "time.sleep(60)"}, limits)
    assert slow.observation.startswith("[exit 1, timed out,") and "KeyboardInterrupt" in slow.observation
    assert call(sandbox, "python", {"code": "print(sum(weights))"}).observation.endswith("\n6\n")


def test_a_dead_kernel_is_reported_and_restarted(sandbox: BwrapSandbox) -> None:
    call(sandbox, "python", {"code": "x = 5"})
    died = call(sandbox, "python", {"code": "import os; os._exit(7)"})
    assert "the Python kernel died (exit 7)" in died.observation
    again = call(sandbox, "python", {"code": "print('x' in dir())"})
    assert again.observation.startswith("[exit 0,") and again.observation.endswith("False\n")


@pytest.mark.parametrize(
    ("content", "verdict"),
    [
        ("id,y\nc,1\na,0\nb,1\n", "has the format of sample_submission.csv: 3 rows"),
        ("id,label\na,0\nb,1\nc,1\n", "is not a valid submission"),
        ("id,y\na,0\nb,1\n", "is not a valid submission"),
        ("id,y\na,0\nb,\nc,1\n", "is not a valid submission"),
    ],
)
def test_validate_submission_checks_the_format_only(
    sandbox: BwrapSandbox, content: str, verdict: str
) -> None:
    asyncio.run(sandbox.write_file("submission.csv", content))
    result = call(sandbox, "validate_submission", {})
    assert verdict in result.observation
    assert "score" not in result.observation.replace("no score", "")


@pytest.mark.parametrize(
    ("content", "verdict"),
    [
        (
            'Insult,Date,Comment\n1,,"you fool"\n0,2012,"nice, thanks"\n',
            "format of sample_submission_null.csv",
        ),
        ('Insult,Date,Comment\n1,,"you fool"\n,2012,"nice, thanks"\n', "is not a valid submission"),
        ('Insult,Date,Comment\n1,,"you fool"\n0,2012,"other"\n', "is not a valid submission"),
    ],
)
def test_validate_submission_finds_a_sample_keyed_by_its_last_column(
    tmp_path: Path, content: str, verdict: str
) -> None:
    # detecting-insults: the sample is sample_submission_null.csv, keyed by the comment (its last
    # column, the task card's id_column), with a Date column copied from the test inputs that may be
    # empty.
    sample = 'Insult,Date,Comment\n0,,"you fool"\n0,2012,"nice, thanks"\n'
    limits = ToolLimits(timeout_s=20, observation_chars=4000, id_column="Comment")
    observation = validate(tmp_path, "sample_submission_null.csv", sample, content, limits)
    assert verdict in observation, observation


def validate(tmp_path: Path, sample_name: str, sample: str, content: str, limits: ToolLimits) -> str:
    """validate_submission's observation on `content`, in a sandbox whose task has only that sample."""
    data = tmp_path / "data"
    data.mkdir()
    (data / sample_name).write_text(sample)
    box = BwrapSandbox(tmp_path / "ws", data, kill_grace_s=0.5)
    with asyncio.Runner() as runner:
        runner.run(box.write_file("submission.csv", content))
        result = runner.run(call_tool(box, "validate_submission", {}, limits))
        runner.run(box.close())
    return result.observation


@pytest.mark.parametrize(
    ("content", "verdict"),
    [
        (
            "id,class,predicted\ns1,bowel,1 2\ns1,stomach,\ns2,bowel,\ns2,stomach,3 1\n",
            "every (id, class) once",
        ),
        ("id,class,predicted\ns1,bowel,1 2\ns1,bowel,\ns2,bowel,\ns2,stomach,3 1\n", "duplicate key"),
        ("id,class,predicted\ns1,bowel,1 2\ns1,liver,\ns2,bowel,\ns2,stomach,3 1\n", "is missing 1 key"),
    ],
)
def test_validate_submission_keys_rows_by_id_and_class_and_takes_empty_masks(
    tmp_path: Path, content: str, verdict: str
) -> None:
    # uw-madison: a row per slice id and organ class, an empty RLE (no organ) a valid answer.
    sample = "id,class,predicted\ns1,bowel,1 1\ns1,stomach,1 1\ns2,bowel,1 1\ns2,stomach,1 1\n"
    limits = ToolLimits(20, 4000, id_column="id", key_columns=("class",), accepts_empty=True)
    observation = validate(tmp_path, "sample_submission.csv", sample, content, limits)
    assert verdict in observation, observation


def test_a_timeout_is_shown_in_the_observation(sandbox: BwrapSandbox) -> None:
    result = call(sandbox, "bash", {"command": "sleep 30"}, ToolLimits(timeout_s=1, observation_chars=4000))
    assert result.observation.startswith("[exit 130, timed out,")
    assert "timed out after 1 s" in result.observation


def test_a_worker_that_ignores_sigint_still_interrupts_a_timed_out_command(sandbox: BwrapSandbox) -> None:
    # An ignored signal stays ignored across exec: a worker started with SIGINT ignored (nohup, a test
    # runner's worker) must not pass that on to the agent's commands.
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        result = call(
            sandbox, "bash", {"command": "sleep 30"}, ToolLimits(timeout_s=1, observation_chars=4000)
        )
    finally:
        signal.signal(signal.SIGINT, before)
    assert result.observation.startswith("[exit 130, timed out,"), result.observation


def test_long_output_is_trimmed_to_the_observation_limit(sandbox: BwrapSandbox) -> None:
    command = "python -c \"print('HEAD'); print('x' * 20000); print('TAIL')\""
    result = call(sandbox, "bash", {"command": command}, ToolLimits(timeout_s=10, observation_chars=500))
    assert len(result.observation) <= 500
    assert "HEAD" in result.observation and result.observation.endswith("TAIL\n")
    assert re.search(r"\.\.\. \[\d+ characters cut\] \.\.\.", result.observation)


def test_unknown_tool_lists_the_known_tools(sandbox: BwrapSandbox) -> None:
    result = call(sandbox, "browse", {"url": "x"})
    assert result.error is not None
    assert result.observation == (
        "error: unknown tool 'browse'; the tools are: bash, python, validate_submission, submit"
    )


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ('{"command": "ls"', "the arguments are not valid JSON"),
        ('["ls"]', "must be a JSON object of named arguments, got array"),
        ("{}", "missing argument 'command'"),
        ({"command": "ls", "cwd": "/"}, "unknown argument 'cwd'"),
        ({"command": 3}, "argument 'command' must be a string, got integer"),
        ({"command": None}, "argument 'command' must be a string, got null"),
    ],
)
def test_bad_arguments_get_one_clear_error_observation(
    sandbox: BwrapSandbox, arguments: str | dict[str, Any], problem: str
) -> None:
    result = call(sandbox, "bash", arguments)
    assert result.error is not None and problem in result.error
    assert result.observation.startswith("error: bash: ")
    assert result.observation.endswith(". Call it as bash(command: string)")


def test_every_problem_is_named_at_once(sandbox: BwrapSandbox) -> None:
    result = call(sandbox, "submit", {"submission_path": True, "extra": 1})
    assert result.error is not None
    assert "argument 'submission_path' must be a string, got boolean" in result.error
    assert "unknown argument 'extra'" in result.error
    assert (
        "submit(submission_path: string = 'submission.csv', code_path: string = 'solution.py')"
        in result.error
    )


def test_empty_arguments_mean_defaults(sandbox: BwrapSandbox) -> None:
    asyncio.run(sandbox.write_file("submission.csv", "id,y\n1,0\n"))
    result = call(sandbox, "submit", "")
    assert result.submitted is not None


def test_submit_without_a_submission_tells_the_agent_to_write_it(sandbox: BwrapSandbox) -> None:
    result = call(sandbox, "submit", {})
    assert result.submitted is None
    assert result.error is not None
    assert "submission.csv does not exist in the working directory" in result.observation
    assert "write your predictions to it first" in result.observation


def test_submit_hands_in_the_file_and_the_code(sandbox: BwrapSandbox) -> None:
    asyncio.run(sandbox.write_file("out/preds.csv", "id,y\n1,0\n"))
    asyncio.run(sandbox.write_file("train.py", "print('hi')\n"))
    result = call(sandbox, "submit", {"submission_path": "out/preds.csv", "code_path": "train.py"})
    assert result.error is None
    assert result.submitted is not None
    assert result.submitted.submission == b"id,y\n1,0\n" and result.submitted.code == "print('hi')\n"


def test_submit_without_code_records_empty_code(sandbox: BwrapSandbox) -> None:
    asyncio.run(sandbox.write_file("submission.csv", "id,y\n1,0\n"))
    result = call(sandbox, "submit", {})
    assert result.submitted is not None and result.submitted.code == ""
    assert "solution.py not found" in result.observation


def test_code_over_its_cap_is_refused_with_the_reason_and_the_agent_can_submit_again(
    sandbox: BwrapSandbox,
) -> None:
    limits = LIMITS._replace(max_record_bytes=1000)
    asyncio.run(sandbox.write_file("submission.csv", "id,y\n1,0\n"))
    asyncio.run(sandbox.write_file("solution.py", "x = 1\n" * 200))  # 1200 bytes
    refused = call(sandbox, "submit", {}, limits)
    assert refused.submitted is None and refused.error is not None
    assert "solution.py is larger than" in refused.observation
    assert "agent.max_record_mb" in refused.observation
    assert "then call submit again" in refused.observation
    asyncio.run(sandbox.write_file("solution.py", "x = 1\n"))
    done = call(sandbox, "submit", {}, limits)
    assert done.submitted is not None and done.submitted.code == "x = 1\n"


def test_a_submission_over_its_cap_is_refused_by_submit_and_validate(sandbox: BwrapSandbox) -> None:
    limits = LIMITS._replace(max_submission_bytes=100)
    asyncio.run(sandbox.write_file("submission.csv", "id,y\n" + "a,0\n" * 40))  # 165 bytes
    for tool in ("submit", "validate_submission"):
        result = call(sandbox, tool, {}, limits)
        assert result.submitted is None and result.error is not None
        assert "agent.max_submission_mb" in result.observation and "165 bytes" in result.observation
    # The default caps: 10 MiB of code, 1 GiB of submission, far above these files.
    assert call(sandbox, "submit", {}).submitted is not None


def test_submit_refuses_empty_files_and_paths_outside_the_workspace(sandbox: BwrapSandbox) -> None:
    asyncio.run(sandbox.write_file("submission.csv", ""))
    assert "is empty" in call(sandbox, "submit", {}).observation
    outside = call(sandbox, "submit", {"submission_path": "../secret.csv"})
    assert outside.submitted is None and "outside the workspace" in outside.observation


def test_trim_keeps_short_text() -> None:
    assert trim_middle("short", 10) == "short"


@pytest.mark.parametrize("limit", [200, 333, 1000])
def test_trim_keeps_head_and_tail_and_counts_the_cut(limit: int) -> None:
    text = "".join(f"line {i}\n" for i in range(1000))
    trimmed = trim_middle(text, limit)
    assert len(trimmed) <= limit
    head, marker, tail = re.split(r"(\n\.\.\. \[\d+ characters cut\] \.\.\.\n)", trimmed)
    cut = int(marker.split("[")[1].split(" ")[0])
    assert text.startswith(head) and text.endswith(tail)
    assert len(head) + cut + len(tail) == len(text)


def test_format_exec_fits_the_limit() -> None:
    result = ExecResult(exit_code=0, output="y" * 10_000, duration_s=1.234)
    observation = format_exec(result, 300)
    assert observation.startswith("[exit 0, 1.23 s]\n") and len(observation) <= 300


def test_every_tool_has_an_executor() -> None:
    assert set(TOOLS) == {"bash", "python", "validate_submission", "submit"}
    assert all(callable(tool.run) for tool in TOOLS.values())
