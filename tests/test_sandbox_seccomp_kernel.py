"""The sandbox's seccomp filter (sandbox/seccomp.py) installed by a real bwrap on this machine's
kernel: what it denies fails, and what agent code does all day (threads, fork, multiprocessing,
subprocesses, numpy) works; controls without the filter show what it adds. Its program on both
architectures is tests/test_sandbox_seccomp.py."""

import errno
import json
import os
import platform
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sandbox import seccomp
from sandbox.seccomp import SYSCALLS, program_fd

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="the project's root-worker way (setpriv to a sandbox uid) needs root and setpriv",
)
SANDBOX_UID = 100123
# EPERM as the tools say it; mount(8) as an unprivileged user refuses before it asks the kernel.
DENIED_MESSAGES = ("operation not permitted", "permission denied", "must be superuser")
TIOCSTI, TIOCLINUX = 0x5412, 0x541C

# Harmless arguments for each denied call: without the filter, even as root, each fails on them (a
# NULL pointer, a bad descriptor or flag) or does nothing that matters (unshare(0), settimeofday(NULL,
# NULL), syslog's SIZE_BUFFER, acct(NULL) in the sandbox's own PID namespace).
HARMLESS_ARGS: dict[str, tuple[int, ...]] = {
    "unshare": (0,),
    "setns": (-1, 0),
    "mount": (0, 0, 0, 0, 0),
    "umount2": (0, 0),
    "pivot_root": (0, 0),
    "chroot": (0,),
    "fsopen": (0, 0),
    "fsconfig": (-1, 0, 0, 0, 0),
    "fsmount": (-1, 0, 0),
    "fspick": (-1, 0, 0),
    "move_mount": (-1, 0, -1, 0, 0),
    "open_tree": (-1, 0, 0),
    "open_tree_attr": (-1, 0, 0, 0, 0),
    "mount_setattr": (-1, 0, 0, 0, 0),
    "ptrace": (-1, 0, 0, 0),
    "process_vm_readv": (0, 0, 0, 0, 0, 0),
    "process_vm_writev": (0, 0, 0, 0, 0, 0),
    "bpf": (-1, 0, 0),
    "perf_event_open": (0, 0, -1, -1, 0),
    "userfaultfd": (-1,),
    "keyctl": (-1, 0, 0, 0, 0),
    "add_key": (0, 0, 0, 0, 0),
    "request_key": (0, 0, 0, 0),
    "init_module": (0, 0, 0),
    "finit_module": (-1, 0, 0),
    "delete_module": (0, 0),
    "kexec_load": (0, 0xFFFF, 0, 0),
    "kexec_file_load": (-1, -1, 0, 0, 0xFFFFFFFF),
    "open_by_handle_at": (-1, 0, 0),
    "name_to_handle_at": (-1, 0, 0, 0, 0),
    "reboot": (0, 0, 0, 0),
    "swapon": (0, 0),
    "swapoff": (0,),
    "acct": (0,),
    "quotactl": (0, 0, 0, 0),
    "quotactl_fd": (-1, 0, 0, 0),
    "syslog": (10, 0, 0),
    "settimeofday": (0, 0),
    "clock_settime": (-1, 0),
    "adjtimex": (0,),
    "clock_adjtime": (-1, 0),
}
assert set(HARMLESS_ARGS) == set(seccomp.DENIED_ALWAYS)

