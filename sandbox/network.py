"""`sandbox.network=true`: outbound network for a sandbox that never reaches the host's own services.

The sandbox does not share the host's network namespace (that would hand agent code Ray's GCS and
dashboard, the policy server and other runs on the host's loopback). It gets a network namespace of
its own, held by a sleeping process for the sandbox's life, with user-mode networking from
`slirp4netns`: a tap device whose traffic the host relays as ordinary outbound connections.
`--disable-host-loopback` refuses the relay's way to the host's 127.0.0.1, and a `prohibit` route
for each of the host's own addresses refuses the other way to its local services; the sandbox's own
loopback works as usual. Every command of the sandbox joins that namespace (`nsenter`), so the
shell, the kernel and single commands share it. Its routes are set before agent code runs, by a
user agent code never is (agent code has no CAP_NET_ADMIN to undo them).
"""

import contextlib
import ctypes
import os
import select
import shutil
import signal
import subprocess
import time

_READY_S = 10.0
_PR_SET_PDEATHSIG = 1


class NetworkUnavailableError(RuntimeError):
    """The node cannot give sandboxes a user-mode network (a tool is missing or refused)."""


def network_missing() -> str | None:
    """Why sandbox.network=true cannot work on this node (with how to fix it), or None."""
    missing = [tool for tool in ("slirp4netns", "unshare", "nsenter", "ip") if shutil.which(tool) is None]
    if missing:
        return (
            f"sandbox.network=true needs {', '.join(missing)}: install them (Debian/Ubuntu: "
            "`apt-get install slirp4netns util-linux iproute2`) or set sandbox.network=false"
        )
    return None


def host_addresses() -> list[str]:
    """The host's own IPv4 and global IPv6 addresses (not loopback: slirp4netns refuses that)."""
    out = subprocess.run(["ip", "-o", "addr", "show"], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[2] not in ("inet", "inet6"):
            continue
        address = fields[3].split("/")[0]
        if address.startswith(("127.", "fe80:")) or address == "::1":
            continue
        found.append(address)
    return sorted(set(found))


class UserNetwork:
    """One sandbox's network namespace with slirp4netns; `enter` is the argv prefix that joins it."""

    def __init__(self) -> None:
        if why := network_missing():
            raise NetworkUnavailableError(why)
        # A non-root worker may make a network namespace only inside a user namespace of its own.
        self._user = os.geteuid() != 0
        holder = ["unshare", *(["--user", "--map-root-user"] if self._user else []), "--net"]
        # unshare itself lives in the new namespace and holds it; --kill-child ends its sleep with it.
        holder += ["--fork", "--kill-child", "--", "sleep", "infinity"]
        self._holder = subprocess.Popen(holder, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        self._slirp: subprocess.Popen[bytes] | None = None
        try:
            self._wait_for_namespace()
            self._start_slirp()
            for address in host_addresses():
                self._in_namespace(["ip", "route", "add", "prohibit", address])
        except BaseException:
            self.close()
            raise

    @property
    def enter(self) -> list[str]:
        """The argv prefix that runs a command (bwrap with --share-net) in this namespace."""
        ns = ["-t", str(self._holder.pid), "--net"]
        if self._user:
            ns += ["--user", "--preserve-credentials"]
        return ["nsenter", *ns, "--"]

    def _wait_for_namespace(self) -> None:
        """Until the holder runs in its new namespace (unshare has exec'd sleep)."""
        mine = os.readlink("/proc/self/ns/net")
        deadline = time.monotonic() + _READY_S
        while self._holder.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{self._holder.pid}/ns/net") != mine:
                    return
            time.sleep(0.02)
        raise NetworkUnavailableError(
            "could not create a network namespace for the sandbox (`unshare --net` failed); "
            "set sandbox.network=false"
        )

    def _start_slirp(self) -> None:
        read_end, write_end = os.pipe()
        try:
            argv = ["slirp4netns", "--configure", "--mtu=65520", "--disable-host-loopback"]
            if self._user:
                argv.append(f"--userns-path=/proc/{self._holder.pid}/ns/user")
            argv += ["--ready-fd", str(write_end), str(self._holder.pid), "tap0"]
            self._slirp = subprocess.Popen(
                argv,
                pass_fds=[write_end],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
            os.close(write_end)
            write_end = -1
            # slirp4netns writes "1" once tap0 is configured, or closes the pipe when it fails.
            ready = _read_with_timeout(read_end, _READY_S)
        finally:
            os.close(read_end)
            if write_end >= 0:
                os.close(write_end)
        if ready != b"1":
            raise NetworkUnavailableError("slirp4netns could not set up the sandbox's network")

    def _in_namespace(self, argv: list[str]) -> None:
        subprocess.run([*self.enter, *argv], check=True, capture_output=True)

    def close(self) -> None:
        """Stop the relay and the namespace's holder; the namespace goes with its last process."""
        for proc in (self._slirp, self._holder):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the worker dies, so no namespace or relay outlives it."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _read_with_timeout(fd: int, timeout_s: float) -> bytes:
    ready, _, _ = select.select([fd], [], [], timeout_s)
    return os.read(fd, 1) if ready else b""
