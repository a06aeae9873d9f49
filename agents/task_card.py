"""The task card: the facts about a task the agent needs, shown to it as a YAML block."""

import re
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

_YAML_BLOCK_RE = re.compile(r"^```yaml\n(.*?)\n```$", re.MULTILINE | re.DOTALL)


class TaskCard(BaseModel):
    """What the agent is told about a task. `data_dir` is the data's path as its code sees it."""

    name: str
    metric: str
    lower_is_better: bool
    id_column: str
    target_columns: list[str]
    data_dir: str
    description: str = ""

    def yaml_block(self) -> str:
        """The card (without the description, which the prompt shows as prose) as a fenced YAML block."""
        fields = self.model_dump(exclude={"description"})
        return f"```yaml\n{yaml.safe_dump(fields, sort_keys=False).rstrip()}\n```"


def parse_task_card(text: str) -> TaskCard | None:
    """The first fenced YAML block in `text` that is a task card (its description empty), else None."""
    for match in _YAML_BLOCK_RE.finditer(text):
        try:
            fields: Any = yaml.safe_load(match.group(1))
            return TaskCard.model_validate(fields)
        except (yaml.YAMLError, ValidationError):
            continue
    return None
