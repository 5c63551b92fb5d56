"""Interleaved timing: every backend runs once per round, in a rotating order, so drift and
bursts of load on a shared machine hit every backend alike and ratios stay honest."""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from conformance.backends.base import Backend
from conformance.isolation import Executor, executor_for
from conformance.run.results import Fault, Timing
from conformance.spec.model import Scenario
from conformance.timing.stats import RESAMPLES, Paired, rng_for, row_medians


@dataclass(frozen=True, slots=True)
class Measurement:
    """Per backend name: its timing, or why it could not be timed."""

    timings: dict[str, Timing]
    notes: dict[str, str]
    faults: dict[str, Fault] = field(default_factory=dict)  # re-runs that crashed or hung


def interleaved(
    scenario: Scenario,
    backends: Sequence[Backend | Executor],
    *,
    warmup: int,
    rounds: int,
    budget_s: float | None = None,
    min_rounds: int = 0,
    precision: float = 0.0,
) -> Measurement:
    """Replay `scenario` without checks on each backend: `warmup` untimed rounds, then
    `rounds` timed ones. A backend whose replay raises drops out with a note; the others go on.
    The garbage collector is paused while timing, as `timeit` does: a full collection (~0.1 s
    with torch loaded) would land on whichever sample happened to trigger it.

    With a `budget_s`, timing stops before `rounds` only when three things hold at the end of
    a full rotation of the order (so every block of rounds that ratios are taken over is
    whole): the timed rounds have taken `budget_s` of wall time (harness included), they
    number at least `min_rounds`, and the measurement is already precise: every backend's ratio
    to every other (whichever one the gate later takes ratios against; with one backend, its
    median) has a 95% bootstrap interval within `precision` of it either way. A noisy
    measurement runs every round."""
    samples: dict[str, list[float]] = {backend.name: [] for backend in backends}
    notes: dict[str, str] = {}
    faults: dict[str, Fault] = {}
    active = [executor_for(backend) for backend in backends]
    period = max(len(backends), 1)
    started = 0.0
    enabled = gc.isenabled()
    gc.disable()
    try:
        for index in range(warmup + rounds):
            if index == warmup:
                started = time.perf_counter()
            timed = index - warmup  # timed rounds done before this one
            if (
                budget_s is not None
                and timed >= max(min_rounds, 1)
                and timed % period == 0
                and time.perf_counter() - started >= budget_s
                and _precise(scenario.id, [samples[b.name] for b in active], period, precision)
            ):
                break
            shift = index % len(active) if active else 0
            for backend in active[shift:] + active[:shift]:
                outcome = backend.replay(scenario)
                if outcome.fault is not None:
                    faults[backend.name] = outcome.fault
                    notes[backend.name] = f"not timed: a re-run {outcome.fault.reason}"
                elif outcome.error is not None:
                    notes[backend.name] = f"not timed: a re-run raised {outcome.error.headline()}"
                elif index >= warmup:
                    samples[backend.name].append(outcome.elapsed)
            active = [backend for backend in active if backend.name not in notes]
    finally:
        if enabled:
            gc.enable()
    timings = {
        name: Timing(warmup, tuple(values), period=max(len(backends), 1))
        for name, values in samples.items()
        if name not in notes and values
    }
    return Measurement(timings, notes, faults)


def _precise(key: str, samples: list[list[float]], period: int, precision: float) -> bool:
    """Whether each list's ratio to each other list, by blocks of `period` rounds as reports
    take it (a single list: its median), has a 95% bootstrap interval within `precision`."""
    if not samples or not samples[0]:
        return False
    if len(samples) == 1:
        values = np.asarray(samples[0], dtype=float)
        rng = rng_for(key)
        medians = row_medians(values[rng.integers(0, len(values), size=(RESAMPLES, len(values)))])
        low, high = np.quantile(medians, [0.025, 0.975])
        return bool(high - low <= 2 * precision * np.median(values))
    for i, pivot in enumerate(samples):
        for other in samples[i + 1 :]:
            interval = Paired(tuple(other), tuple(pivot), period).ratio_interval(0.95, key=key)
            if interval.high - interval.low > 2 * precision * interval.value:
                return False
    return True
