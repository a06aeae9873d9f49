"""GPU sandboxes without a GPU here: the driver's listing (a stand-in /proc/driver/nvidia), Ray's ids
mapped to device minors and UUIDs, and a real sandbox for a declared GPU (device nodes absent)."""

import asyncio
from pathlib import Path

import pytest

from sandbox import SandboxConfig, open_sandbox
from sandbox.gpu import Gpu, driver_gpus, sandbox_gpus

UUID_A = "GPU-aaaaaaaa-0000-0000-0000-000000000001"
UUID_B = "GPU-bbbbbbbb-0000-0000-0000-000000000002"


def stand_in_driver(root: Path) -> Path:
    """/proc/driver/nvidia/gpus of a two-GPU node whose minors run against the bus order."""
    for bus, minor, uuid in (("0000:3b:00.0", 1, UUID_A), ("0000:af:00.0", 0, UUID_B)):
        (root / bus).mkdir(parents=True)
        lines = [
            "Model: \t\t NVIDIA H200",
            f"GPU UUID: \t {uuid}",
            f"Device Minor: \t {minor}",
            f"Bus Location: {bus}",
        ]
        (root / bus / "information").write_text("\n".join(lines) + "\n")
    return root


def test_the_driver_lists_gpus_in_bus_order_with_their_minors(tmp_path: Path) -> None:
    gpus = driver_gpus(stand_in_driver(tmp_path / "gpus"))
    assert gpus == [Gpu(0, 1, UUID_A, "0000:3b:00.0"), Gpu(1, 0, UUID_B, "0000:af:00.0")]
    assert driver_gpus(tmp_path / "none") == []


def test_rays_ids_map_to_the_right_device_node_and_uuid(tmp_path: Path) -> None:
    gpus = driver_gpus(stand_in_driver(tmp_path / "gpus"))
    # Ray's id 0 is the first GPU in bus order, whose node is /dev/nvidia1: not /dev/nvidia0.
    assert sandbox_gpus(["0"], gpus) == (["nvidia1"], UUID_A)
    assert sandbox_gpus([UUID_B], gpus) == (["nvidia0"], UUID_B)
    assert sandbox_gpus(["1", "0"], gpus) == (["nvidia0", "nvidia1"], f"{UUID_B},{UUID_A}")
    with pytest.raises(ValueError, match="Ray assigned GPU '5', which the NVIDIA driver does not list"):
        sandbox_gpus(["5"], gpus)
    # No driver (declared GPUs, as in tests): Ray's ids stand for the minors.
    assert sandbox_gpus(["3"], []) == (["nvidia3"], "3")


def test_a_declared_gpu_sandbox_runs_with_sys_and_the_workers_threads(tmp_path: Path) -> None:
    settings = SandboxConfig(workspace_mb=64, threads=3)
    box = open_sandbox(settings, tmp_path / "ws", tmp_path, gpu_ids=["1"])

    async def run() -> str:
        try:
            command = "echo $CUDA_VISIBLE_DEVICES $OMP_NUM_THREADS $OPENBLAS_NUM_THREADS; ls /sys; ls /dev"
            return (await box.run_shell(command, 20)).output
        finally:
            await box.close()

    lines = asyncio.run(run()).splitlines()
    assert lines[0] == "1 3 3", lines
    assert {"bus", "devices", "module"} <= set(lines[1:]) and "fs" not in lines[1:]  # no cgroupfs etc.
    assert not any(line.startswith("nvidia") for line in lines[1:])  # stand-ins: no node on this machine


def test_threads_come_from_the_workers_cpus_unless_set() -> None:
    assert SandboxConfig().with_threads(8).threads == 8
    assert SandboxConfig().with_threads(0.5).threads == 1
    assert SandboxConfig(threads=2).with_threads(8).threads == 2
