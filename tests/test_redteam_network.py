"""Red-team drill of `sandbox.network=true`: agent code reaches the public internet only, never a
private address, the cloud's metadata service, the host through slirp4netns's gateway, or a node of
the Ray cluster (`sandbox.refuse`), over IPv4 or IPv6; slirp4netns's DNS relay still answers.

No packet of it leaves the machine: the whole sandbox, its relay slirp4netns included, runs inside a
network namespace the test makes ("out"), whose only way out is a veth pair to a second namespace the
test makes ("peer"). The peer holds every address probed and listens on each; it is also the DNS
server slirp4netns relays to. The route-table checks look routes up (`ip route get`) and send nothing.
"""

import ipaddress
import json
import os
import select
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import ray

from actors.worker import refusing_cluster_nodes
from launcher.config import ConfigError
from sandbox import SandboxConfig
from sandbox.bwrap import bwrap_missing
from sandbox.network import REFUSED_V4, REFUSED_V6, UserNetwork, network_missing, refused_networks
from tests.conftest import compose_config

ROOT = Path(__file__).resolve().parents[1]
PORT = 8080
PRIVATE = "10.123.0.1"  # the peer's end of the veth, and the DNS server
METADATA = "169.254.169.254"
CLUSTER_NODE = "192.88.99.7"  # a public-looking address, refused only by sandbox.refuse
PUBLIC = "192.88.99.1"  # the "internet": it must stay reachable
ULA = "fd12:3::1"

needs_root_and_slirp = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the drill makes network namespaces: it needs root"),
    pytest.mark.skipif(bool(network_missing()), reason=f"no user-mode network here: {network_missing()}"),
    pytest.mark.skipif(bool(bwrap_missing()), reason="bubblewrap (bwrap) is not installed"),
]


def drill_test(test: Callable[..., None]) -> Callable[..., None]:
    for mark in needs_root_and_slirp:
        test = mark(test)
    return test


# Agent code: one connection to each target, and one query to slirp4netns's DNS relay.
PROBE = """
import json, socket
def attempt(family, address):
    s = socket.socket(family)
    s.settimeout(5)
    try:
        s.connect(address)
        return "CONNECTED"
    except OSError as e:
        return "refused: " + (e.strerror or type(e).__name__)
    finally:
        s.close()
seen = {name: attempt(family, (host, PORT)) for name, family, host in TARGETS}
dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
dns.settimeout(5)
try:
    dns.sendto(b"drill-query", ("10.0.2.3", 53))
    seen["dns"] = dns.recv(100).decode()
except OSError as e:
    seen["dns"] = "no answer: " + (e.strerror or type(e).__name__)
print("SEEN" + json.dumps(seen))
"""
TARGETS = [
    ("private", "AF_INET", PRIVATE),
    ("metadata", "AF_INET", METADATA),
    ("cluster node", "AF_INET", CLUSTER_NODE),
    ("public", "AF_INET", PUBLIC),
    ("the host through the gateway", "AF_INET", "10.0.2.2"),
    ("private, v4-mapped", "AF_INET6", f"::ffff:{PRIVATE}"),
    ("private through NAT64", "AF_INET6", "64:ff9b::" + PRIVATE),
    ("unique local v6", "AF_INET6", ULA),
]

# Run in "out": a sandbox (or, with "namespace", only UserNetwork's namespace) running the probe.
DRILL = """
import asyncio, json, subprocess, sys
from pathlib import Path
from sandbox import SandboxConfig, open_sandbox
from sandbox.network import UserNetwork
mode, refuse, probe, root = json.loads(sys.argv[1])
if mode == "namespace":
    net = UserNetwork(refuse)
    try:
        done = subprocess.run([*net.enter, sys.executable, "-c", probe], capture_output=True, text=True)
        print(done.stdout, done.stderr)
    finally:
        net.close()
else:
    box = open_sandbox(SandboxConfig(network=True, refuse=refuse), Path(root) / "ws", Path(root))
    async def run():
        try:
            return (await box.exec(["python", "-c", probe], 60)).output
        finally:
            await box.close()
    print(asyncio.run(run()))
"""

# Run in "peer": accept on every address, answer DNS, and say what arrived.
LISTENER = """
import select, socket, sys
tcp4 = socket.create_server(("0.0.0.0", PORT))
tcp6 = socket.create_server(("::", PORT), family=socket.AF_INET6, dualstack_ipv6=False)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("PRIVATE", 53))
print("ready", flush=True)
while True:
    for s in select.select([tcp4, tcp6, udp], [], [])[0]:
        if s is udp:
            query, peer = udp.recvfrom(100)
            udp.sendto(b"answer to " + query, peer)
            print("dns", flush=True)
        else:
            conn, _ = s.accept()
            print("connection to", conn.getsockname()[0], flush=True)
            conn.close()
"""


def _ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True)


