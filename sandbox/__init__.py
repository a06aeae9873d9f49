"""Isolated execution of agent code: the `Sandbox` interface and its providers."""

from sandbox.base import ExecResult, Sandbox
from sandbox.process import ProcessSandbox, minimal_env

__all__ = ["ExecResult", "ProcessSandbox", "Sandbox", "minimal_env"]
