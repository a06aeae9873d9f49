"""A refused start leaves no empty run directory behind: Hydra creates `hydra.run.dir` (and its
`.hydra/` files) before the program can refuse, so a refusal removes it again, but only when this
launch created it and it still holds nothing but Hydra's own files (never a user's directory, e.g.
the one a resume continues)."""

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

# Hydra's own files in a run directory: `.hydra/` and the job's log (named after the job).
HYDRA_FILES = {"config.yaml", "hydra.yaml", "overrides.yaml"}

_created: Path | None = None  # the topmost folder this launch's run directory brought into being


class RecordNewRunDir(Callback):
    """Notes, before Hydra makes the run directory, which of its folders do not exist yet."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        global _created
        _created = None
        try:
            path = Path(str(OmegaConf.select(config, "hydra.run.dir"))).absolute()
        except Exception:
            return  # an unresolvable directory: Hydra says so; nothing is ever removed
        top = None
        while not path.exists():
            top, path = path, path.parent
        _created = top


def remove_new_run_dir(run_dir: Path, job_name: str = "launch") -> bool:
    """Remove `run_dir` when this launch created it and it holds only Hydra's files; its parents too
    when this launch created them and they are left empty. True when it was removed."""
    run_dir = run_dir.absolute()
    if _created is None or not (run_dir == _created or _created in run_dir.parents):
        return False
    hydra_dir = run_dir / ".hydra"
    entries = {p.name for p in run_dir.iterdir()}
    if not entries <= {".hydra", f"{job_name}.log"}:
        return False
    if hydra_dir.is_symlink() or (hydra_dir.exists() and not hydra_dir.is_dir()):
        return False
    if hydra_dir.exists() and not {p.name for p in hydra_dir.iterdir()} <= HYDRA_FILES:
        return False
    log = run_dir / f"{job_name}.log"
    if log.is_symlink() or (log.exists() and not log.is_file()):
        return False
    for f in [*(hydra_dir / n for n in HYDRA_FILES), log]:
        if f.is_file():
            f.unlink()
    if hydra_dir.exists():
        hydra_dir.rmdir()
    run_dir.rmdir()
    path = run_dir
    while path != _created:
        path = path.parent
        try:
            path.rmdir()  # only an empty folder
        except OSError:
            break
    return True
