"""GPU sandbox check: one project sandbox for GPU 0 must see exactly one CUDA device and run a matmul.

NOT RUN YET: the session that wrote this script had no GPU machine. Run it on a machine with an
NVIDIA GPU and torch, e.g. the project's device machine (one H200, torch, no Ray, no bwrap):

    apt-get download bubblewrap                     # here, where apt can reach the archive
    python bench/gpu_sandbox_check.py --bwrap-deb bubblewrap_*.deb   # there

Without `bwrap` on PATH the .deb is unpacked with `dpkg -x` into a temporary directory and its
`usr/bin` put first on PATH. The sandbox comes from the project's Ray-free `sandbox` package
(`open_sandbox` with Ray's id "0", as a worker holding GPU 0 would open it); inside it, the
interpreter running this script (sys.prefix is bound read-only) imports torch and checks
`torch.cuda.device_count() == 1` and a 1024 x 1024 matrix product against the CPU's. Prints what the
driver lists, what the sandbox sees and OK, or what failed; exit 0 only when every check holds.
"""

import argparse
import asyncio
import glob
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox import SandboxConfig, open_sandbox
from sandbox.gpu import driver_gpus, driver_library_dirs, sandbox_gpus

INSIDE = """
import os, torch
print("CUDA_VISIBLE_DEVICES", os.environ.get("CUDA_VISIBLE_DEVICES"))
print("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS"))
count = torch.cuda.device_count()
print("device_count", count)
print("device", torch.cuda.get_device_name(0))
a = torch.randn(1024, 1024, generator=torch.Generator().manual_seed(0))
gpu = (a.cuda() @ a.cuda()).cpu()
error = (gpu - a @ a).abs().max().item() / (a @ a).abs().max().item()
print("matmul relative error", error)
print("INSIDE-OK" if count == 1 and error < 1e-2 else "INSIDE-FAILED")
"""


def ensure_bwrap(deb: str | None) -> None:
    """Put a bwrap on PATH: the installed one, else the one unpacked from the Debian package."""
    if shutil.which("bwrap"):
        return
    found = [deb] if deb else glob.glob(str(Path(__file__).parent / "deps" / "bubblewrap_*.deb"))
    if not found or not Path(found[0]).is_file():
        sys.exit("no bwrap on PATH and no bubblewrap .deb: pass --bwrap-deb (apt-get download bubblewrap)")
    root = tempfile.mkdtemp(prefix="bwrap-deb-")
    subprocess.run(["dpkg", "-x", found[0], root], check=True)
    os.environ["PATH"] = f"{root}/usr/bin{os.pathsep}{os.environ['PATH']}"
    print("bwrap from", found[0], "->", shutil.which("bwrap"))


async def check() -> bool:
    gpus = driver_gpus()
    print("driver lists", gpus)
    print("sandbox gets", sandbox_gpus(["0"], gpus))
    print("driver library dirs bound", driver_library_dirs())
    work = Path(tempfile.mkdtemp(prefix="gpu-sandbox-check-"))
    (work / "data").mkdir()
    # No memory cap (CUDA reserves far more address space than it uses); 4 threads per pool.
    settings = SandboxConfig(memory_mb=0, max_processes=0, workspace_mb=0, threads=4)
    box = open_sandbox(settings, work / "ws", work / "data", gpu_ids=["0"])
    try:
        listing = await box.exec(["bash", "-c", "ls /dev | grep nvidia; ls /dev/nvidia-caps 2>&1"], 30)
        print("inside /dev:", listing.output.split())
        result = await box.exec(["python", "-c", INSIDE], 300)
        print(result.output)
        return result.exit_code == 0 and "INSIDE-OK" in result.output
    finally:
        await box.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bwrap-deb", help="bubblewrap .deb to unpack when bwrap is not installed")
    args = parser.parse_args()
    ensure_bwrap(args.bwrap_deb)
    ok = asyncio.run(check())
    print("OK: one CUDA device inside the sandbox, matmul correct" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