# Run inside the sandbox by its python: argv[1] is JSON {"nr": {name: number}, "calls": {name: args},
# "arch": machine}. Prints a JSON object of what happened.
PROBE = r"""
import ctypes, errno, json, mmap, os, shutil, subprocess, sys
spec = json.loads(sys.argv[1])
nr, machine = spec["nr"], spec["arch"]
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
out = {"uid": os.getuid(), "seccomp": None}
for line in open("/proc/self/status"):
    if line.startswith("Seccomp:"):
        out["seccomp"] = int(line.split()[1])
    if line.startswith("NoNewPrivs:"):
        out["nnp"] = int(line.split()[1])

# fn(*args) in a forked child, so that what a call changes (a namespace, a persona, a tracer) stays
# there: its JSON result, or ["killed", -signal].
def in_child(fn, *args):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            result = fn(*args)
        except BaseException as e:
            result = repr(e)
        os.write(w, json.dumps(result).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    status = os.waitpid(pid, 0)[1]
    return json.loads(data) if data else ["killed", os.waitstatus_to_exitcode(status)]

def _raw(number, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(number), *[ctypes.c_long(a) for a in args])
    return ctypes.get_errno() if r == -1 else ["ok", r]

def raw(number, *args):
    return in_child(_raw, number, *args)

def _clone(flags):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr["clone"]), ctypes.c_ulong(flags), *[ctypes.c_long(0)] * 4)
    if r == 0:
        os._exit(0)
    if r == -1:
        return ctypes.get_errno()
    os.waitpid(r, 0)
    return "ok"

def clone(flags):
    return in_child(_clone, flags)

def _traceme():
    ctypes.set_errno(0)
    return "ok" if libc.ptrace(0, 0, 0, 0) == 0 else ctypes.get_errno()

def _int80():
    # getpid through int 0x80, i386's table (20): mov eax, 20; int 0x80; ret
    m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    m.write(bytes.fromhex("b814000000cd80c3"))
    f = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(m)))
    return ["ok", f()]

out["calls"] = {name: raw(nr[name], *args) for name, args in spec["calls"].items()}
out["clone_newuser"] = clone(0x10000000 | 17)
out["clone_newuser_high_bit"] = clone(0x10000000 | 17 | 1 << 32)
out["clone_newns_newnet"] = clone(0x40020000 | 17)
out["clone_fork"] = clone(0x01200000 | 17)
out["clone3"] = raw(nr["clone3"], 0, 0)
out["libc_unshare_newuser"] = raw(nr["unshare"], 0x10000000)
out["ioctl_tiocsti"] = raw(nr["ioctl"], -1, 0x5412, 0)
out["ioctl_tiocsti_high_bit"] = raw(nr["ioctl"], -1, 1 << 32 | 0x5412, 0)
out["ioctl_tioclinux"] = raw(nr["ioctl"], -1, 0x541C, 0)
out["ioctl_tcgets"] = raw(nr["ioctl"], -1, 0x5401, 0)
out["personality_query"] = raw(nr["personality"], 0xFFFFFFFF)
out["personality_no_randomize"] = raw(nr["personality"], 0x0040000)
out["ptrace_traceme"] = in_child(_traceme)
if machine == "x86_64":
    out["x32_getpid"] = raw(0x40000000 | 39)
    out["int80_getpid"] = in_child(_int80)

def command(*argv):
    if shutil.which(argv[0]) is None:
        return None
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    return [r.returncode, (r.stderr or r.stdout)[-300:]]

out["unshare_U"] = command("unshare", "-U", "true")
out["unshare_map_root"] = command("unshare", "--user", "--map-root-user", "true")
# On a folder of its own: over /tmp it would hide this python when the checkout lies there.
os.makedirs("/tmp/probe-mount", exist_ok=True)
out["mount_tmpfs"] = command("mount", "-t", "tmpfs", "x", "/tmp/probe-mount")
out["strace"] = command("strace", "-f", "-o", "/dev/null", "true")
out["bash_background"] = command("bash", "-c", "sleep 1 & wait")
# A file, not -c: spawn and forkserver children import the main module to find `square`.
work = r'''
import multiprocessing, subprocess, threading, sys
from concurrent.futures import ThreadPoolExecutor
import numpy as np

def square(x):
    return x * x

if __name__ == "__main__":
    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(square, range(100))) == 328350
    t = threading.Thread(target=square, args=(3,)); t.start(); t.join()
    for method in ("fork", "spawn", "forkserver"):
        with multiprocessing.get_context(method).Pool(2) as pool:
            assert pool.map(square, range(10)) == [x * x for x in range(10)], method
    assert subprocess.run(["true"]).returncode == 0
    assert subprocess.run("echo a | cat", shell=True, capture_output=True, text=True).stdout == "a\n"
    a = np.random.default_rng(0).standard_normal((300, 300))
    assert np.allclose(a @ np.linalg.inv(a), np.eye(300), atol=1e-6)
    print("work ok")
'''
import tempfile
with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
    f.write(work)
r = subprocess.run([sys.executable, f.name], capture_output=True, text=True, timeout=120)
out["work"] = [r.returncode, (r.stdout + r.stderr)[-1500:]]
print(json.dumps(out))
"""


