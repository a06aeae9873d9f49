"""The launcher, what `launch.py` drives: config, preflight, the run unit, the grid, progress, result."""
