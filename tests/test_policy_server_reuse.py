"""A Serve instance outlives the driver that started it: the next driver deploys the policy on its
proxy and announces the address that answers (the baseline policy, an LLM-free test double)."""

import os
import subprocess
import sys
from pathlib import Path

import openai
import pytest

from serving.config import BaselinePolicyConfig
from serving.server import PolicyError, start_policy_server
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_session")]

# A second driver, as `python launch.py` run again is: it joins the cluster and starts the policy.
DRIVER = """
import sys
import ray
from serving.config import BaselinePolicyConfig
from serving.server import start_policy_server
ray.init(address=sys.argv[1], namespace="aira", log_to_driver=False)
print(start_policy_server(BaselinePolicyConfig(name="baseline"), "127.0.0.1", int(sys.argv[2])).base_url)
"""


def test_a_driver_launched_again_announces_the_running_proxy_that_answers() -> None:
    import ray
    from ray import serve

    serve.shutdown()
    first = start_policy_server(BaselinePolicyConfig(name="baseline"), "127.0.0.1", free_port())
    other = free_port()
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, ray.get_runtime_context().gcs_address, str(other)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    announced = proc.stdout.strip().splitlines()[-1]
    assert announced == first.base_url != f"http://127.0.0.1:{other}/v1"
    assert "serve.port=" + str(other) + " are not applied" in proc.stderr
    client = openai.OpenAI(base_url=announced, api_key="x", max_retries=0)
    assert [m.id for m in client.models.list()] == ["aira-baseline"]


def test_a_running_loopback_proxy_is_refused_for_a_cluster_wide_policy() -> None:
    from ray import serve

    serve.shutdown()
    port = free_port()
    start_policy_server(BaselinePolicyConfig(name="baseline"), "127.0.0.1", port)
    with pytest.raises(PolicyError, match=f"127.0.0.1:{port}.*cannot reach.*serve shutdown -y"):
        start_policy_server(BaselinePolicyConfig(name="baseline"), "0.0.0.0", port)
    serve.delete("policy")
