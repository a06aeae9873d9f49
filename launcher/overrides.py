"""Command-line overrides checked before Hydra runs: a mistyped key is one clear line naming the key
the user most likely meant, not Hydra's composition error and its advice to add a `+`."""

import difflib
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import OverrideType
from omegaconf import DictConfig, OmegaConf

CONF = Path(__file__).resolve().parents[1] / "conf"


def _compose(overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3", job_name="launch"):
        return compose("config", overrides=overrides, return_hydra_config=True)


def _keys(node: Any, prefix: str = "") -> list[str]:
    """Every dotted key of a config (mappings only; a list's items are not keys)."""
    if not isinstance(node, dict):
        return []
    out = []
    for k, v in node.items():
        key = f"{prefix}{k}"
        out += [key, *_keys(v, key + ".")]
    return out


def unknown_keys(args: list[str]) -> str | None:
    """One line per override of a key the composed config does not have, with the closest key there;
    None when every key is known (or the command line holds Hydra flags: Hydra reads those itself)."""
    if not args or any(a.startswith("-") for a in args):
        return None
    try:
        parsed = OverridesParser.create().parse_overrides(args)
    except Exception:
        return None  # a syntax error: Hydra's own message says where
    try:
        _compose(args)
        return None
    except Exception:
        pass
    good: list[str] = []
    bad: list[tuple[str, str]] = []
    for arg, o in zip(args, parsed, strict=True):
        try:
            _compose([*good, arg])
            good.append(arg)
        except Exception:
            if o.type == OverrideType.CHANGE and o.package is None:
                bad.append((arg, o.key_or_group))
    if not bad:
        return None
    try:
        cfg = _compose(good)
    except Exception:
        return None
    container = OmegaConf.to_container(cfg, resolve=False)
    known = set(_keys(container)) | {str(g) for g in cfg.hydra.runtime.choices}  # keys and groups
    lines = []
    for _, key in bad:
        if key in known:
            return None  # known key, wrong value: Hydra's message (or the config check) says why
        close = difflib.get_close_matches(key, sorted(known), n=1)
        hint = (
            f": did you mean {close[0]}?" if close else ": no such key in the config (add it with +KEY=VALUE)"
        )
        lines.append(f"unknown key {key}{hint}")
    return "\n".join(lines)
