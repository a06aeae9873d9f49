"""A Ray worker node in a process of its own, as `ray start --address=... --block` starts one, but
on loopback: `ray start` refuses to join while RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 and, with it on,
dials the machine's public address instead of 127.0.0.1. Stopped by SIGTERM, with its processes.

    python -m tests._ray_node <gcs address> <num_cpus> <num_gpus> <resources as JSON>
"""

import json
import signal
import socket
import sys
import time
from typing import Any

from ray._private import services
from ray._private.node import Node
from ray._private.parameter import RayParams

_get_node = services.get_node


def patient_get_node(*args: Any, **kwargs: Any) -> Any:
    """Ray's get_node, retried for almost 5 minutes: Ray gives a new raylet a fixed 30 s to register,
    which a machine of 2 shared, busy cores misses."""
    deadline = time.monotonic() + 280
    while True:
        try:
            return _get_node(*args, **kwargs)
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


services.get_node = patient_get_node


def agent_ports() -> dict[str, Any]:
    """Free ports for a node's agents, given up front: a raylet left to wait for its agents to
    report theirs dies when a busy machine makes that take over 30 s."""
    names = (
        "dashboard_agent_listen_port",
        "metrics_agent_port",
        "metrics_export_port",
        "runtime_env_agent_port",
    )
    # All sockets held open until every port is picked: one closed before the next bind may be handed
    # out again, and two agents given one port make Ray refuse to start the node.
    sockets = [socket.socket() for _ in names]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return {name: int(s.getsockname()[1]) for name, s in zip(names, sockets, strict=True)}
    finally:
        for s in sockets:
            s.close()


def main() -> None:
    address, cpus, gpus, resources = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
    params = RayParams(
        gcs_address=address,
        node_ip_address="127.0.0.1",
        num_cpus=cpus,
        num_gpus=gpus,
        resources=resources,
        object_store_memory=150 << 20,
        include_log_monitor=False,  # type: ignore[arg-type]  # one log monitor per machine (the head's); typed str by Ray
        node_manager_port=0,
        **agent_ports(),
        min_worker_port=0,
        max_worker_port=0,
    )
    # shutdown_at_exit: the node's processes end with this one (SIGTERM exits through atexit).
    Node(params, head=False, shutdown_at_exit=True, spawn_reaper=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("node started", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
