"""The bubblewrap sandbox (`sandbox.isolation=bwrap`, the default): agent code in Linux namespaces.

Inside, the agent sees: the task's public files read-only at /data, its workspace read-write at
/workspace (its cwd and HOME), a private tmpfs /tmp, /usr and the Python environment of the worker
(sys.prefix, sys.base_prefix) read-only, a few files of /etc, its own /proc and a minimal /dev with
only its GPU's device nodes. Paths in `sandbox.hide` (the package data bundled tasks are built from,
added by the launcher) are covered by something empty and read-only. Nothing else of the host: not
the run directory, not the evaluator's files, not other workspaces. The network namespace is empty
unless `network=True`, and then its own, with user-mode networking that reaches outside but not the
host's loopback or addresses (sandbox/network.py). Its processes cannot see or signal the worker's
(own PID namespace).

bwrap's options reach it on a memfd (`--args`), not its command line, so no process inside finds
a host path in /proc/1/cmdline; a seccomp filter (sandbox/seccomp.py, `--seccomp`) refuses new
namespaces, mounts, ptrace and the other kernel surface agent code never needs. The session's
control folder is read-only inside (/run/aira); its ipc folder (/run/aira-ipc) is the one place the
sandbox writes for the worker (sandbox/safe_files.py says how the worker treats both).

Limits: a cgroup per sandbox caps the memory of all its processes together (`memory_mb`) and their
number (`max_processes`), see sandbox/cgroup.py; where the node allows no cgroup, each process gets
RLIMIT_AS instead (not with a GPU: CUDA reserves more address space than it uses). Each process
also gets RLIMIT_NPROC (`max_processes`) and RLIMIT_FSIZE (`workspace_mb`); the workspace's total
size is checked while a command runs, and the tmpfs /tmp is capped at `workspace_mb`.

RLIMIT_NPROC counts the processes of a real user and the kernel does not apply it to root (nor to
root mapped into a user namespace), so a worker running as root runs bwrap without a user
namespace and drops, inside, to an unprivileged user of the sandbox's own, with no capabilities and
no_new_privs (`setpriv`). Each sandbox gets a fresh uid (from the worker's pid and a counter,
skipping any uid that still runs a process), so processes still dying in an earlier sandbox never
count toward the next one's limit, and closing a sandbox kills whatever still runs as its user. A
non-root worker's sandboxes run as its own user in a user namespace, and the limit is then added to
what that user already runs.
"""

import asyncio
import contextlib
import itertools
import logging
import os
import shutil
import signal
import sys
import time
import weakref
from collections.abc import Awaitable, Iterator, Sequence
from pathlib import Path

from sandbox.base import ExecResult
from sandbox.cgroup import CgroupUnavailableError, SandboxCgroup, group_name, remove_orphans
from sandbox.config import SandboxConfig
from sandbox.gpu import SandboxGpus, driver_gpus, driver_library_dirs, gpu_bwrap_args, sandbox_gpus
from sandbox.masks import host_path_files, mask_argv
from sandbox.network import UserNetwork
from sandbox.process import ProcessSandbox
from sandbox.seccomp import SeccompUnavailableError, filter_program

WORKSPACE = "/workspace"
DATA = "/data"
CTL = "/run/aira"
IPC = "/run/aira-ipc"
_ETC = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "alternatives",
    "localtime",
    "ssl",
    "ca-certificates",
    "nsswitch.conf",
    "passwd",
    "group",
    "mime.types",
)
_NET_ETC = ("resolv.conf", "hosts", "gai.conf")
_SANDBOX_UID_BASE = 100000
# Sandbox uids a worker process cycles through: 100000 + pid * 256 + slot stays below 2**31.
_UIDS_PER_PROCESS = 256
_uid_slots = itertools.count()
_cgroup_names = itertools.count()
# Processes of the sandbox itself that its cgroup counts besides the agent's (two per bwrap: the
# shell's, the kernel's and a command's), so that `max_processes` stays the agent's own budget.
_PLUMBING = 16
# Whether this worker has logged that its sandboxes get no cgroup, or no seccomp filter (said once).
_cgroup_refused = False
_seccomp_refused = False
logger = logging.getLogger(__name__)
# How often (s) a running command may re-measure the workspace: walking it costs time.
_MEASURE_EVERY_S = 1.0


