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
    # Where the id repeats, the columns that key a submission row with it (uw-madison: class).
    key_columns: list[str] = []
    # Whether an empty target cell is an answer (an empty mask, no label), not a missing one.
    accepts_empty: bool = False
    description: str = ""

    def yaml_block(self) -> str:
        """The card (without the description, which the prompt shows as prose) as a fenced YAML block."""
        # The last two only where they say something: most tasks have neither.
        unset = [name for name in ("key_columns", "accepts_empty") if not getattr(self, name)]
        fields = self.model_dump(exclude={"description", *unset})
        return f"```yaml\n{yaml.safe_dump(fields, sort_keys=False).rstrip()}\n```"
