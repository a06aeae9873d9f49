"""The bubblewrap sandbox's configuration: config keys, preflight refusal and warning, the paths the
agent sees, its GPU, and the network switch."""

import asyncio
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from launcher.config import ConfigError
from launcher.preflight import UNSANDBOXED_WARNING, sandbox_problems
from sandbox import BwrapSandbox, SandboxConfig, data_dir_seen_by_agent, open_sandbox
from sandbox.bwrap import bwrap_argv
from sandbox.gpu import SandboxGpus
from sandbox.network import host_addresses
from tests.conftest import compose_config


def test_bwrap_is_the_default_and_a_wrong_isolation_is_named() -> None:
    cfg = compose_config()
    assert cfg.sandbox.isolation == "bwrap" and cfg.sandbox.network is False
    with pytest.raises(ConfigError, match=r"sandbox.isolation: Input should be 'bwrap' or 'none'"):
        compose_config("sandbox.isolation=docker")


def test_missing_bwrap_refuses_to_start_with_install_instructions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without bwrap
    (problem,) = sandbox_problems(compose_config())
    assert problem.startswith("sandbox: bubblewrap (`bwrap`) is not installed")
    assert "apt-get install bubblewrap" in problem and "sandbox.isolation=none" in problem


def test_isolation_none_warns_once_and_loudly(capsys: pytest.CaptureFixture[str]) -> None:
    import launcher.preflight

    launcher.preflight._warned = False
    cfg = compose_config("sandbox.isolation=none")
    assert sandbox_problems(cfg) == [] and sandbox_problems(cfg) == []
    err = capsys.readouterr().err
    assert err.count(UNSANDBOXED_WARNING) == 1 and "!" * 100 in err


def test_the_agent_sees_data_and_workspace_at_fixed_paths(tmp_path: Path) -> None:
    data = tmp_path / "public"
    data.mkdir()
    (data / "train.csv").write_text("a\n1\n")
    assert data_dir_seen_by_agent(SandboxConfig(), data) == "/data"
    assert data_dir_seen_by_agent(SandboxConfig(isolation="none"), data) == str(data.resolve())
    box = open_sandbox(SandboxConfig(), tmp_path / "ws", data, gpu_ids=["1"])
    assert isinstance(box, BwrapSandbox) and box.data_dir == "/data"

    async def session() -> str:
        await box.write_file("parent_1.py", "print(1)\n")  # the parent's code, given by the worker
        try:
            result = await box.run_shell(
                "echo gpu=$CUDA_VISIBLE_DEVICES; pwd; cat /data/train.csv; echo '# mine' >> parent_1.py; "
                "echo scratch > /tmp/t && cat /tmp/t",
                10,
            )
        finally:
            await box.close()
        return result.output

    assert asyncio.run(session()) == "gpu=1\n/workspace\na\n1\nscratch\n"
    assert (tmp_path / "ws" / "parent_1.py").read_text() == "print(1)\n# mine\n"


def test_only_the_workers_gpu_device_is_bound(tmp_path: Path) -> None:
    gpus = SandboxGpus(["nvidia1"], "1")
    argv = bwrap_argv(SandboxConfig(), tmp_path, tmp_path, tmp_path, gpus, 64, None)
    bound = [argv[i + 1] for i, a in enumerate(argv) if a == "--dev-bind-try"]
    assert "/dev/nvidia1" in bound and "/dev/nvidia0" not in bound and "/dev/nvidiactl" in bound
    assert "/dev/nvidia-caps" in bound and "/dev/nvidia-uvm-tools" in bound
    read_only = [argv[i + 1] for i, a in enumerate(argv) if a == "--ro-bind-try"]
    assert {"/sys/bus", "/sys/devices", "/sys/module"} <= set(read_only)
    assert "--dev-bind-try" not in bwrap_argv(SandboxConfig(), tmp_path, tmp_path, tmp_path, None, 64, None)


PROBE = """
import socket
def attempt(addr):
    try:
        socket.create_connection(addr, timeout=3).close()
        return "CONNECTED"
    except OSError as e:
        return "refused (" + str(e.strerror) + ")"
own = socket.socket()
own.bind(("127.0.0.1", 0))
own.listen()
print("own loopback", attempt(own.getsockname()))
print("host loopback", attempt(("127.0.0.1", PORT)))
print("host loopback via the gateway", attempt(("10.0.2.2", PORT)))
for address in ADDRESSES:
    print("host address", address, attempt((address, PORT)))
print(open("/proc/net/route").read().count("tap0") > 0 and "default route: tap0")
"""


def test_network_true_reaches_out_but_not_the_hosts_own_services(tmp_path: Path) -> None:
    """The sandbox's network: its own loopback and a route out, but nothing of the host. Traffic
    stays on this machine: every address tried is the host's own or the sandbox's."""
    addresses = host_addresses()
    with socket.socket() as listener:  # a host service on every address: loopback and the node's
        listener.bind(("0.0.0.0", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        box = open_sandbox(SandboxConfig(network=True), tmp_path / "ws", tmp_path)

        async def probe() -> str:
            try:
                code = PROBE.replace("PORT", str(port)).replace("ADDRESSES", repr(addresses))
                return (await box.exec(["python", "-c", code], 30)).output
            finally:
                await box.close()

        seen = asyncio.run(probe())
        with pytest.raises(BlockingIOError):
            listener.accept()  # not one connection arrived
    assert "own loopback CONNECTED" in seen and "default route: tap0" in seen, seen
    assert seen.count("CONNECTED") == 1, seen
    assert "host loopback refused" in seen and "via the gateway refused" in seen, seen
    assert seen.count("host address") == len(addresses), seen


@pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes get users of their own only under a root worker")
def test_each_sandbox_runs_as_a_user_of_its_own_and_leaves_nothing_of_it(tmp_path: Path) -> None:
    """Processes still running in one sandbox never count toward the next one's process limit."""
    first = open_sandbox(SandboxConfig(max_processes=8), tmp_path / "a", tmp_path)
    second = open_sandbox(SandboxConfig(max_processes=8), tmp_path / "b", tmp_path)
    assert isinstance(first, BwrapSandbox) and isinstance(second, BwrapSandbox)
    assert first.user is not None and second.user is not None and first.user != second.user

    async def session() -> tuple[str, str]:
        try:
            # The first sandbox's user runs 6 processes; the second still has room for its own 6.
            await first.run_shell("for i in 1 2 3 4 5 6; do sleep 300 & done; echo started", 10)
            held = await second.run_shell("for i in 1 2 3 4 5 6; do sleep 300 & done; id -u", 10)
        finally:
            await first.close()
        deadline = time.monotonic() + 5  # killed processes stay zombies until init reaps them
        while (left := _processes_of(first.user)) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await second.close()
        return held.output, left

    held, left = asyncio.run(session())
    assert held.strip() == str(second.user), held
    assert left.strip() == "", "the first sandbox's processes outlived its close"


def _processes_of(uid: int | None) -> str:
    ps = subprocess.run(["ps", "-o", "pid=,stat=,args=", "-u", str(uid)], capture_output=True, text=True)
    return ps.stdout
