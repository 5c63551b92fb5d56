"""Benchmarks: the engine against torch and numpy, the harness, and the gate (tox -e bench)."""
