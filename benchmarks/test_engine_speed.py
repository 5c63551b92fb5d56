"""Forward plus backward of each workload on reference, torch (CPU eager), numpy by hand and
the bare engine (``benchmarks/bare_engine.py``: the floor for a Python engine over numpy).

Benchmarks, not timed tests: nothing fails on a slow machine. ``tox -e bench`` runs them on
one thread and ``benchmarks/report.py`` turns the JSON into reports/bench.md.

``test_speed`` times each library alone (pytest-benchmark's statistics, for comparing runs).
``test_side_by_side`` gives the ratios: the libraries take turns, a few steps each per
round in a rotating order, and a ratio is the median of the per-round ratios, so load on a
shared machine that slows a round slows all three alike. Each library's turn starts with an
untimed step: after another library ran, the memory allocator has given pages back to the
system, and the first 4 MB arrays cost page faults (thousands per round) that a training
loop, one library alone, never sees. The chain on 1000x1000 also records
peak memory (tracemalloc sees numpy's allocations, not torch's) and what a step leaves
allocated once its result is dropped.
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from typing import Any

import pytest

from benchmarks.workloads import LIBRARIES, WORKLOADS, make

pytest.importorskip("pytest_benchmark")

ROUNDS = {"chain_2x2": 20000, "chain_1000x1000": 300, "mlp": 200}
SIDE_BY_SIDE_ROUNDS = {"chain_2x2": 300, "chain_1000x1000": 80, "mlp": 50}
BATCH = {"chain_2x2": 50, "chain_1000x1000": 4, "mlp": 3}  # timed steps per library per round
MEASURED_MEMORY = ("numpy", "reference")
RATIOS = (("reference", "torch"), ("reference", "numpy"), ("bare", "torch"), ("reference", "bare"))


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> None:
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("workload", WORKLOADS)
def test_speed(benchmark: Any, workload: str, library: str) -> None:
    work = make(workload, library)
    benchmark.group = workload
    benchmark.extra_info.update(workload=workload, library=library)
    if workload == "chain_1000x1000" and library in MEASURED_MEMORY:
        benchmark.extra_info.update(_memory(work))
    benchmark.pedantic(
        _dropping(work.step),
        setup=work.reset,
        rounds=ROUNDS[workload],
        warmup_rounds=ROUNDS[workload] // 10,
    )


def _dropping(step: Any) -> Any:
    """``step``, its result dropped at once. pytest-benchmark keeps a round's result until the
    next round's returns, so each step would make its arrays while the last one's gradient
    (4 MB on the chain) still lived: the allocator then places them elsewhere, gives pages
    back and faults them in again (about 200 page faults a step, a quarter of numpy's
    time on the chain), which a training loop that drops its result never pays."""

    def run() -> None:
        step()

    return run


@pytest.mark.parametrize("workload", WORKLOADS)
def test_side_by_side(benchmark: Any, workload: str) -> None:
    """Rounds of a few steps per library (the round's time is pytest-benchmark's sample); the
    per-library step times and the ratios go in extra_info."""
    works = {library: make(workload, library) for library in LIBRARIES}
    samples: dict[str, list[float]] = {library: [] for library in LIBRARIES}
    order = list(LIBRARIES)
    batch = BATCH[workload]

    def one_round() -> None:
        order.append(order.pop(0))  # rotate: each library takes each position in turn
        for library in order:
            step, reset = works[library].step, works[library].reset
            reset()
            step()  # untimed: see the module docstring
            spent = 0.0
            for _ in range(batch):
                reset()
                start = time.perf_counter()
                step()
                spent += time.perf_counter() - start
            samples[library].append(spent / batch)

    benchmark.group = f"{workload} side by side"
    rounds = SIDE_BY_SIDE_ROUNDS[workload]
    benchmark.pedantic(one_round, rounds=rounds, warmup_rounds=rounds // 10)
    warm = rounds // 10  # the warm-up rounds' samples are dropped too
    kept = {library: values[warm:] for library, values in samples.items()}
    benchmark.extra_info.update(
        workload=workload,
        median_s={library: statistics.median(values) for library, values in kept.items()},
        ratios={
            f"{ours}/{theirs}": _quartiles([a / b for a, b in zip(kept[ours], kept[theirs])])
            for ours, theirs in RATIOS
        },
    )


def _quartiles(values: list[float]) -> dict[str, float]:
    q1, median, q3 = statistics.quantiles(values, n=4)
    return {"median": median, "q1": q1, "q3": q3}


def _memory(work: Any) -> dict[str, int]:
    """Peak bytes allocated during one step beyond what was allocated before it, and the
    bytes still allocated after it once its result is dropped (saved tensors must be freed:
    only the leaves' .grad remain)."""
    work.reset()
    work.step()  # warm: lazily made objects are not the step's
    work.reset()
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        result = work.step()
        _, peak = tracemalloc.get_traced_memory()
        grads = sum(_nbytes(part) for part in (result if isinstance(result, tuple) else (result,)))
        del result
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        work.reset()
    return {"peak_bytes": peak - before, "kept_bytes": after - before, "grad_bytes": grads}


def _nbytes(value: Any) -> int:
    data = getattr(value, "_data", value)  # a reference tensor holds its ndarray
    return int(getattr(data, "nbytes", 0))
