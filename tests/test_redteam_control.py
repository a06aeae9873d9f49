"""Red-team drills: nothing privileged follows a path an agent controls, and nothing in the sandbox
tells where things lie on the host.

Each drill plants, from inside the default (bubblewrap) sandbox, a link at a name the host side
writes or uses next: the next command script and the next kernel connection file (the session's
control folder), the next kernel's sockets (its ipc folder), the refit's log (its workspace), and
links out of a workspace that is then removed. The link's target is a host file standing for one of
the project's own modules: before the control folder was read-only to the sandbox, root wrote the
agent's next command into it, and the next lazy import ran it on the host. After each drill the
same sandbox goes on working.
"""

import asyncio
import os
import select
import shutil
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from evaluation.refit import run_refit
from sandbox import SandboxConfig, open_sandbox
from sandbox.base import Sandbox
from sandbox.bwrap import BwrapSandbox, bwrap_missing
from sandbox.safe_files import remove_tree

pytestmark = pytest.mark.skipif(bwrap_missing() is not None, reason=str(bwrap_missing()))

LIMITS = SandboxConfig(memory_mb=2048, max_processes=128, workspace_mb=64)
ORIGINAL = "# one of the project's own modules, imported lazily by the worker\n"
T = TypeVar("T")


def victim(tmp_path: Path, name: str = "victim.py") -> Path:
    """A host file the worker could be tricked into writing, owned by the worker as its code is."""
    path = tmp_path / "host" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(ORIGINAL)
    return path


def untouched(path: Path) -> bool:
    info = path.stat()
    return path.read_text() == ORIGINAL and info.st_uid == os.geteuid()


def in_sandbox(tmp_path: Path, body: Callable[[Sandbox], Awaitable[T]]) -> T:
    public = tmp_path / "public"
    public.mkdir(exist_ok=True)
    sandbox = open_sandbox(LIMITS, tmp_path / "ws", public, kill_grace_s=0.5)
    assert isinstance(sandbox, BwrapSandbox)

    async def run() -> T:
        try:
            return await body(sandbox)
        finally:
            await sandbox.close()

    return asyncio.run(run())


def test_a_link_at_the_next_command_script_makes_the_worker_write_nothing(tmp_path: Path) -> None:
    target = victim(tmp_path)

    async def body(sandbox: Sandbox) -> tuple[str, str]:
        plant = " ".join(f"ln -sf {target} /run/aira/cmd-{n}.sh 2>&1;" for n in range(2, 5))
        planted = await sandbox.run_shell(f"{plant} ls -la /run/aira; echo planted", 20)
        after = await sandbox.run_shell("echo PAYLOAD-RAN-ON-THE-HOST-NOT", 20)
        return planted.output, after.output

    planted, after = in_sandbox(tmp_path, body)
    assert untouched(target), target.read_text()
    assert "Read-only file system" in planted, planted
    assert "PAYLOAD-RAN-ON-THE-HOST-NOT" in after  # the shell goes on


def test_a_link_at_the_next_kernel_connection_file_makes_the_worker_write_nothing(tmp_path: Path) -> None:
    target = victim(tmp_path)

    async def body(sandbox: Sandbox) -> tuple[str, str]:
        plant = (
            "import os\nfor n in range(2, 5):\n    try:\n"
            f"        os.symlink({str(target)!r}, f'/run/aira/kernel-{{n}}.json'); print('planted')\n"
            "    except OSError as e:\n        print('refused:', e)\n"
        )
        planted = await sandbox.run_python(plant, 60)
        await sandbox.run_python("import os; os._exit(0)", 60)  # the next call starts kernel-2
        after = await sandbox.run_python("print('a new kernel', 6 * 7)", 60)
        return planted.output, after.output

    planted, after = in_sandbox(tmp_path, body)
    assert untouched(target), target.read_text()
    assert "planted" not in planted and "Read-only file system" in planted, planted
    assert "a new kernel 42" in after, after


def test_a_planted_kernel_socket_is_never_connected_to(tmp_path: Path) -> None:
    # A unix socket of the host's standing for Ray's, the policy server's or another sandbox's.
    (tmp_path / "host").mkdir()
    host_socket = tmp_path / "host" / "service.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(host_socket))
    listener.listen()
    listener.setblocking(False)

    async def body(sandbox: Sandbox) -> tuple[str, str, str]:
        # Every folder the kernel's sockets have lived in; the next kernel's names, as links.
        plant = (
            "import os\nfor folder in ('/run/aira', '/run/aira-ipc'):\n    for port in range(1, 6):\n"
            "        try:\n"
            f"            os.symlink({str(host_socket)!r}, f'{{folder}}/kernel-2-{{port}}')\n"
            "            print('planted')\n"
            "        except OSError as e:\n            print('refused:', folder, e)\n"
        )
        planted = await sandbox.run_python(plant, 60)
        await sandbox.run_python("import os; os._exit(0)", 60)
        try:
            second = (await sandbox.run_python("print('kernel 2')", 60)).output
        except OSError as e:  # the kernel could not bind its sockets: the agent broke its own kernel
            second = f"OSError: {e}"
        third = await sandbox.run_python("print('kernel', 3)", 60)
        return planted.output, second, third.output

    try:
        planted, second, third = in_sandbox(tmp_path, body)
        assert "planted" in planted, planted  # the ipc folder is the sandbox's to write
        readable, _, _ = select.select([listener], [], [], 1.0)
        assert not readable, "the worker connected to the host socket the agent linked"
    finally:
        listener.close()
    assert "symbolic link" in second or "did not start" in second, second
    assert "kernel 3" in third  # the sandbox goes on with a fresh kernel


