"""What a sandbox needs for CUDA and NVML to work on its GPU, and only its GPU.

Ray names a worker's GPUs by the ids of the node's CUDA_VISIBLE_DEVICES (indices in the driver's
PCI-bus order, or UUIDs). The device node of a GPU is /dev/nvidia<minor>, and the minor number is
the driver's, not the index: both come from /proc/driver/nvidia/gpus/<bus id>/information. Inside,
CUDA_VISIBLE_DEVICES names the GPU by UUID where the driver gives one, so CUDA sees exactly it
(device 0) whatever else the driver reports. Besides the GPU's node the sandbox gets the control,
UVM and modeset nodes and /dev/nvidia-caps, the driver's libraries where they live outside /usr,
and the parts of /sys that CUDA and NVML read (PCI devices, drivers and modules), read-only.
"""

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

PROC_GPUS = Path("/proc/driver/nvidia/gpus")
SHARED_NODES = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset")
# /sys as CUDA and NVML read it: PCI topology and attributes, NUMA nodes, the nvidia modules.
SYS_PARTS = ("/sys/devices", "/sys/bus", "/sys/class", "/sys/dev", "/sys/module")
_DRIVER_LIBS = ("libcuda.so", "libnvidia-", "libcudadebugger.so", "libnvcuvid.so")
# Where the sandbox already sees libraries (bwrap.py binds /usr, and /lib* are its links or binds).
_BOUND_LIB_ROOTS = ("/usr/", "/lib/", "/lib32/", "/lib64/")


class Gpu(NamedTuple):
    """One GPU as the driver lists it: its position in bus order, device minor, UUID and PCI bus id."""

    position: int
    minor: int
    uuid: str | None
    bus_id: str


class SandboxGpus(NamedTuple):
    """What a sandbox gets for its GPUs: device nodes to bind and CUDA_VISIBLE_DEVICES inside."""

    device_nodes: list[str]
    visible_devices: str


def driver_gpus(proc_gpus: Path = PROC_GPUS) -> list[Gpu]:
    """The node's GPUs from the driver's /proc files, in PCI bus order (nvidia-smi's, Ray's ids)."""
    if not proc_gpus.is_dir():
        return []
    gpus = []
    for index, bus in enumerate(sorted(p.name for p in proc_gpus.iterdir())):
        fields: dict[str, str] = {}
        for line in (proc_gpus / bus / "information").read_text().splitlines():
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
        uuid = fields.get("GPU UUID")
        minor = int(fields.get("Device Minor", index))
        gpus.append(Gpu(index, minor, uuid if uuid and uuid.startswith("GPU-") else None, bus))
    return gpus


def sandbox_gpus(ray_ids: Sequence[str], gpus: Sequence[Gpu]) -> SandboxGpus:
    """The device nodes and CUDA_VISIBLE_DEVICES for the GPUs Ray gave a worker.

    A numeric id is an index into the driver's list, a `GPU-...` id a UUID. Where the driver lists
    no GPU (declared GPUs on a machine without one, as in tests), the id is taken as the minor and
    CUDA_VISIBLE_DEVICES keeps Ray's ids. An id the driver does not know is an error that says so.
    """
    if not gpus:
        return SandboxGpus([f"nvidia{i}" for i in ray_ids], ",".join(ray_ids))
    nodes, visible = [], []
    for ray_id in ray_ids:
        match = [
            g for g in gpus if (g.uuid == ray_id if ray_id.startswith("GPU-") else str(g.position) == ray_id)
        ]
        if not match:
            known = ", ".join(f"{g.position} ({g.uuid})" for g in gpus)
            raise ValueError(
                f"Ray assigned GPU {ray_id!r}, which the NVIDIA driver does not list (it has {known}): "
                "start Ray with CUDA_VISIBLE_DEVICES naming GPUs of this node"
            )
        nodes.append(f"nvidia{match[0].minor}")
        visible.append(match[0].uuid or str(match[0].position))
    return SandboxGpus(nodes, ",".join(visible))


def driver_library_dirs() -> list[str]:
    """Directories of the NVIDIA driver's user-space libraries (from `ldconfig -p`) that lie outside
    what the sandbox mounts anyway: the loader's cache, bound from the host, points there."""
    try:
        listing = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    dirs = set()
    for line in listing.splitlines():
        name, _, path = line.strip().partition(" => ")
        if name.startswith(_DRIVER_LIBS) and path:
            folder = os.path.dirname(os.path.realpath(path))
            if not (folder + "/").startswith(_BOUND_LIB_ROOTS):
                dirs.add(folder)
            if not (os.path.dirname(path) + "/").startswith(_BOUND_LIB_ROOTS):
                dirs.add(os.path.dirname(path))
    return sorted(dirs)


def gpu_bwrap_args(device_nodes: Sequence[str], library_dirs: Sequence[str]) -> list[str]:
    """bwrap options for the GPU's device nodes, the shared NVIDIA nodes, /dev/nvidia-caps, the
    driver's libraries and the parts of /sys CUDA and NVML read (each only where it exists)."""
    argv: list[str] = []
    for node in [*device_nodes, *SHARED_NODES, "nvidia-caps"]:
        argv += ["--dev-bind-try", f"/dev/{node}", f"/dev/{node}"]
    for folder in library_dirs:
        # bwrap would make missing parents 0700: the sandbox user could not pass them.
        for parent in reversed(Path(folder).parents[:-1]):
            argv += ["--perms", "0755", "--dir", str(parent)]
        argv += ["--ro-bind-try", folder, folder]
    argv += ["--perms", "0755", "--dir", "/sys"]
    for part in SYS_PARTS:
        argv += ["--ro-bind-try", part, part]
    return argv
