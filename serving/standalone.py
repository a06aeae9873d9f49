"""The scripted policies as a plain OpenAI-compatible HTTP server under uvicorn, without Ray Serve.

A local endpoint for `policy=openai` (the external-endpoint path, tried without an API key) and for
tests that need a real server outside Ray:

    python -m serving.standalone baseline --port 8001
    python -m serving.standalone replay --path turns.jsonl --context-window 8192 --port 8001

then `python launch.py policy=openai policy.base_url=http://127.0.0.1:8001/v1 policy.model=aira-baseline
policy.job_facts=true`. It listens on 127.0.0.1 only.
"""

import argparse
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.responses import Response

from policies.baseline import BaselinePolicy
from policies.replay import ReplayPolicy
from serving._openai_wire import ChatRequest, models_response
from serving._scripted_answers import baseline_answer, replay_answer


def build_app(
    policy: str, model: str, path: Path | None = None, context_window: int | None = None
) -> FastAPI:
    """The FastAPI app serving the `baseline` or `replay` policy under `model`."""
    app = FastAPI(title=f"AIRA {policy} policy (test double, standalone)")
    answer: Any
    if policy == "baseline":
        baseline = BaselinePolicy()

        async def answer(request: ChatRequest) -> Response:
            return baseline_answer(baseline, model, request)
    elif policy == "replay":
        if path is None:
            raise SystemExit("the replay policy needs its file of assistant turns: add --path FILE.jsonl")
        replay = ReplayPolicy(path, context_window)

        async def answer(request: ChatRequest) -> Response:
            return await replay_answer(replay, model, request)
    else:
        raise SystemExit(f"unknown policy {policy!r}: use baseline or replay")

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return models_response(model)

    app.post("/v1/chat/completions")(answer)
    return app


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("policy", choices=["baseline", "replay"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", default=None, help="the model id served (default: aira-<policy>)")
    parser.add_argument("--path", type=Path, default=None, help="replay: the JSONL file of assistant turns")
    parser.add_argument("--context-window", type=int, default=None, help="replay: refuse longer prompts")
    args = parser.parse_args(argv)
    app = build_app(args.policy, args.model or f"aira-{args.policy}", args.path, args.context_window)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
