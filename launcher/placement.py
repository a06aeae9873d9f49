"""Where a run's pieces go: its placement group (a home bundle + one bundle per worker) and whether a
cluster can ever hold a run of the grid next to the policy server.

The home bundle holds the run unit itself on the head node, where the run directory lives; the
evaluator, coordinator and token ledger are pinned to it. Each worker bundle holds exactly one worker:
one GPU (or one `experiment_slot` on CPU) and its CPUs.
"""

import math
from typing import Any

from launcher.config import RunConfig
from serving.config import LlamaCppPolicyConfig, PolicyConfig, VLLMPolicyConfig

CPU_SLOT = "experiment_slot"
# Ray gives the head node this resource (1.0); a sliver of it pins a bundle to the head.
HEAD = "node:__internal_head__"
HEAD_SHARE = 0.001
HOME_CPUS = 1.0  # the run unit's process; evaluator, coordinator and ledger reserve no CPU


class ClusterError(Exception):
    """The Ray cluster cannot host the configured runs (too few GPUs or slots, unreachable)."""


def worker_resources(cfg: RunConfig) -> dict[str, float]:
    """The resources of one experiment worker as a bundle: exactly one GPU or one CPU slot (1:1)."""
    accel = {"GPU": 1.0} if cfg.resources.gpus_per_worker else {CPU_SLOT: 1.0}
    return {"CPU": float(cfg.resources.cpus_per_worker), **accel}


def worker_options(cfg: RunConfig) -> dict[str, Any]:
    """Ray actor options of one experiment worker (they fit one worker bundle exactly)."""
    opts: dict[str, Any] = {"num_cpus": cfg.resources.cpus_per_worker}
    if cfg.resources.gpus_per_worker:
        opts["num_gpus"] = 1
    else:
        opts["resources"] = {CPU_SLOT: 1}
    return opts


def run_bundles(cfg: RunConfig) -> list[dict[str, float]]:
    """A run's placement group: the home bundle (first: Tune runs the trainable in it), then workers."""
    home = {"CPU": HOME_CPUS, HEAD: HEAD_SHARE}
    return [home] + [worker_resources(cfg) for _ in range(cfg.search.num_workers)]


def policy_gpus(policy: PolicyConfig) -> int:
    """GPUs the policy server takes at its largest (vLLM: tensor parallel size x replicas)."""
    return int(sum(b.get("GPU", 0) for b in policy_bundles(policy)))


def policy_bundles(policy: PolicyConfig) -> list[dict[str, float]]:
    """What the policy server reserves in Ray at its largest, as bundles. A vLLM replica (ray.serve.llm)
    is a placement group of one bundle per GPU of its tensor-parallel group, the first also holding the
    replica's CPU; a llama.cpp replica reserves `policy.num_cpus`; the test doubles reserve nothing."""
    if isinstance(policy, VLLMPolicyConfig):
        out: list[dict[str, float]] = []
        for m in policy.models:
            for _ in range(m.max_replicas or m.num_replicas):
                out += [{"GPU": 1.0, "CPU": 1.0}] + [{"GPU": 1.0}] * (m.tensor_parallel_size - 1)
        return out
    if isinstance(policy, LlamaCppPolicyConfig) and policy.num_cpus > 0:
        return [{"CPU": float(policy.num_cpus)}] * policy.num_replicas
    return []


def embedded_resources(cfg: RunConfig, cores: int) -> tuple[int, dict[str, float] | None]:
    """The CPUs and custom resources of the embedded local Ray (`ray.address=null`) on a machine with
    `cores` cores: `ray.num_cpus` when set, else all cores and at least what the runs side by side
    (`benchmark.max_concurrent`, else one) and the policy server reserve."""
    k = (cfg.benchmark.max_concurrent if cfg.benchmark else None) or 1
    n = cfg.search.num_workers
    needed = k * (HOME_CPUS + n * cfg.resources.cpus_per_worker) + _total(policy_bundles(cfg.policy), "CPU")
    cpus = cfg.ray.num_cpus or max(cores, math.ceil(needed - EPS))
    return cpus, ({CPU_SLOT: float(k * n)} if cfg.resources.gpus_per_worker == 0 else None)


