"""`sandbox.network=true`: outbound network to the public internet only.

The sandbox does not share the host's network namespace (that would hand agent code Ray's GCS and
dashboard, the policy server and other runs on the host's loopback). It gets a network namespace of
its own, held by a sleeping process for the sandbox's life, with user-mode networking from
`slirp4netns`: a tap device whose traffic the host relays as ordinary outbound connections.
`--disable-host-loopback` refuses the relay's way to the host's 127.0.0.1, and a `prohibit` route
refuses every destination that is not the public internet (`refused_networks`): the private,
shared (CGNAT), link-local (the cloud's metadata service at 169.254.169.254), loopback, multicast
and reserved ranges and their IPv6 counterparts, the host's own addresses, and `sandbox.refuse`
(every node of the Ray cluster, filled in by the worker). slirp4netns's own 10.0.2.0/24 is refused
too, its gateway 10.0.2.2 (the host) included, all but its DNS relay 10.0.2.3; slirp4netns relays no
IPv6 at all (no --enable-ipv6). The sandbox's own loopback works as usual. Every command of the
sandbox joins that namespace (`nsenter`), so the shell, the kernel and single commands share it. Its
routes are set before agent code runs, by a user agent code never is (agent code has no
CAP_NET_ADMIN to undo them).
"""

import contextlib
import ctypes
import ipaddress
import os
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable

_READY_S = 10.0
_PR_SET_PDEATHSIG = 1
# Never the public internet (IANA's special-purpose address registries): these and their subnets are
# refused. IPv4: this network, private, shared (CGNAT), loopback, link-local, IETF protocol
# assignments, documentation, benchmarking, multicast and reserved (with the broadcast address).
REFUSED_V4 = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
)
# IPv6: loopback, unspecified, v4-mapped, NAT64 (both prefixes: they reach v4 addresses), discard,
# IETF protocol assignments (Teredo among them), documentation, 6to4, unique local, link-local,
# multicast.
REFUSED_V6 = (
    "::1/128",
    "::/128",
    "::ffff:0:0/96",
    "64:ff9b::/96",
    "64:ff9b:1::/48",
    "100::/64",
    "2001::/23",
    "2001:db8::/32",
    "2002::/16",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
)
# slirp4netns --configure: the namespace's tap0 is 10.0.2.100/24, its gateway 10.0.2.2 the host; the
# connected /24 is more specific than 10.0.0.0/8, so the routes refuse that /24 around the DNS relay.
SLIRP_DNS = ipaddress.IPv4Network("10.0.2.3/32")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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


def refused_networks(refuse: Iterable[str] = (), *, ipv6: bool = True) -> list[Network]:
    """Every destination a sandbox's routes refuse: the ranges above, the host's own addresses and
    `refuse` (addresses or networks), merged; slirp4netns's DNS relay is cut out of whatever holds it,
    so only the connected route reaches it. Without `ipv6` (a kernel with none) only IPv4."""
    wanted = [*REFUSED_V4, *REFUSED_V6, *host_addresses(), *refuse]
    networks = [ipaddress.ip_network(n, strict=False) for n in wanted]
    refused: list[Network] = []
    for net in ipaddress.collapse_addresses(n for n in networks if isinstance(n, ipaddress.IPv4Network)):
        refused += sorted(net.address_exclude(SLIRP_DNS)) if net.supernet_of(SLIRP_DNS) else [net]
    if ipv6:
        refused += ipaddress.collapse_addresses(n for n in networks if isinstance(n, ipaddress.IPv6Network))
    return refused


class UserNetwork:
    """One sandbox's network namespace with slirp4netns; `enter` is the argv prefix that joins it.

    `refuse`: addresses or networks refused besides `refused_networks`' own (sandbox.refuse)."""

    def __init__(self, refuse: Iterable[str] = ()) -> None:
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
            # One `ip` for every route; a route it cannot add fails the sandbox's start.
            ipv6 = os.path.exists("/proc/net/if_inet6")
            routes = "".join(f"route add prohibit {n}\n" for n in refused_networks(refuse, ipv6=ipv6))
            self._in_namespace(["ip", "-batch", "-"], routes)
            # Nothing but the relay is on tap0, and it relays neither of these; still, no broadcast to
            # its network (it would relay it to the host's loopback) and no IPv6 on tap0 at all, not
            # even link-local or multicast. Where one is not there to delete, nothing is lost.
            local = "route del broadcast 10.0.2.255 dev tap0 table local\n"
            local += "address flush dev tap0 scope link\nroute del multicast ff00::/8 dev tap0 table local\n"
            self._in_namespace(["ip", "-force", "-batch", "-"], local, check=False)
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

    def _in_namespace(self, argv: list[str], input: str, check: bool = True) -> None:
        done = subprocess.run([*self.enter, *argv], input=input, capture_output=True, text=True)
        if check and done.returncode != 0:
            raise NetworkUnavailableError(
                f"could not set the sandbox's routes ({' '.join(argv)}): {done.stderr.strip()[:500]}"
            )

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