@pytest.fixture(scope="module")
def namespaces() -> Iterator[tuple[str, str]]:
    """("out", "peer"): two network namespaces joined by a veth pair and to nothing else."""
    out, peer = f"aira-drill-{os.getpid()}-out", f"aira-drill-{os.getpid()}-peer"
    made = []
    try:
        for name in (out, peer):
            try:
                _ip("netns", "add", name)
            except subprocess.CalledProcessError as e:
                pytest.skip(f"cannot make a network namespace here (`ip netns add`): {e.stderr.decode()}")
            made.append(name)
        _ip("-n", out, "link", "add", "vo", "type", "veth", "peer", "name", "vp", "netns", peer)
        for name, dev in ((out, "vo"), (peer, "vp")):
            _ip("-n", name, "link", "set", "lo", "up")
            _ip("-n", name, "link", "set", dev, "up")
        _ip("-n", out, "addr", "add", "10.123.0.2/24", "dev", "vo")
        _ip("-n", out, "addr", "add", "fd12:3::2/64", "dev", "vo", "nodad")
        _ip("-n", out, "route", "add", "default", "via", PRIVATE)
        _ip("-n", out, "route", "add", "default", "via", ULA)
        _ip("-n", peer, "addr", "add", f"{PRIVATE}/24", "dev", "vp")
        _ip("-n", peer, "addr", "add", f"{ULA}/64", "dev", "vp", "nodad")
        for address in (METADATA, CLUSTER_NODE, PUBLIC):
            _ip("-n", peer, "addr", "add", f"{address}/32", "dev", "lo")
        # Only the veth leads out of "out": every address probed ends in "peer".
        links = subprocess.run(["ip", "-n", out, "-o", "link"], capture_output=True, text=True).stdout
        assert [line.split(":")[1].strip().split("@")[0] for line in links.splitlines()] == ["lo", "vo"]
        yield out, peer
    finally:
        for name in made:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def _in(namespace: str) -> list[str]:
    return ["nsenter", f"--net=/run/netns/{namespace}", "--"]


def drill(
    namespaces: tuple[str, str], tmp_path: Path, mode: str, refuse: list[str]
) -> tuple[dict[str, str], str]:
    """What the probe saw in a `sandbox.network=true` sandbox of "out", and what "peer" received."""
    out, peer = namespaces
    code = LISTENER.replace("PORT", str(PORT)).replace("PRIVATE", PRIVATE)
    listener = subprocess.Popen(
        [*_in(peer), sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert listener.stdout is not None
        assert select.select([listener.stdout], [], [], 30)[0], "the listener did not start"
        assert listener.stdout.readline().strip() == "ready"
        # slirp4netns relays DNS to the nameserver of its /etc/resolv.conf: the peer's, in a mount
        # namespace of the drill's own.
        resolv = tmp_path / "resolv.conf"
        resolv.write_text(f"nameserver {PRIVATE}\n")
        targets = ", ".join(f"({n!r}, socket.{f}, {h!r})" for n, f, h in TARGETS)
        probe = PROBE.replace("TARGETS", f"[{targets}]").replace("PORT", str(PORT))
        args = json.dumps([mode, refuse, probe, str(tmp_path)])
        bind = 'mount --bind "$0" /etc/resolv.conf && exec "$@"'
        argv = [*_in(out), "unshare", "--mount", "--", "sh", "-c", bind, str(resolv)]
        argv += [sys.executable, "-c", DRILL, args]
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)}
        )
    finally:
        listener.kill()
        received, _ = listener.communicate()
    assert "SEEN" in done.stdout, done.stdout + done.stderr
    seen: dict[str, str] = json.loads(done.stdout.split("SEEN", 1)[1].splitlines()[0])
    return seen, received


@drill_test
def test_agent_code_reaches_the_internet_but_no_private_or_metadata_address(
    namespaces: tuple[str, str], tmp_path: Path
) -> None:
    seen, received = drill(namespaces, tmp_path, "sandbox", [])
    assert seen["public"] == "CONNECTED", seen  # the network works: what follows is refused, not broken
    assert seen["dns"] == "answer to drill-query", seen
    refused = {name: result for name, result in seen.items() if name not in ("public", "dns", "cluster node")}
    # Permission denied: a prohibit route of the namespace said no, before any packet left it.
    assert set(refused.values()) == {"refused: Permission denied"}, seen
    # Not in sandbox.refuse here, the cluster node's address is one more public address.
    assert seen["cluster node"] == "CONNECTED", seen
    expected = [f"connection to {CLUSTER_NODE}", f"connection to {PUBLIC}", "dns"]
    assert sorted(received.splitlines()) == sorted(expected), received  # in any order


@drill_test
def test_the_clusters_nodes_are_refused_in_the_namespace(namespaces: tuple[str, str], tmp_path: Path) -> None:
    """`sandbox.refuse` (the cluster's nodes) reaches the namespace's routes."""
    seen, received = drill(namespaces, tmp_path, "namespace", [CLUSTER_NODE])
    assert seen["public"] == "CONNECTED" and seen["cluster node"] == "refused: Permission denied", seen
    assert sorted(received.splitlines()) == [f"connection to {PUBLIC}", "dns"], received


