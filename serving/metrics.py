"""The policy client's custom metrics on the Ray dashboard: latency, errors, retries, tokens.

Every metric carries the run's tags (run, task, seed) and the model; Ray exports them with the
prefix `ray_` (e.g. `ray_aira_policy_request_duration_seconds`) on each node's metrics port.
"""

import functools
from collections.abc import Mapping

from ray.util.metrics import Counter, Histogram

RUN_TAG_KEYS = ("run", "task", "seed")
_KEYS = (*RUN_TAG_KEYS, "model")

# Each metric is made on first use, in the process that records it: one made in the driver before
# ray.init is never exported.
REQUEST_SECONDS = functools.cache(
    lambda: Histogram(
        "aira_policy_request_duration_seconds",
        "Time of one chat-completion request to the policy server (each attempt), by outcome",
        boundaries=[0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
        tag_keys=(*_KEYS, "outcome"),
    )
)
ERRORS = functools.cache(
    lambda: Counter(
        "aira_policy_errors_total",
        "Failed policy requests by kind (the exception's class: RateLimitError, APITimeoutError, ...)",
        tag_keys=(*_KEYS, "kind"),
    )
)
RETRIES = functools.cache(
    lambda: Counter(
        "aira_policy_retries_total",
        "Policy requests retried after a transient failure, by kind",
        tag_keys=(*_KEYS, "kind"),
    )
)
PROMPT_TOKENS = functools.cache(
    lambda: Counter(
        "aira_policy_prompt_tokens_total", "Prompt tokens the policy server reported", tag_keys=_KEYS
    )
)
COMPLETION_TOKENS = functools.cache(
    lambda: Counter(
        "aira_policy_completion_tokens_total", "Completion tokens the policy server reported", tag_keys=_KEYS
    )
)
# Every metric of this module, for the dashboard's test.
METRICS = (REQUEST_SECONDS, ERRORS, RETRIES, PROMPT_TOKENS, COMPLETION_TOKENS)


class PolicyMetrics:
    """Records one worker's policy requests; `run_tags` are the run's run/task/seed (empty when none)."""

    def __init__(self, run_tags: Mapping[str, str] | None = None) -> None:
        given = run_tags or {}
        self.tags = {k: str(given.get(k, "")) for k in RUN_TAG_KEYS}

    def request(self, model: str, seconds: float, error: BaseException | None, retried: bool) -> None:
        """One attempt's duration; a failed one also counts as an error, and as a retry if retried."""
        tags = {**self.tags, "model": model}
        outcome = "ok" if error is None else "error"
        REQUEST_SECONDS().observe(max(seconds, 0.0), {**tags, "outcome": outcome})
        if error is not None:
            kind = {**tags, "kind": type(error).__name__}
            ERRORS().inc(1, kind)
            if retried:
                RETRIES().inc(1, kind)

    def tokens(self, model: str, prompt: int, completion: int) -> None:
        """A completion's token usage."""
        tags = {**self.tags, "model": model}
        if prompt > 0:
            PROMPT_TOKENS().inc(prompt, tags)
        if completion > 0:
            COMPLETION_TOKENS().inc(completion, tags)
