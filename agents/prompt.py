"""The prompts of a ReAct episode: the system prompt and the first user message.

The wording lives in the module-level templates below so that it is easy to read and change. The
parent header and the operator line are also read back (by the baseline policy), so their formats
are defined here once, each with the regex that parses it.
"""

import re
from typing import NamedTuple

from agents.task_card import TaskCard

SYSTEM_TEMPLATE = """\
You are an expert machine learning engineer competing in a Kaggle competition. You work in a \
sandbox: a working directory that you can write to, and the competition's data, read-only, in \
{data_dir}.

Tools:
- bash: run a shell command in the working directory.
- python: run a Python program in the working directory.
- submit: hand in your predictions and the code that made them; this ends your work.

Rules:
- The data is in {data_dir}: train.csv holds the training inputs with their labels, test.csv the \
inputs to predict, and sample_submission.csv shows the exact format of a submission.
- Write a prediction for every row of test.csv to submission.csv in the working directory, with the \
columns and format of sample_submission.csv. Keep the code that writes it in solution.py.
- You never see a score: a hidden evaluator scores your submission with the task's metric \
({metric}, {direction}). Check your work yourself, for example on a validation split of train.csv.
- Every tool call has a time limit: keep single runs short and print progress.
- Call submit when submission.csv is written."""

USER_TEMPLATE = """\
# Task

{description}

# Task card

{card}

{operator_line}

{instruction}
{parents}"""

OPERATOR_LINE = "# Operator: {operator}"
OPERATOR_RE = re.compile(r"^# Operator: (\w+)$", re.MULTILINE)

INSTRUCTIONS = {
    "draft": (
        "Write a complete solution from scratch: look at the data, train a model, check it on a "
        "validation split of train.csv, write submission.csv, and submit."
    ),
    "mutate": (
        "Improve the parent solution below. Its search score is the hidden evaluator's score of its "
        "submission ({direction}). Keep what works, change what should improve the score, make sure "
        "your version runs end to end, write submission.csv, and submit. The parent's files are not in "
        "your working directory: write your own solution.py."
    ),
    "crossover": (
        "Combine the two parent solutions below into one that is better than both. Their search scores "
        "are the hidden evaluator's scores of their submissions ({direction}). Take the strengths of "
        "each, make sure your version runs end to end, write submission.csv, and submit. The parents' "
        "files are not in your working directory: write your own solution.py."
    ),
}
# How many parents each operator takes.
OPERATOR_PARENTS = {"draft": 0, "mutate": 1, "crossover": 2}

PARENT_TEMPLATE = (
    "## Parent {index} (node {node_id}, search score {search_score:.6f})\n\n{fence}python\n{code}\n{fence}"
)
PARENT_RE = re.compile(
    r"^## Parent (?P<index>\d+) \(node (?P<node_id>-?\d+), search score (?P<search_score>\S+)\)\n\n"
    r"(?P<fence>`{3,})python\n(?P<code>.*?)\n(?P=fence)$",
    re.MULTILINE | re.DOTALL,
)

NUDGE = (
    "You did not call a tool. Call a tool to make progress (bash or python), and call submit once "
    "submission.csv is written."
)


class ParentCode(NamedTuple):
    """A parent solution as the agent is shown it: its node, its code and its search score."""

    node_id: int
    code: str
    search_score: float


def render_system_prompt(card: TaskCard) -> str:
    """The system prompt: the agent's role, its tools and the rules of the task."""
    return SYSTEM_TEMPLATE.format(data_dir=card.data_dir, metric=card.metric, direction=_direction(card))


def render_user_message(card: TaskCard, operator: str, parents: list[ParentCode]) -> str:
    """The first user message: task description, task card, operator instruction and the parents' code."""
    if operator not in OPERATOR_PARENTS:
        raise ValueError(f"unknown operator {operator!r}: use one of {', '.join(OPERATOR_PARENTS)}")
    if len(parents) != OPERATOR_PARENTS[operator]:
        raise ValueError(
            f"operator {operator!r} takes {OPERATOR_PARENTS[operator]} parent(s), got {len(parents)}"
        )
    blocks = "".join(
        "\n" + PARENT_TEMPLATE.format(index=i, **p._asdict(), fence=_fence(p.code)) + "\n"
        for i, p in enumerate(parents, start=1)
    )
    return USER_TEMPLATE.format(
        description=card.description.strip() or "(no description)",
        card=card.yaml_block(),
        operator_line=OPERATOR_LINE.format(operator=operator),
        instruction=INSTRUCTIONS[operator].format(direction=_direction(card)),
        parents=blocks,
    )


def parse_operator(text: str) -> str | None:
    """The operator named in a first user message, None when there is none."""
    match = OPERATOR_RE.search(text)
    return match.group(1) if match and match.group(1) in OPERATOR_PARENTS else None


def parse_parents(text: str) -> list[ParentCode]:
    """The parents shown in a first user message, in order."""
    return [
        ParentCode(int(m["node_id"]), m["code"], _float(m["search_score"])) for m in PARENT_RE.finditer(text)
    ]


def _direction(card: TaskCard) -> str:
    return "lower is better" if card.lower_is_better else "higher is better"


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


def _fence(code: str) -> str:
    # Longer than any backtick run in the code, so that code containing ``` cannot close the block.
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    return "`" * max(3, longest + 1)