@drill_test
def test_the_clusters_nodes_are_refused_in_the_sandbox(namespaces: tuple[str, str], tmp_path: Path) -> None:
    seen, received = drill(namespaces, tmp_path, "sandbox", [CLUSTER_NODE])
    assert seen["public"] == "CONNECTED" and seen["cluster node"] == "refused: Permission denied", seen
    assert sorted(received.splitlines()) == [f"connection to {PUBLIC}", "dns"], received


def _route(net: UserNetwork, address: str) -> str:
    done = subprocess.run([*net.enter, "ip", "route", "get", address], capture_output=True, text=True)
    return (done.stdout + done.stderr).strip()


@drill_test
def test_the_route_table_refuses_everything_but_the_internet_and_the_dns_relay() -> None:
    """Looked up, never sent to: public addresses go out through slirp4netns, DNS to its relay, and
    every other kind of address is prohibited (or, for IPv6, has no route at all)."""
    net = UserNetwork([CLUSTER_NODE, "2606:4700:4700::64/128"])
    try:
        for public in ("8.8.8.8", "1.1.1.1", PUBLIC, "100.63.255.255", "172.32.0.1", "11.0.0.1"):
            assert _route(net, public).startswith(f"{public} via 10.0.2.2 dev tap0"), _route(net, public)
        assert _route(net, "10.0.2.3").startswith("10.0.2.3 dev tap0"), _route(net, "10.0.2.3")
        assert _route(net, "127.5.6.7").startswith("local 127.5.6.7 dev lo")  # its own loopback
        refused = [
            *("10.0.2.2", "10.0.2.4", "10.0.2.255", "10.0.3.1", "10.200.0.1", "172.16.0.1", "172.31.255.1"),
            *("192.168.1.1", "100.64.0.1", "100.127.0.1", "169.254.169.254", "0.1.2.3", "224.0.0.251"),
            *("239.1.2.3", "240.0.0.1", "255.255.255.255", "192.0.2.1", "198.18.0.1", CLUSTER_NODE),
            *("fd00::1", "fc00::1", "fe80::1", "::ffff:10.1.2.3", "64:ff9b::a01:203", "ff02::1"),
            *("2001:db8::1", "2002:a00:1::1", "2606:4700:4700::64"),
        ]
        for address in refused:
            assert "Permission denied" in _route(net, address), (address, _route(net, address))
        # slirp4netns relays no IPv6: a public v6 address has no route either.
        assert "Network is unreachable" in _route(net, "2606:4700:4700::1111")
    finally:
        net.close()


def test_refused_networks_cover_the_special_ranges_and_spare_the_dns_relay() -> None:
    refused = refused_networks(["198.51.100.9", "10.0.2.0/24", "2001:db8::/48"])
    v4 = [n for n in refused if n.version == 4]
    dns = ipaddress.ip_address("10.0.2.3")
    assert not any(dns in n for n in v4), "the DNS relay must stay reachable"
    for special in (*REFUSED_V4, *REFUSED_V6):
        net = ipaddress.ip_network(special)
        probe = net.network_address if net.network_address != dns else net.broadcast_address
        assert any(probe in n for n in refused), special
    assert len({str(n) for n in refused}) == len(refused)  # merged: no route is added twice


def test_refuse_takes_addresses_and_networks_and_names_a_bad_one() -> None:
    settings = SandboxConfig(refuse=("203.0.113.7", " 10.1.2.3/16", "2001:db8::1", "203.0.113.7"))
    assert settings.refuse == ("203.0.113.7/32", "10.1.0.0/16", "2001:db8::1/128")
    with pytest.raises(ValueError, match=r"'node-3' is not an address or network to refuse"):
        SandboxConfig(refuse=("node-3",))
    assert compose_config("sandbox.refuse=[203.0.113.0/24]").sandbox.refuse == ("203.0.113.0/24",)
    with pytest.raises(ConfigError, match=r"sandbox.refuse: .*'head' is not an address"):
        compose_config("sandbox.refuse=[head]")


def test_every_node_of_the_cluster_is_refused_where_the_sandbox_has_a_network(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nodes = [
        {"NodeManagerAddress": "203.0.113.10", "Alive": True},
        {"NodeManagerAddress": "10.0.0.7", "Alive": False},  # gone now, but its address may come back
    ]
    monkeypatch.setattr(ray, "is_initialized", lambda: True)
    monkeypatch.setattr(ray, "nodes", lambda: nodes)
    settings = refusing_cluster_nodes(SandboxConfig(network=True, refuse=("198.51.100.0/24",)))
    assert settings.refuse == ("198.51.100.0/24", "203.0.113.10/32", "10.0.0.7/32")
    assert refusing_cluster_nodes(settings) == settings  # each episode adds them again: no duplicates
    assert refusing_cluster_nodes(SandboxConfig()).refuse == ()  # no network: nothing to refuse
