"""The launcher: what `launch.py` drives. Config, preflight checks, the run unit, benchmarks, progress, result."""
