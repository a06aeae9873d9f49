"""Isolated execution of agent code: the `Sandbox` interface and its providers."""

from sandbox.base import ExecResult, Sandbox
from sandbox.bwrap import BwrapMissingError, BwrapSandbox, bwrap_missing
from sandbox.config import SandboxConfig
from sandbox.factory import data_dir_seen_by_agent, open_sandbox
from sandbox.process import ProcessSandbox, minimal_env

__all__ = [
    "BwrapMissingError",
    "BwrapSandbox",
    "ExecResult",
    "ProcessSandbox",
    "Sandbox",
    "SandboxConfig",
    "bwrap_missing",
    "data_dir_seen_by_agent",
    "minimal_env",
    "open_sandbox",
]
