"""A run's placement group and whether a cluster can ever hold a run of the grid (no Ray needed)."""

import pytest

from launcher.config import RunConfig
from launcher.placement import (
    CPU_SLOT,
    HEAD,
    ClusterError,
    embedded_node,
    policy_bundles,
    policy_gpus,
    run_bundles,
    runs_that_fit,
)
from tests.conftest import compose_config

HEAD_NODE = {"CPU": 8.0, HEAD: 1.0}


def gpu_node(gpus: int, cpus: int) -> dict[str, float]:
    return {"CPU": float(cpus), "GPU": float(gpus)}


VLLM_TP2 = (
    "policy=vllm",
    "policy.model=m",
    "policy.models=[{model: m, source: x/y, tensor_parallel_size: 2, num_replicas: 2}]",
)


def test_a_run_is_a_home_bundle_on_the_head_and_one_bundle_per_worker() -> None:
    gpu = run_bundles(compose_config("resources.gpus_per_worker=1", "resources.cpus_per_worker=4"))
    assert gpu[0]["CPU"] == 1 and 0 < gpu[0][HEAD] < 1
    assert gpu[1:] == [{"CPU": 4.0, "GPU": 1.0}] * 2
    cpu = run_bundles(compose_config("search.num_workers=3"))
    assert cpu[1:] == [{"CPU": 1.0, CPU_SLOT: 1.0}] * 3


def test_runs_side_by_side_count_whole_workers_per_node() -> None:
    cfg = compose_config("resources.gpus_per_worker=1", "search.num_workers=2", "resources.cpus_per_worker=2")
    # 4 + 3 GPUs, but the second node's CPUs feed only 2 workers: 6 workers, 3 runs of 2.
    assert runs_that_fit(cfg, [HEAD_NODE, gpu_node(4, 8), gpu_node(3, 4)]) == 3
    # The head's CPUs bound the homes.
    assert runs_that_fit(cfg, [{"CPU": 2.0, HEAD: 1.0}, gpu_node(8, 64)]) == 2


def test_the_policy_servers_gpus_are_counted_and_too_few_are_refused_with_the_numbers() -> None:
    cfg = compose_config("resources.gpus_per_worker=1", "search.num_workers=4", *VLLM_TP2)
    assert policy_gpus(cfg.policy) == 4
    assert runs_that_fit(cfg, [HEAD_NODE, gpu_node(8, 32)]) == 1
    with pytest.raises(ClusterError) as e:
        runs_that_fit(cfg, [HEAD_NODE, gpu_node(4, 32), gpu_node(2, 32)])
    msg = str(e.value)
    assert "search.num_workers=4 GPU workers" in msg and "the cluster holds 2" in msg
    assert "6 GPUs on 3 nodes, the policy server takes 4" in msg


def test_cpu_runs_need_slots_and_a_head_with_cpus() -> None:
    cfg = compose_config("search.num_workers=2")
    assert runs_that_fit(cfg, [{"CPU": 8.0, HEAD: 1.0, CPU_SLOT: 4.0}]) == 2
    with pytest.raises(
        ClusterError, match=r"holds 1: it has 1 `experiment_slot`s on 1 nodes(.|\n)*add nodes"
    ):
        runs_that_fit(cfg, [{"CPU": 8.0, HEAD: 1.0, CPU_SLOT: 1.0}])
    with pytest.raises(ClusterError, match="CPU free that a run's home needs"):
        runs_that_fit(cfg, [{"CPU": 0.0, HEAD: 1.0}, {"CPU": 8.0, CPU_SLOT: 4.0}])


def refusal(cfg: RunConfig, nodes: list[dict[str, float]]) -> str:
    with pytest.raises(ClusterError) as e:
        runs_that_fit(cfg, nodes)
    return str(e.value)


def test_workers_sharing_the_home_node_count_the_home_bundles_cpu() -> None:
    # The grid that hung (issue 24): 2 CPUs, 2 one-CPU workers and a one-CPU home on one node.
    cfg = compose_config("ray.num_cpus=2", "search.num_workers=2", "benchmark=local")
    node = embedded_node(cfg, cores=2, gpus=0)
    assert node["CPU"] == 2 and node[CPU_SLOT] == 2
    msg = refusal(cfg, [node])
    assert "search.num_workers=2 CPU workers but the cluster holds 1" in msg
    assert "home bundle {CPU: 1} on the head node and 2 worker bundles {CPU: 1, experiment_slot: 1}" in msg
    assert "(3 CPUs and 2 experiment_slot in all)" in msg
    assert "the cluster has: head {CPU: 2, experiment_slot: 2}" in msg
    assert "lower search.num_workers to 1" in msg and "ray.num_cpus=3" in msg
    assert runs_that_fit(cfg, [embedded_node(compose_config("ray.num_cpus=3", "benchmark=local"), 3, 0)]) == 1
    # Left to itself the embedded Ray takes enough CPUs for the runs side by side.
    free = compose_config("search.num_workers=2", "benchmark=local", "benchmark.max_concurrent=2")
    assert runs_that_fit(free, [embedded_node(free, cores=2, gpus=0)]) == 2
    # A single 8-GPU box with 8 CPUs: 8 one-CPU workers and the home need 9.
    box = compose_config("ray.address=auto", "resources.gpus_per_worker=1", "search.num_workers=8")
    msg = refusal(box, [{"CPU": 8.0, "GPU": 8.0, HEAD: 1.0}])
    assert "the cluster holds 7" in msg and "(9 CPUs and 8 GPUs in all)" in msg
    assert "lower search.num_workers to 7" in msg and "add CPUs" in msg and "ray.num_cpus" not in msg
    assert runs_that_fit(box, [{"CPU": 9.0, "GPU": 8.0, HEAD: 1.0}]) == 1