class BwrapMissingError(RuntimeError):
    """bubblewrap is not installed on this node."""


def bwrap_missing() -> str | None:
    """Why the bwrap sandbox cannot run here (with how to fix it), or None when it can."""
    if shutil.which("bwrap") is None:
        return (
            "bubblewrap (`bwrap`) is not installed: install it (Debian/Ubuntu: `apt-get install bubblewrap`, "
            "Fedora: `dnf install bubblewrap`) or, to run agent code without isolation, set "
            "sandbox.isolation=none"
        )
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        return (
            "`setpriv` (util-linux) is not installed; a root worker needs it to run sandboxes as an "
            "unprivileged user: install util-linux, or set sandbox.isolation=none"
        )
    return None


def sandbox_uid() -> int | None:
    """A user for a new sandbox: a fresh one nothing on the node runs as when the worker is root,
    else None (the sandbox keeps the worker's user)."""
    if os.geteuid() != 0:
        return None
    first = _SANDBOX_UID_BASE + os.getpid() * _UIDS_PER_PROCESS
    busy = set(_threads_by_uid())
    for _ in range(_UIDS_PER_PROCESS):
        uid = first + next(_uid_slots) % _UIDS_PER_PROCESS
        if uid not in busy:
            return uid
    raise RuntimeError(
        f"all {_UIDS_PER_PROCESS} sandbox users of this worker still run processes: earlier sandboxes "
        "were not cleaned up"
    )


