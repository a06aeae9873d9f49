"""The operators: the ReAct loop that drives a policy in a sandbox (and the single-turn ablation),
their prompts and tools. No re-exports: import the module you need.
"""
