"""The task card: the facts about a task the agent needs, shown to it as a YAML block."""

import yaml
from pydantic import BaseModel


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
