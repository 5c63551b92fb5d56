"""Interleaved timing: every backend runs once per round, in a rotating order, so drift and
bursts of load on a shared machine hit every backend alike and ratios stay honest."""

from __future__ import annotations

import gc
from collections.abc import Sequence
from dataclasses import dataclass

from conformance.backends.base import Backend
from conformance.interpreter import Interpreter
from conformance.results import Timing
from conformance.spec.model import Scenario


@dataclass(frozen=True, slots=True)
class Measurement:
    """Per backend name: its timing, or why it could not be timed."""

    timings: dict[str, Timing]
    notes: dict[str, str]


def interleaved(
    scenario: Scenario, backends: Sequence[Backend], *, warmup: int, rounds: int
) -> Measurement:
    """Replay `scenario` without checks on each backend: `warmup` untimed rounds, then
    `rounds` timed ones. A backend whose replay raises drops out with a note; the others go on.
    The garbage collector is paused while timing, as `timeit` does: a full collection (~0.1 s
    with torch loaded) would land on whichever sample happened to trigger it."""
    samples: dict[str, list[float]] = {backend.name: [] for backend in backends}
    notes: dict[str, str] = {}
    active = list(backends)
    enabled = gc.isenabled()
    gc.disable()
    try:
        for index in range(warmup + rounds):
            shift = index % len(active) if active else 0
            for backend in active[shift:] + active[:shift]:
                outcome = Interpreter(scenario, backend, checking=False).run()
                if outcome.error is not None:
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
    return Measurement(timings, notes)
