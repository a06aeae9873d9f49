"""Choosing the sandbox of an episode from the settings: bubblewrap, or a bare process group."""

from collections.abc import Sequence
from pathlib import Path

from sandbox.base import Sandbox
from sandbox.bwrap import DATA, BwrapSandbox
from sandbox.config import SandboxConfig
from sandbox.process import THREAD_VARS, ProcessSandbox


def open_sandbox(
    settings: SandboxConfig,
    workspace: Path,
    data_dir: Path,
    gpu_ids: Sequence[str] = (),
    *,
    kill_grace_s: float = 2.0,
) -> Sandbox:
    """A sandbox for one episode with only the GPUs `gpu_ids` (Ray's ids; CUDA_VISIBLE_DEVICES and
    device nodes, see sandbox/gpu.py) and `settings.threads` threads per BLAS/OpenMP pool."""
    env = dict.fromkeys(THREAD_VARS, str(settings.threads or 1))
    if gpu_ids:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(gpu_ids)
    if settings.isolation == "none":
        return ProcessSandbox(workspace, data_dir, env, kill_grace_s=kill_grace_s)
    return BwrapSandbox(
        workspace, data_dir, env, settings=settings, gpu_ids=gpu_ids, kill_grace_s=kill_grace_s
    )


def data_dir_seen_by_agent(settings: SandboxConfig, host_dir: Path) -> str:
    """The task data's path as agent code sees it: /data in bubblewrap, the host path otherwise."""
    return str(host_dir.resolve()) if settings.isolation == "none" else DATA