def test_the_refit_writes_its_log_beside_the_workspace_never_through_a_link(tmp_path: Path) -> None:
    target = victim(tmp_path)
    code = (
        "import os\n"
        f"os.symlink({str(target)!r}, 'refit.log')\n"
        "open('submission.csv', 'w').write('id,y\\na,1\\n')\n"
        "print('REFIT OUTPUT')\n"
    )

    def write_data(folder: Path) -> None:
        folder.mkdir(parents=True)
        (folder / "train.csv").write_text("id,y\n")

    root = tmp_path / "refit"
    submission, reason, _ = run_refit(code, "/data", LIMITS, root, write_data, 60)
    assert reason is None and submission == b"id,y\na,1\n", reason
    assert untouched(target), target.read_text()
    assert "REFIT OUTPUT" in (root / "refit.log").read_text()


def test_removing_a_workspace_never_follows_its_links(tmp_path: Path) -> None:
    # Passes on the code before the trust-boundary change too (shutil.rmtree is descriptor-based
    # here): a guard that the one removal every privileged clean-up uses stays that way.
    keep = tmp_path / "host" / "keep"
    keep.mkdir(parents=True)
    (keep / "labels.csv").write_text("id,y\n")
    target = victim(tmp_path)

    async def body(sandbox: Sandbox) -> str:
        command = f"ln -s {keep} out; ln -s {target} file; mkdir -p d/e; ln -s {keep} d/e/deep; echo ok"
        return (await sandbox.run_shell(command, 20)).output

    assert "ok" in in_sandbox(tmp_path, body)
    remove_tree(str(tmp_path / "ws"))
    assert not (tmp_path / "ws").exists()
    assert (keep / "labels.csv").read_text() == "id,y\n" and untouched(target)


def test_a_directory_the_worker_makes_in_a_workspace_is_the_sandboxs(tmp_path: Path) -> None:
    async def body(sandbox: Sandbox) -> str:
        await sandbox.write_file("given/deeper/notes.txt", "from the worker\n")
        return (await sandbox.run_shell("echo mine > given/deeper/mine.txt && cat given/deeper/*", 20)).output

    seen = in_sandbox(tmp_path, body)
    assert "from the worker" in seen and "mine" in seen, seen


def test_no_process_in_the_sandbox_shows_a_host_path(tmp_path: Path) -> None:
    project = Path(__file__).resolve().parents[1]

    async def body(sandbox: Sandbox) -> tuple[str, str, str]:
        assert isinstance(sandbox, BwrapSandbox)
        hosts = [str(sandbox.workspace), str(sandbox._ctl_root), str(tmp_path / "public")]
        cmdlines = await sandbox.run_shell(
            "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done; ls -l /proc/self/fd/", 20
        )
        files = (
            "import glob, sys, site\n"
            "for top in site.getsitepackages():\n"
            "    for pattern in ('__editable__*', '*.pth', '*.egg-link', '*.dist-info/direct_url.json'):\n"
            "        for path in glob.glob(f'{top}/{pattern}'):\n"
            "            print(open(path).read())\n"
        )
        seen = await sandbox.run_python(files, 60)
        return cmdlines.output, seen.output, " ".join(hosts)

    cmdlines, files, hosts = in_sandbox(tmp_path, body)
    for path in hosts.split():
        assert path not in cmdlines, (path, cmdlines)
    assert "memfd:" not in cmdlines, cmdlines  # bwrap's options are not left open for the agent
    # No editable finder or .pth naming the project's checkout. (The environment's own path still
    # shows where it lies: it is mounted at its host path.)
    assert str(project) not in files, files


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux's unshare")
def test_the_sandbox_cannot_make_a_user_namespace(tmp_path: Path) -> None:
    async def body(sandbox: Sandbox) -> tuple[str, str]:
        shell = await sandbox.run_shell("unshare --user --map-root-user id; echo rc=$?", 20)
        code = (  # unshare(CLONE_NEWUSER) through libc, as any agent's C extension could call it
            "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "rc = libc.unshare(0x10000000)\n"
            "print('MADE' if rc == 0 else f'refused {os.strerror(ctypes.get_errno())}')"
        )
        python = await sandbox.exec([sys.executable, "-c", code], 20)
        return shell.output, python.output

    shell, python = in_sandbox(tmp_path, body)
    assert "rc=0" not in shell and "uid=0" not in shell, shell
    assert "refused" in python and "MADE" not in python, python


def test_the_worker_environment_the_code_and_the_data_are_read_only_inside(tmp_path: Path) -> None:
    import site

    targets = [f"{site.getsitepackages()[0]}/aira-evil.pth", f"{sys.prefix}/bin/python", "/data/labels.csv"]

    async def body(sandbox: Sandbox) -> str:
        command = " ".join(f"(echo x >> {t}) 2>&1 | tail -1;" for t in targets)
        return (await sandbox.run_shell(command + " echo end", 20)).output

    seen = in_sandbox(tmp_path, body)
    denials = ("Read-only file system", "Permission denied")
    refused = [line for line in seen.splitlines() if line.endswith(denials)]
    assert len(refused) == len(targets), seen
    assert not Path(targets[0]).exists()