def bwrap_argv(
    settings: SandboxConfig,
    workspace: Path,
    data_dir: Path,
    ctl_root: Path,
    gpus: SandboxGpus | None,
    nproc: int,
    uid: int | None,
    address_space: bool = True,
) -> list[str]:
    """The bwrap command line (and the limits wrapper inside it) that every sandboxed command follows.

    `ctl_root` holds the session's control folders (sandbox/process.py `control_folders`): its
    `ctl/` is bound read-only at /run/aira, its `ipc/` read-write at /run/aira-ipc.
    `gpus` are the sandbox's GPUs (sandbox/gpu.py), None for none. `uid` is the unprivileged user to
    drop to inside (a root worker), None to keep the caller's.
    `address_space` applies `memory_mb` to each process (RLIMIT_AS): when a cgroup caps the sandbox's
    total instead, or a GPU is bound (CUDA reserves more address space than any limit), it is off.
    """
    # By its full path: commands run with the sandbox's PATH, which need not hold where bwrap is.
    argv = [shutil.which("bwrap") or "bwrap", "--die-with-parent", "--new-session"]
    if uid is None:  # its own user namespace, in which it may not make another one
        argv += ["--unshare-all", "--unshare-user", "--disable-userns"]
    else:  # no user namespace: inside it, root would be exempt from RLIMIT_NPROC again
        argv += ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
        argv += [] if settings.network else ["--unshare-net"]
    if settings.network:  # the namespace of sandbox/network.py, which the command has joined
        argv.append("--share-net")
    # /tmp first: binds of host paths below /tmp (test run dirs) must not be hidden by it. It lives in
    # memory, so it is capped like the workspace.
    size = ["--size", str(settings.workspace_mb << 20)] if settings.workspace_mb else []
    argv += ["--perms", "1777", *size, "--tmpfs", "/tmp", "--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.islink(top):
            argv += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            argv += ["--ro-bind", top, top]
    # Made first and 0755: bwrap would make it 0700, and the sandbox user could read nothing in it.
    argv += ["--perms", "0755", "--dir", "/etc"]
    for name in _ETC + (_NET_ETC if settings.network else ()):
        argv += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix)):
        if not Path(prefix).is_relative_to("/usr"):
            # bwrap would make the missing parents 0700: the sandbox user could not pass them.
            for parent in reversed(Path(prefix).parents[:-1]):
                argv += ["--perms", "0755", "--dir", str(parent)]
            argv += ["--ro-bind", prefix, prefix]
    argv += mask_argv((*settings.hide, *host_path_files(sys.prefix, sys.base_prefix)))
    argv += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/dev/shm"]
    if gpus is not None:
        argv += gpu_bwrap_args(gpus.device_nodes, driver_library_dirs())
    argv += ["--ro-bind", str(data_dir), DATA, "--bind", str(workspace), WORKSPACE]
    argv += ["--perms", "0755", "--dir", str(Path(CTL).parent), "--ro-bind", str(ctl_root / "ctl"), CTL]
    argv += ["--bind", str(ctl_root / "ipc"), IPC]
    argv += ["--chdir", WORKSPACE, "--setenv", "HOME", WORKSPACE, "--setenv", "TMPDIR", "/tmp"]
    # max_processes=0 is no limit: an unprivileged user could not raise RLIMIT_NPROC to "a lot" anyway.
    limits = [f"-u {nproc}"] if settings.max_processes else []
    if settings.memory_mb and address_space:
        limits.append(f"-v {settings.memory_mb * 1024}")
    if settings.workspace_mb:
        limits.append(f"-f {settings.workspace_mb * 1024}")  # bash counts 1024-byte blocks
    wrapper = (f"ulimit -S -H {' '.join(limits)} || exit 126; " if limits else "") + 'exec "$@"'
    drop = []
    if uid is not None:
        ids = [f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
        drop = ["setpriv", *ids, "--nnp", "--bounding-set=-all"]
    return [*argv, "--", *drop, "/bin/bash", "-c", wrapper, "aira-limits"]


class _Memfile:
    """Bytes in an anonymous in-memory file; each `reopen` gives a new descriptor read from the start."""

    def __init__(self, name: str, data: bytes) -> None:
        self._fd = os.memfd_create(name, os.MFD_CLOEXEC)
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def reopen(self) -> int:
        return os.open(f"/proc/self/fd/{self._fd}", os.O_RDONLY | os.O_CLOEXEC)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class BwrapSandbox(ProcessSandbox):
    """Runs the agent's commands, shell and kernel in one bubblewrap namespace set per episode.

    Each command and each session is its own `bwrap` invocation over the same mounts, so they share
    the workspace; the tmpfs /tmp is private to each. See the module docstring for what is inside.
    """

    def __init__(
        self,
        workspace: Path,
        data_dir: Path,
        env: dict[str, str] | None = None,
        *,
        settings: SandboxConfig | None = None,
        gpu_ids: Sequence[str] = (),
        max_output_bytes: int = 4 << 20,
        kill_grace_s: float = 2.0,
    ) -> None:
        if why := bwrap_missing():
            raise BwrapMissingError(why)
        super().__init__(
            workspace, data_dir, env, max_output_bytes=max_output_bytes, kill_grace_s=kill_grace_s
        )
        settings = settings or SandboxConfig()
        self._settings = settings
        self._owner = sandbox_uid()
        nproc = settings.max_processes or 1 << 20
        if self._owner is None:
            nproc += _processes_of(os.getuid())
        else:
            _chown_tree(self._workspace, self._owner)
            # The sandbox's group reads the control files, its user owns the ipc folder; the worker
            # keeps the control folder itself (the sandbox sees it read-only in any case).
            os.chown(self._ctl, 0, self._owner, follow_symlinks=False)
            os.chmod(self._ctl, 0o750, follow_symlinks=False)
            os.chown(self._ipc, self._owner, self._owner, follow_symlinks=False)
        self._env.update({"HOME": WORKSPACE, "TMPDIR": "/tmp"})
        gpus = sandbox_gpus(gpu_ids, driver_gpus()) if gpu_ids else None
        if gpus is not None:  # by UUID where the driver gives one: CUDA then sees just that GPU
            self._env["CUDA_VISIBLE_DEVICES"] = gpus.visible_devices
        self._cgroup = _sandbox_cgroup(settings)
        # Where sandbox.memory_mb applies: "sandbox" (a cgroup's total), "process" (RLIMIT_AS each), "none".
        self.memory_scope: str
        if self._cgroup is not None:
            weakref.finalize(self, self._cgroup.close)  # also when the episode never closes it
            self.memory_scope = "sandbox" if settings.memory_mb else "none"
        else:
            self.memory_scope = "process" if settings.memory_mb and not gpu_ids else "none"
        argv = bwrap_argv(
            settings,
            self._workspace,
            data_dir.resolve(),
            self._ctl_root,
            gpus,
            nproc,
            self._owner,
            address_space=self.memory_scope == "process",
        )
        # The options (host paths among them) reach bwrap on a descriptor, so that no process in the
        # sandbox reads them off bwrap's command line (/proc/1/cmdline).
        split = argv.index("--")
        self._options = _Memfile("aira-bwrap-args", b"".join(a.encode() + b"\0" for a in argv[1:split]))
        weakref.finalize(self, self._options.close)
        # And a seccomp filter (sandbox/seccomp.py) on another, where the machine has one.
        self._filter = _seccomp_filter()
        if self._filter is not None:
            weakref.finalize(self, self._filter.close)
        seccomp = ["--seccomp", "{seccomp}"] if self._filter is not None else []
        prefix = [argv[0], "--args", "{args}", *seccomp, *argv[split:]]
        # Its own network namespace with user-mode networking, never the host's (sandbox/network.py).
        self._network = UserNetwork(settings.refuse) if settings.network else None
        if self._network is not None:
            weakref.finalize(self, self._network.close)
        enter = self._network.enter if self._network else []
        self._prefix = [*(self._cgroup.join_argv() if self._cgroup else []), *enter, *prefix]
        self._ctl_inside, self._ipc_inside = CTL, IPC
        self._measured_at = 0.0

    @contextlib.contextmanager
    def _launch(self) -> Iterator[tuple[list[str], tuple[int, ...]]]:
        """The prefix with a fresh descriptor of the options for this start (bwrap reads it to its
        end and closes it before the sandboxed command runs)."""
        fds = {"{args}": self._options.reopen()}
        try:
            if self._filter is not None:
                fds["{seccomp}"] = self._filter.reopen()
            yield [str(fds[a]) if a in fds else a for a in self._prefix], tuple(fds.values())
        finally:
            for fd in fds.values():
                os.close(fd)

    @property
    def user(self) -> int | None:
        """The uid this sandbox's processes run as (its own, for a root worker), None for the worker's."""
        return self._owner

    @property
    def data_dir(self) -> str:
        """The task data as the agent's code sees it: /data, read-only."""
        return DATA

    @property
    def workdir(self) -> str:
        """The workspace as the agent's code sees it."""
        return WORKSPACE

    async def exec(self, argv: list[str], timeout: float, input: str | None = None) -> ExecResult:
        """Run `argv` in the sandbox (see ProcessSandbox.exec); says so when it ran out of memory."""
        return await self._noting_oom(super().exec(argv, timeout, input))

    async def run_shell(self, command: str, timeout: float) -> ExecResult:
        """Run `command` in the persistent bash; says so when it ran out of memory."""
        return await self._noting_oom(super().run_shell(command, timeout))

    async def run_python(self, code: str, timeout: float) -> ExecResult:
        """Run `code` in the persistent kernel; says so when it ran out of memory."""
        return await self._noting_oom(super().run_python(code, timeout))

    async def _noting_oom(self, call: Awaitable[ExecResult]) -> ExecResult:
        """Await `call` (not started yet) and add a note when the kernel's out-of-memory killer ended
        processes of this sandbox meanwhile."""
        if self._cgroup is None:
            return await call
        before = self._cgroup.oom_kills()
        result = await call
        killed = self._cgroup.oom_kills() - before
        if killed <= 0:
            return result
        note = (
            f"\n[out of memory: the sandbox reached its limit of {self._settings.memory_mb} MB "
            f"(sandbox.memory_mb) and the kernel killed {killed} of its processes; use less memory]"
        )
        return result._replace(output=result.output + note)

    async def close(self) -> None:
        """Close as a process sandbox does, then kill whatever still runs as this sandbox's own user
        or in its cgroup: nothing of it may outlive the episode, whatever it did to leave the
        process tree."""
        await super().close()
        if self._network is not None:
            self._network.close()
        if self._cgroup is not None:  # holds every process of the sandbox, whatever its user
            await asyncio.to_thread(self._cgroup.close)
            return
        if self._owner is None:
            return
        for _ in range(3):  # a process forking while we kill: its children show in the next pass
            pids = _pids_of(self._owner)
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if not pids:
                return

    def _over_limit(self) -> str | None:
        limit = self._settings.workspace_mb
        if not limit:
            return None
        now = time.monotonic()
        if now - self._measured_at < _MEASURE_EVERY_S:
            return None
        self._measured_at = now
        used = _tree_bytes(self._workspace) / 2**20
        if used <= limit:
            return None
        return (
            f"stopped: the workspace holds {used:.0f} MB, over its limit of {limit} MB "
            "(sandbox.workspace_mb); delete files before going on"
        )


def _seccomp_filter() -> "_Memfile | None":
    """The seccomp program of this machine in a memfd, or None (logged once) where there is none."""
    global _seccomp_refused
    try:
        return _Memfile("aira-seccomp", filter_program())
    except SeccompUnavailableError as e:
        if not _seccomp_refused:
            _seccomp_refused = True
            logger.warning("sandboxes get no seccomp filter: %s", e)
        return None


def _sandbox_cgroup(settings: SandboxConfig) -> SandboxCgroup | None:
    """A cgroup capping the new sandbox's total memory and processes, or None (said once) when the
    node does not allow one: memory is then capped per process."""
    global _cgroup_refused
    if not (settings.memory_mb or settings.max_processes):
        return None
    serial = next(_cgroup_names)
    if serial == 0:  # this worker's first sandbox: clear what dead workers left
        with contextlib.suppress(OSError):
            remove_orphans()
    name = group_name(os.getpid(), serial)
    try:
        processes = settings.max_processes + _PLUMBING if settings.max_processes else 0
        return SandboxCgroup.create(name, settings.memory_mb, processes)
    except CgroupUnavailableError as e:
        if not _cgroup_refused:
            _cgroup_refused = True
            logger.warning(
                "sandboxes get no cgroup (%s): sandbox.memory_mb caps each process's address space "
                "instead of the sandbox's total, and nothing caps it when a GPU is bound",
                e,
            )
        return None


def _tree_bytes(root: Path) -> int:
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
            except OSError:
                continue  # removed while we counted
    return total


def _chown_tree(root: Path, uid: int) -> None:
    os.chown(root, uid, uid)
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            os.chown(os.path.join(folder, name), uid, uid, follow_symlinks=False)


def _processes_of(uid: int) -> int:
    """How many processes (threads count too, as for RLIMIT_NPROC) `uid` runs now."""
    return _threads_by_uid().get(uid, 0)


def _pids_of(uid: int) -> list[int]:
    """The processes whose real uid is `uid`."""
    return [pid for pid, (real, _) in _status_by_pid().items() if real == uid]


def _threads_by_uid() -> dict[int, int]:
    """Threads per real uid on the node now."""
    counts: dict[int, int] = {}
    for uid, threads in _status_by_pid().values():
        counts[uid] = counts.get(uid, 0) + threads
    return counts


def _status_by_pid() -> dict[int, tuple[int, int]]:
    """(real uid, threads) of every process on the node now, from /proc/<pid>/status."""
    found: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue  # it ended while we looked
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        found[int(entry)] = (int(fields.get("Uid", "-1").split()[0]), int(fields.get("Threads", "1")))
    return found