def _python_binds() -> list[str]:
    """bwrap options that let an unprivileged sandbox user run this python: its prefixes under a
    folder others cannot pass (pyenv under /root) are bound into a fresh 0755 tmpfs over that folder."""
    blocked: dict[str, list[str]] = {}
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix)):
        for parent in reversed(Path(prefix).parents[:-1]):
            if not os.stat(parent).st_mode & stat.S_IXOTH:
                blocked.setdefault(str(parent), []).append(prefix)
                break
    argv: list[str] = []
    for top, prefixes in blocked.items():
        argv += ["--perms", "0755", "--tmpfs", top]
        for prefix in prefixes:
            for parent in reversed(Path(prefix).parents):
                if parent.is_relative_to(top) and parent != Path(top):
                    argv += ["--perms", "0755", "--dir", str(parent)]
            argv += ["--ro-bind", prefix, prefix]
    return argv


def run_probe(mode: str, filtered: bool = True) -> dict[str, Any]:
    """The probe's findings in a bwrap sandbox of `mode`: "plain" (root, only a PID and mount
    namespace), "project" (a root worker's sandbox as sandbox/bwrap.py makes it: no user namespace,
    dropped to an unprivileged uid with no capabilities and no_new_privs), "userns" (bwrap's own user
    namespace with --disable-userns)."""
    argv = ["bwrap", "--die-with-parent", "--new-session", "--ro-bind", "/", "/", "--dev", "/dev"]
    argv += ["--proc", "/proc", "--perms", "1777", "--tmpfs", "/tmp", "--perms", "1777"]
    argv += ["--tmpfs", "/dev/shm", *_python_binds()]
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix)):  # a checkout under /tmp: bound back
        if Path(prefix).is_relative_to("/tmp"):
            for parent in reversed(Path(prefix).parents):
                if parent.is_relative_to("/tmp") and parent != Path("/tmp"):
                    argv += ["--perms", "0755", "--dir", str(parent)]
            argv += ["--ro-bind", prefix, prefix]
    drop: list[str] = []
    if mode == "plain":
        argv += ["--unshare-pid"]
    elif mode == "project":
        argv += ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-net"]
        ids = [f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_UID}", "--clear-groups"]
        drop = ["setpriv", *ids, "--nnp", "--bounding-set=-all"]
    elif mode == "userns":
        argv += ["--unshare-user", "--disable-userns", "--unshare-pid", "--unshare-net"]
    else:
        raise ValueError(mode)
    fds: tuple[int, ...] = ()
    if filtered:
        fds = (program_fd(),)
        argv += ["--seccomp", str(fds[0])]
    arch = platform.machine()
    spec = {"nr": SYSCALLS[arch], "calls": HARMLESS_ARGS, "arch": arch}
    command = [*argv, "--", *drop, sys.executable, "-c", PROBE, json.dumps(spec)]
    try:
        result = subprocess.run(
            command, pass_fds=fds, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL
        )
    finally:
        for fd in fds:
            os.close(fd)
    assert result.returncode == 0, (mode, result.stderr[-3000:])
    found: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return found


def assert_filtered(found: dict[str, Any]) -> None:
    """What the filter must make of the probe, whoever runs it."""
    assert found["seccomp"] == 2 and found["nnp"] == 1  # SECCOMP_MODE_FILTER
    wrong = {name: got for name, got in found["calls"].items() if got != errno.EPERM}
    assert not wrong, f"denied calls that did not fail with EPERM: {wrong}"
    for key in ("clone_newuser", "clone_newuser_high_bit", "clone_newns_newnet", "libc_unshare_newuser"):
        assert found[key] == errno.EPERM, key
    assert found["clone_fork"] == "ok"
    assert found["clone3"] == errno.ENOSYS
    assert found["ioctl_tiocsti"] == found["ioctl_tiocsti_high_bit"] == errno.EPERM
    assert found["ioctl_tioclinux"] == errno.EPERM
    assert found["ioctl_tcgets"] == errno.EBADF  # allowed: the kernel looks at the descriptor
    assert found["personality_query"] == ["ok", 0]
    assert found["personality_no_randomize"] == errno.EPERM
    assert found["ptrace_traceme"] == errno.EPERM
    if platform.machine() == "x86_64":
        assert found["x32_getpid"] == errno.ENOSYS
        assert found["int80_getpid"] == ["killed", -31]  # by SIGSYS
    for key in ("unshare_U", "unshare_map_root", "mount_tmpfs", "strace"):
        if found[key] is None:  # not installed
            continue
        rc, message = found[key]
        assert rc != 0 and any(m in message.lower() for m in DENIED_MESSAGES), (key, message)
    assert found["bash_background"][0] == 0, found["bash_background"]
    assert found["work"][0] == 0 and "work ok" in found["work"][1], found["work"][1]


