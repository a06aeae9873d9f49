"""Sandbox start-up time and per-call overhead of the stateful bash and python tools (issue 3).

Usage: python bench/sandbox_overhead.py [N]   (N trivial calls per row, default 100)
Each row is the median (and 90th percentile) of N trivial calls through the agent's tool path
(agents.tools.call_tool: `true` for bash, `pass` for python), next to a plain subprocess running
`true`. Start-up is the time from creating the sandbox to the first call's answer (shell, kernel).
Target: tool overhead under 50 ms per call.
"""

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from agents.tools import ToolLimits, call_tool
from sandbox import SandboxConfig, open_sandbox

TARGET_MS = 50.0
LIMITS = ToolLimits(timeout_s=60, observation_chars=4000)


def _row(name: str, times_s: list[float]) -> float:
    ms = sorted(t * 1000 for t in times_s)
    median = statistics.median(ms)
    p90 = ms[int(0.9 * (len(ms) - 1))]
    print(f"| {name} | {median:.1f} | {p90:.1f} |")
    return median


async def _timed(call: Callable[[], Awaitable[object]], n: int) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        await call()
        times.append(time.perf_counter() - started)
    return times


async def _bench(isolation: str, n: int, root: Path) -> dict[str, float]:
    data = root / "data"
    data.mkdir(exist_ok=True)
    settings = SandboxConfig(isolation="bwrap" if isolation == "bwrap" else "none")
    started = time.perf_counter()
    box = open_sandbox(settings, root / f"ws-{isolation}", data)
    await call_tool(box, "bash", {"command": "true"}, LIMITS)
    shell_start = time.perf_counter() - started
    started = time.perf_counter()
    await call_tool(box, "python", {"code": "pass"}, LIMITS)
    kernel_start = time.perf_counter() - started
    try:
        bash = await _timed(lambda: call_tool(box, "bash", {"command": "true"}, LIMITS), n)
        python = await _timed(lambda: call_tool(box, "python", {"code": "pass"}, LIMITS), n)
        one_shot = await _timed(lambda: box.exec(["true"], 60), n)
    finally:
        await box.close()
    print(f"| {isolation}: start-up, first bash call | {shell_start * 1000:.0f} | |")
    print(f"| {isolation}: start-up, first python call (kernel) | {kernel_start * 1000:.0f} | |")
    return {
        "bash": _row(f"{isolation}: bash tool, `true`", bash),
        "python": _row(f"{isolation}: python tool, `pass`", python),
        "exec": _row(f"{isolation}: one-shot exec `true` (new sandbox per command)", one_shot),
    }


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    print(f"{n} calls per row; milliseconds\n")
    print("| what | median ms | p90 ms |\n|---|---|---|")
    plain = [0.0] * n
    for i in range(n):
        started = time.perf_counter()
        subprocess.run(["true"], check=True)
        plain[i] = time.perf_counter() - started
    _row("plain subprocess.run(['true'])", plain)
    with tempfile.TemporaryDirectory(prefix="aira-bench-") as tmp:
        results = {iso: asyncio.run(_bench(iso, n, Path(tmp))) for iso in ("bwrap", "none")}
    worst = max(results["bwrap"]["bash"], results["bwrap"]["python"])
    verdict = "OK" if worst < TARGET_MS else "OVER TARGET"
    print(f"\nbwrap tool overhead (worst median): {worst:.1f} ms, target < {TARGET_MS:.0f} ms -> {verdict}")
    return 0 if worst < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
