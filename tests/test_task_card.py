"""The task card the agent is shown: the key columns and empty answers are said only where they apply."""

import yaml

from agents.task_card import TaskCard

FIELDS = {
    "name": "t",
    "metric": "rmse",
    "lower_is_better": True,
    "id_column": "id",
    "target_columns": ["y"],
    "data_dir": "/data",
}


def shown(card: TaskCard) -> dict[str, object]:
    block = card.yaml_block()
    assert block.startswith("```yaml\n") and block.endswith("\n```")
    return dict(yaml.safe_load(block.removeprefix("```yaml\n").removesuffix("\n```")))


def test_a_plain_task_card_says_nothing_of_key_columns_or_empty_answers() -> None:
    assert shown(TaskCard(**FIELDS)) == FIELDS


def test_a_card_keyed_by_id_and_class_with_empty_masks_says_both() -> None:
    card = TaskCard(**FIELDS, key_columns=["class"], accepts_empty=True)
    assert shown(card) == {**FIELDS, "key_columns": ["class"], "accepts_empty": True}