@needs_bwrap
def test_unfiltered_control() -> None:
    """The probe without the filter, as root with only a PID namespace: what the filter denies mostly
    works or fails otherwise, so the other tests' EPERMs are the filter's."""
    if os.geteuid() != 0:
        pytest.skip("the control needs root (an unprivileged caller fails on capabilities instead)")
    found = run_probe("plain", filtered=False)
    assert found["seccomp"] == 0
    not_eperm = {name for name, got in found["calls"].items() if got != errno.EPERM}
    # Capabilities do not fail these for root; a kernel lockdown could fail kexec and modules.
    assert not_eperm >= set(HARMLESS_ARGS) - {"init_module", "finit_module", "kexec_load", "kexec_file_load"}
    assert found["calls"]["unshare"] == ["ok", 0]
    assert found["clone_newuser"] == found["clone_newuser_high_bit"] == found["clone_fork"] == "ok"
    assert found["clone3"] in (errno.EINVAL, errno.EFAULT)
    assert found["ioctl_tiocsti"] == found["ioctl_tiocsti_high_bit"] == errno.EBADF
    assert found["personality_no_randomize"][0] == "ok"
    assert found["ptrace_traceme"] == "ok"
    assert found["unshare_U"][0] == 0 and found["mount_tmpfs"][0] == 0
    assert found["work"][0] == 0, found["work"][1]


@needs_bwrap
@needs_root
def test_unfiltered_control_in_the_projects_sandbox() -> None:
    """Without the filter, the project's unprivileged sandbox user, with no capabilities and
    no_new_privs, can still make a user namespace (and get every capability inside it): that, and
    ptrace, is what the filter adds there."""
    found = run_probe("project", filtered=False)
    assert found["uid"] == SANDBOX_UID and found["seccomp"] == 0 and found["nnp"] == 1
    assert found["clone_newuser"] == "ok" and found["libc_unshare_newuser"] == ["ok", 0]
    assert found["unshare_U"][0] == 0
    assert found["ptrace_traceme"] == "ok"


@needs_bwrap
def test_filter_in_a_plain_root_sandbox() -> None:
    assert_filtered(run_probe("plain"))


@needs_bwrap
@needs_root
def test_filter_in_the_projects_root_worker_sandbox() -> None:
    found = run_probe("project")
    assert found["uid"] == SANDBOX_UID
    assert_filtered(found)


@needs_bwrap
def test_filter_with_bwraps_own_user_namespace_and_disable_userns() -> None:
    help_text = subprocess.run(["bwrap", "--help"], capture_output=True, text=True).stdout
    if "--disable-userns" not in help_text:
        pytest.skip("this bwrap has no --disable-userns (it came in 0.8.0)")
    assert_filtered(run_probe("userns"))


@needs_bwrap
def test_disable_userns_alone_already_refuses_user_namespaces() -> None:
    """Without the filter, bwrap's --disable-userns stops a nested user namespace by itself (the
    kernel's limit, ENOSPC), while the rest works: the filter is a second wall there."""
    help_text = subprocess.run(["bwrap", "--help"], capture_output=True, text=True).stdout
    if "--disable-userns" not in help_text:
        pytest.skip("this bwrap has no --disable-userns (it came in 0.8.0)")
    found = run_probe("userns", filtered=False)
    assert found["seccomp"] == 0
    assert found["clone_newuser"] == found["libc_unshare_newuser"] == errno.ENOSPC
    assert found["unshare_U"][0] != 0
    assert found["work"][0] == 0, found["work"][1]
