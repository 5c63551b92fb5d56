"""Throughput of differential fuzzing: programs per second, reference against torch-cpu.

A benchmark, not a timed test: pytest-benchmark reports it (`pytest --benchmark-only -k
fuzz_bench`); nothing fails on a slow machine. Generation is measured apart from running, and
the session benchmark includes both, as `conformance fuzz` does.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.backends import resolve_backend
from conformance.fuzz.differential import Differential
from conformance.fuzz.generator import sample
from conformance.fuzz.session import Options, fuzz

pytest.importorskip("torch")
pytest.importorskip("pytest_benchmark")

PROGRAMS = 200


@pytest.fixture(scope="module")
def differential() -> Differential:
    return Differential(resolve_backend("reference"), resolve_backend("torch-cpu"))


def test_fuzz_bench_running_programs(benchmark: Any, differential: Differential) -> None:
    """Compile, run on both backends and diff; per round, PROGRAMS programs."""
    batch = sample(PROGRAMS)
    benchmark.extra_info["programs_per_round"] = len(batch)
    verdicts = benchmark.pedantic(
        lambda: [differential.run(program) for program in batch], rounds=3, iterations=1
    )
    assert not any(verdict.diverged for verdict in verdicts)


def test_fuzz_bench_session(benchmark: Any, differential: Differential) -> None:
    """A whole session, hypothesis's generation included: what `conformance fuzz` reaches."""
    result = benchmark.pedantic(
        lambda: fuzz(differential, Options(max_examples=PROGRAMS, seed=0)), rounds=3, iterations=1
    )
    benchmark.extra_info["programs_per_second"] = round(result.stats.rate)
    assert result.verdict is None