def embedded_node(cfg: RunConfig, cores: int, gpus: int) -> dict[str, float]:
    """The one node of the embedded Ray, as `ray.nodes()` would show its resources."""
    cpus, custom = embedded_resources(cfg, cores)
    return {"CPU": float(cpus), "GPU": float(gpus), HEAD: 1.0, **(custom or {})}


EPS = 1e-6


def _total(bundles: list[dict[str, float]], key: str) -> float:
    return sum(b.get(key, 0.0) for b in bundles)


def _workers_on(node: dict[str, float], accel: str, cpw: float) -> int:
    """Worker bundles (one `accel` and `cpw` CPUs each) that fit in a node's free resources."""
    return max(0, min(int(node.get(accel, 0.0) + EPS), int(node.get("CPU", 0.0) / cpw + EPS)))


def _fits(node: dict[str, float], bundle: dict[str, float]) -> bool:
    return all(node.get(k, 0.0) + EPS >= v for k, v in bundle.items() if v > 0)


def _place_server(
    nodes: list[dict[str, float]], bundles: list[dict[str, float]], accel: str, cpw: float
) -> list[dict[str, float]] | None:
    """The nodes' free resources once the policy server holds its bundles (each where it costs the
    fewest worker bundles, off the head node on a tie); None when one of them fits nowhere."""
    free = [dict(r) for r in nodes]
    for b in sorted(bundles, key=lambda b: -sum(b.values())):
        best: tuple[int, int, int] | None = None
        for i, r in enumerate(free):
            if not _fits(r, b):
                continue
            after = {k: v - b.get(k, 0.0) for k, v in r.items()}
            cost = (_workers_on(r, accel, cpw) - _workers_on(after, accel, cpw), int(r.get(HEAD, 0) > 0), i)
            best = cost if best is None or cost < best else best
        if best is None:
            return None
        for k, v in b.items():
            free[best[2]][k] = free[best[2]].get(k, 0.0) - v
    return free


def _runs(free: list[dict[str, float]], n: int, accel: str, cpw: float) -> tuple[int, int]:
    """(runs that fit at once, worker bundles that fit beside one run's home); each run's home bundle
    on the head node, its n worker bundles anywhere."""
    heads = [i for i, r in enumerate(free) if r.get(HEAD, 0) > 0]

    def workers(k: int) -> int:
        total = 0
        for i, r in enumerate(free):
            left = dict(r)
            if i in heads:
                left["CPU"] = left.get("CPU", 0.0) - k * HOME_CPUS
            total += _workers_on(left, accel, cpw)
        return total

    def homes_fit(k: int) -> bool:
        return any(free[i].get("CPU", 0.0) + EPS >= k * HOME_CPUS for i in heads)

    beside_one = workers(1) if homes_fit(1) else 0
    k = 0
    while homes_fit(k + 1) and workers(k + 1) >= (k + 1) * n:
        k += 1
    return k, beside_one


def _shown(r: dict[str, float]) -> str:
    keys = [k for k in ("CPU", "GPU", CPU_SLOT) if r.get(k, 0) > 0]
    return "{" + ", ".join(f"{k}: {r[k]:g}" for k in keys) + "}" if keys else "{nothing}"


def _cluster(nodes: list[dict[str, float]]) -> str:
    """The nodes' resources, alike ones counted: `head {CPU: 2}; 2 x {CPU: 8, GPU: 4}`."""
    seen: dict[str, int] = {}
    for r in nodes:
        text = ("head " if r.get(HEAD, 0) > 0 else "") + _shown(r)
        seen[text] = seen.get(text, 0) + 1
    return "; ".join(f"{c} x {t}" if c > 1 else t for t, c in seen.items())