def test_gpu_workers_on_a_cpu_only_cluster_are_refused() -> None:
    cfg = compose_config("ray.address=auto", "resources.gpus_per_worker=1")
    msg = refusal(cfg, [HEAD_NODE, {"CPU": 32.0}])
    assert "it has 0 GPUs on 2 nodes" in msg and "why: the cluster has no GPUs" in msg
    assert "the cluster has: head {CPU: 8}; {CPU: 32}" in msg and "resources.gpus_per_worker=0" in msg
    # CPU workers on nodes started without the slot resource.
    msg = refusal(compose_config("ray.address=auto"), [HEAD_NODE, {"CPU": 32.0}])
    assert "no node has the `experiment_slot` resource" in msg and "--resources=" in msg


def test_a_policy_server_taking_gpus_leaves_the_rest_to_the_workers() -> None:
    tp4 = (
        "policy=vllm",
        "policy.model=m",
        "policy.models=[{model: m, source: x/y, tensor_parallel_size: 4}]",
    )
    assert policy_bundles(compose_config(*tp4).policy) == [{"GPU": 1.0, "CPU": 1.0}] + [{"GPU": 1.0}] * 3
    nodes = [HEAD_NODE, gpu_node(8, 64)]
    assert (
        runs_that_fit(compose_config("resources.gpus_per_worker=1", "search.num_workers=4", *tp4), nodes) == 1
    )
    msg = refusal(compose_config("resources.gpus_per_worker=1", "search.num_workers=5", *tp4), nodes)
    assert "the cluster holds 4: it has 8 GPUs on 2 nodes, the policy server takes 4" in msg
    assert "the policy server (policy=vllm) holds 4 bundles: 4 GPUs and 1 CPUs in all" in msg
    assert "lower search.num_workers to 4" in msg and "give the policy server fewer GPUs" in msg
    # The server's GPUs go where they cost no worker: a node whose CPUs feed only 2 of its 8 GPUs.
    cpu_bound = compose_config(
        "resources.gpus_per_worker=1", "search.num_workers=2", "resources.cpus_per_worker=4", *tp4
    )
    assert runs_that_fit(cpu_bound, [HEAD_NODE, gpu_node(8, 9)]) == 1
    # A server that fits nowhere.
    tp8 = (
        "policy=vllm",
        "policy.model=m",
        "policy.models=[{model: m, source: x/y, tensor_parallel_size: 8}]",
    )
    msg = refusal(compose_config("resources.gpus_per_worker=1", *tp8), [HEAD_NODE, gpu_node(4, 32)])
    assert "the policy server's bundles do not fit" in msg


def test_enough_resources_but_no_node_holding_a_whole_bundle_is_refused() -> None:
    cfg = compose_config("resources.gpus_per_worker=1", "search.num_workers=2", "resources.cpus_per_worker=8")
    # 8 GPUs and 16 CPUs on GPU nodes, but never a GPU and 8 CPUs on the same node.
    msg = refusal(cfg, [HEAD_NODE, gpu_node(4, 4), gpu_node(4, 4), {"CPU": 64.0}])
    assert "no node holds a whole worker bundle {CPU: 8, GPU: 1}" in msg
    assert "the nodes with a GPU have at most 4 CPUs" in msg
    assert "lower resources.cpus_per_worker to 4 or less" in msg
    assert "the cluster has: head {CPU: 8}; 2 x {CPU: 4, GPU: 4}; {CPU: 64}" in msg
    assert runs_that_fit(cfg, [HEAD_NODE, gpu_node(4, 16), gpu_node(4, 16)]) == 2


def test_a_grid_that_fits_says_how_many_runs_at_once() -> None:
    cfg = compose_config("resources.gpus_per_worker=1", "search.num_workers=2")
    # Workers on the head share its CPUs with the homes: k runs need k + 2k CPUs there.
    assert runs_that_fit(cfg, [{"CPU": 8.0, "GPU": 8.0, HEAD: 1.0}]) == 2
    assert runs_that_fit(cfg, [{"CPU": 9.0, "GPU": 8.0, HEAD: 1.0}]) == 3
    assert runs_that_fit(cfg, [HEAD_NODE, gpu_node(8, 64), gpu_node(8, 64)]) == 8
