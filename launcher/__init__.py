"""The launcher, what `launch.py` drives: config, preflight checks, runs, benchmarks, progress, result."""