def runs_that_fit(cfg: RunConfig, nodes: list[dict[str, float]]) -> int:
    """How many runs the cluster holds at once beside the policy server; ClusterError before anything
    starts when it can never hold one (Tune would queue the grid forever), naming what a run needs,
    what the cluster has and what to change.

    `nodes` are the alive nodes' total resources. Bundles are placed as Ray's PACK strategy may: each
    whole on one node, a run's bundles on any nodes, a run's home bundle on the head node (next to any
    of its workers there: they share its CPUs).
    """
    n, cpw = cfg.search.num_workers, float(cfg.resources.cpus_per_worker)
    gpu = bool(cfg.resources.gpus_per_worker)
    accel = "GPU" if gpu else CPU_SLOT
    kind = "GPU" if gpu else "CPU"
    server = policy_bundles(cfg.policy)
    free = _place_server(nodes, server, accel, cpw)
    fits, beside_one = _runs(free, n, accel, cpw) if free is not None else (0, 0)
    if fits >= 1:
        return fits

    worker = worker_resources(cfg)
    home = {"CPU": HOME_CPUS}
    need_cpus = HOME_CPUS + n * cpw
    accels = sum(int(r.get(accel, 0) + EPS) for r in nodes)
    server_gpus = int(_total(server, "GPU"))
    server_cpus = _total(server, "CPU")
    plural = "s" if gpu else ""
    lines = [
        f"a run needs search.num_workers={n} {kind} workers but the cluster holds {beside_one}: it has "
        f"{accels} {accel if accel == 'GPU' else '`' + CPU_SLOT + '`'}s on {len(nodes)} nodes, the policy "
        f"server takes {server_gpus if gpu else 0}: no run can ever start (the grid would wait forever)",
        f"  a run needs: a home bundle {_shown(home)} on the head node and {n} worker bundles "
        f"{_shown(worker)}, each whole on one node ({need_cpus:g} CPUs and {n} {accel}{plural} in all)",
    ]
    if server:
        lines.append(
            f"  the policy server (policy={cfg.policy.name}) holds {len(server)} bundles: "
            f"{server_gpus} GPUs and {server_cpus:g} CPUs in all"
        )
    lines.append(f"  the cluster has: {_cluster(nodes)}")

    heads = [r for r in (free or nodes) if r.get(HEAD, 0) > 0]
    fixes: list[str] = []
    if free is None:
        why = "the policy server's bundles do not fit on the cluster's nodes"
        fixes.append("give the policy fewer GPUs (tensor_parallel_size, replicas) or add GPU nodes")
    elif not heads or max(r.get("CPU", 0.0) for r in heads) + EPS < HOME_CPUS:
        why = f"the head node has less than the {HOME_CPUS:g} CPU free that a run's home needs"
        fixes.append("give the head node CPUs (ray start --head --num-cpus=N)")
        if server_cpus:
            fixes.append("or let the policy server reserve fewer CPUs")
    elif accels == 0:
        if gpu:
            why = "the cluster has no GPUs"
            where = "run on a GPU cluster (ray.address=auto)" if cfg.ray.address is None else "add GPU nodes"
            fixes.append(f"{where}, or run CPU workers: resources.gpus_per_worker=0")
        else:
            why = f"no node has the `{CPU_SLOT}` resource that CPU workers hold"
            fixes.append(
                f"start the worker nodes with --resources='{{\"{CPU_SLOT}\": N}}' (or embedded Ray: "
                "ray.address=null)"
            )
    elif not any(_fits(r, worker) for r in nodes):
        most = max(r.get("CPU", 0.0) for r in nodes if r.get(accel, 0) >= 1)
        why = (
            f"no node holds a whole worker bundle {_shown(worker)}: the nodes with a {accel} have at "
            f"most {most:g} CPUs"
        )
        fixes.append(f"lower resources.cpus_per_worker to {most:g} or less, or add nodes with more CPUs")
    else:
        why = f"only {beside_one} worker bundles fit beside a run's home bundle"
        if server:
            why += " and the policy server"
        if beside_one >= 1:
            fixes.append(f"lower search.num_workers to {beside_one}")
        # CPUs bind when the run would fit with CPUs to spare on every node.
        if _runs([{**r, "CPU": 1e9} for r in free], n, accel, cpw)[0] >= 1:
            fixes.append("lower resources.cpus_per_worker")
            if cfg.ray.address is None:
                want = math.ceil(need_cpus + server_cpus - EPS)
                fixes.append(f"give the embedded Ray more CPUs: ray.num_cpus={want} (or null: all cores)")
            else:
                fixes.append("add CPUs to the nodes with workers")
        else:
            fixes.append(f"add nodes with {accel if gpu else '`' + CPU_SLOT + '` resources'}")
            if server_gpus:
                fixes.append("give the policy server fewer GPUs")
    lines.append(f"  why: {why}")
    lines.append("  change: " + ", or ".join(fixes))
    raise ClusterError("\n".join(lines))
