"""cluster.yaml (AWS) and the README's on-prem recipe pass Ray's own cluster config validation, and
cluster.yaml keeps experiments off its head."""

import re
from pathlib import Path
from typing import Any

import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

ROOT = Path(__file__).resolve().parents[1]


def validated(config: dict[str, Any]) -> dict[str, Any]:
    """The config as `ray up` prepares and validates it (defaults filled in, JSON schema checked)."""
    prepared = prepare_config(config)
    validate_config(prepared)
    return prepared


def test_aws_cluster_yaml_is_valid_with_a_cpu_head_and_gpu_workers() -> None:
    raw = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    cfg = validated(raw)
    assert cfg["provider"]["type"] == "aws"
    head = cfg["available_node_types"][cfg["head_node_type"]]
    assert head["resources"].get("GPU") == 0 and "experiment_slot" not in head["resources"]
    assert head["max_workers"] == 0
    start = " ".join(cfg["head_start_ray_commands"])
    # The dashboard's job API runs any code: on the head's loopback only, reached by SSH forwarding.
    assert "--num-gpus=0" in start and "--dashboard-host=127.0.0.1" in start and "0.0.0.0" not in start
    assert any("[vllm]" in c for c in cfg["setup_commands"])
    assert any("bubblewrap" in c for c in cfg["setup_commands"])
    workers = [t for name, t in cfg["available_node_types"].items() if name != cfg["head_node_type"]]
    assert workers and all(t["min_workers"] >= 1 for t in workers)


def test_readme_on_prem_recipe_is_a_valid_local_provider_config() -> None:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Grids and clusters") :]
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", section, re.DOTALL) if "type: local" in b)
    cfg = validated(yaml.safe_load(block))
    assert cfg["provider"]["type"] == "local"
    start = " ".join(cfg["head_start_ray_commands"])
    assert "--num-gpus=0" in start and "--dashboard-host=127.0.0.1" in start and "0.0.0.0" not in start
    assert any("[vllm]" in c for c in cfg["setup_commands"])
