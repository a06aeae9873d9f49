"""The W&B sweep files (conf/sweeps/): every grid point's overrides compose with Hydra and pass the
config validation, as `wandb agent` would run them. W&B sweeps need the W&B server to hand out runs,
so the grid points are enumerated here, offline."""

import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import CONF_DIR, compose_config

SWEEPS = sorted((CONF_DIR / "sweeps").glob("*.yaml"))


def grid_points(sweep: dict[str, Any]) -> list[list[str]]:
    """The overrides of every point of a grid sweep: the command's own, then `key=value` per parameter
    (what W&B's ${args_no_hyphens} expands to)."""
    fixed = [a for a in sweep["command"] if not a.startswith("${")]
    params = sweep["parameters"]
    keys = sorted(params)
    points = itertools.product(*(params[k]["values"] for k in keys))
    return [fixed + [f"{k}={v}" for k, v in zip(keys, values, strict=True)] for values in points]


def test_the_main_run_and_the_ablations_have_a_sweep() -> None:
    assert {p.stem for p in SWEEPS} >= {
        "main",
        "ablation_1gpu",
        "ablation_no_hce",
        "ablation_no_subagents",
        "ablation_no_evolution",
    }


@pytest.mark.parametrize("path", SWEEPS, ids=[p.stem for p in SWEEPS])
def test_every_grid_point_composes_and_validates(path: Path) -> None:
    sweep = yaml.safe_load(path.read_text())
    assert sweep["program"] == "launch.py" and sweep["method"] == "grid"
    assert sweep["command"][:3] == ["${env}", "${interpreter}", "${program}"]
    assert "${args_no_hyphens}" in sweep["command"]
    points = grid_points(sweep)
    assert points
    for overrides in points:
        cfg = compose_config(*overrides)
        for arg in overrides:
            key, _, value = arg.partition("=")
            if key.startswith(("+", "hydra.")):
                continue
            got: Any = cfg.model_dump(mode="json")
            for part in key.split("."):
                got = got[part]
            assert str(got) == value, f"{path.name}: {key} is {got!r}, not {value}"


def test_each_sweep_keeps_its_grid_in_a_run_directory_of_its_own() -> None:
    dirs = [tuple(yaml.safe_load(p.read_text())["parameters"]["hydra.run.dir"]["values"]) for p in SWEEPS]
    assert all(len(d) == 1 for d in dirs)
    assert len(set(dirs)) == len(SWEEPS)


def test_the_ablations_change_one_switch_of_the_main_run() -> None:
    main = compose_config(*grid_points(yaml.safe_load((CONF_DIR / "sweeps" / "main.yaml").read_text()))[0])
    switches = {
        "ablation_1gpu": ("search", "num_workers", 1),
        "ablation_no_hce": ("hce", "enabled", False),
        "ablation_no_subagents": ("agent", "operator", "single_turn"),
        "ablation_no_evolution": ("search", "strategy", "best_of_k"),
    }
    for name, (section, key, value) in switches.items():
        sweep = yaml.safe_load((CONF_DIR / "sweeps" / f"{name}.yaml").read_text())
        cfg = compose_config(*grid_points(sweep)[0])
        assert getattr(getattr(cfg, section), key) == value
        assert getattr(getattr(main, section), key) != value
        assert cfg.model_dump(exclude={section: {key}}) == main.model_dump(exclude={section: {key}}), name
