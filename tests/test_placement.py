"""A run's placement group and whether a cluster can ever hold a run of the grid (no Ray needed)."""

import pytest

from launcher.placement import CPU_SLOT, HEAD, ClusterError, policy_gpus, run_bundles, runs_that_fit
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
    with pytest.raises(ClusterError, match=r"1 `experiment_slot` resources on 1 nodes.*--resources"):
        runs_that_fit(cfg, [{"CPU": 8.0, HEAD: 1.0, CPU_SLOT: 1.0}])
    with pytest.raises(ClusterError, match="CPU on the head node"):
        runs_that_fit(cfg, [{"CPU": 0.0, HEAD: 1.0}, {"CPU": 8.0, CPU_SLOT: 4.0}])
