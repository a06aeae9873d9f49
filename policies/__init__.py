"""Scripted test doubles behind the policy server's OpenAI-compatible API: not language models.

`baseline` writes and runs scikit-learn solutions from the task card; `replay` plays back a file of
assistant turns (with injected faults). Plain Python: the Ray Serve apps that serve them live in
serving/.
"""
