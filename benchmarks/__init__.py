"""Measurement scripts: each runs on its own (`uv run python benchmarks/NAME.py`); never timed tests."""
