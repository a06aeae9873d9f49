"""Where a run's pieces go: its placement group (a home bundle + one bundle per worker) and whether a
cluster can ever hold a run of the grid next to the policy server.

The home bundle holds the run unit itself on the head node, where the run directory lives; the
evaluator, coordinator and token ledger are pinned to it. Each worker bundle holds exactly one worker:
one GPU (or one `experiment_slot` on CPU) and its CPUs.
"""

from typing import Any

from launcher.config import RunConfig
from serving.config import PolicyConfig, VLLMPolicyConfig

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
    if not isinstance(policy, VLLMPolicyConfig):
        return 0
    return sum(m.tensor_parallel_size * (m.max_replicas or m.num_replicas) for m in policy.models)


def runs_that_fit(cfg: RunConfig, nodes: list[dict[str, float]]) -> int:
    """How many runs the cluster holds at once; ClusterError with the numbers when not even one.

    `nodes` are the alive nodes' total resources. The policy server's GPUs are taken off the top:
    the grid must fit beside it.
    """
    n, cpw = cfg.search.num_workers, float(cfg.resources.cpus_per_worker)
    accel = "GPU" if cfg.resources.gpus_per_worker else CPU_SLOT
    per_node = [min(int(r.get(accel, 0)), int(r.get("CPU", 0) // cpw)) for r in nodes]
    server = policy_gpus(cfg.policy) if accel == "GPU" else 0
    have = max(0, sum(per_node) - server)
    homes = sum(int(r.get("CPU", 0) // HOME_CPUS) for r in nodes if r.get(HEAD, 0) > 0)
    if homes < 1:
        raise ClusterError(
            f"a run's home (its run unit, evaluator and coordinator) needs {HOME_CPUS:g} CPU on the head "
            "node, which has none free: give the head node CPUs (ray start --head --num-cpus=N)"
        )
    if have < n:
        if accel == "GPU":
            gpus = sum(int(r.get("GPU", 0)) for r in nodes)
            raise ClusterError(
                f"a run needs search.num_workers={n} GPU workers (1 GPU and {cpw:g} CPUs each) but the "
                f"cluster holds {have}: it has {gpus} GPUs on {len(nodes)} nodes, the policy server takes "
                f"{server}, and {sum(per_node)} have their CPUs: lower search.num_workers or "
                "resources.cpus_per_worker, add GPU nodes, or give the policy fewer GPUs"
            )
        slots = sum(int(r.get(CPU_SLOT, 0)) for r in nodes)
        raise ClusterError(
            f"a run needs search.num_workers={n} CPU workers (1 `{CPU_SLOT}` and {cpw:g} CPUs each) but "
            f"the cluster holds {have}: it has {slots} `{CPU_SLOT}` resources on {len(nodes)} nodes: lower "
            f"search.num_workers or start nodes with --resources='{{\"{CPU_SLOT}\": N}}'"
        )
    return min(have // n, homes)
