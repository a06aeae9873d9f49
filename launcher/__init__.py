"""The launcher: what `launch.py` drives. Config, preflight, the run unit, the grid, progress, result."""
