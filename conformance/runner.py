"""Run scenarios on backends: statuses, cross-backend checks against a baseline, and timing.

`Runner.run(scenario, backend)` is the unit a pytest plugin needs: one scenario on one
backend, giving a `ScenarioResult` whose `report()` is the readable diff. `Runner.run_all`
builds the matrix the CLI prints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from conformance.backends.base import Backend
from conformance.interpreter import Interpreter
from conformance.results import ErrorInfo, ScenarioResult, Status, Timing
from conformance.spec.model import Scenario


@dataclass(frozen=True, slots=True)
class TimingOptions:
    """Untimed warm-up runs, then timed repeats; `repeat=0` turns timing off."""

    warmup: int = 1
    repeat: int = 5


@dataclass(frozen=True, slots=True)
class _BaselineValues:
    values: Mapping[int, object] | None
    note: str = ""


class Runner:
    """Runs scenarios; an `expect` without a pinned value is checked against `baseline`."""

    def __init__(
        self, baseline: Backend | None = None, timing: TimingOptions | None = None
    ) -> None:
        self.baseline = baseline
        self.timing = timing or TimingOptions()
        self._baseline_values: dict[str, _BaselineValues] = {}

    def run(self, scenario: Scenario, backend: Backend) -> ScenarioResult:
        """Run one scenario on one backend in fresh state; correctness from the first run,
        timing from re-runs."""
        try:
            availability = backend.availability()
            capabilities = backend.capabilities() if availability.available else frozenset()
        except Exception as exc:  # a plug-in's own bug must not stop the whole run
            error = ErrorInfo(scenario.where, type(exc).__name__, f"backend setup: {exc}", "")
            return ScenarioResult(scenario, backend.name, Status.ERROR, error=error)
        if not availability.available:
            return ScenarioResult(scenario, backend.name, Status.UNAVAILABLE, availability.reason)
        missing = sorted(scenario.needs - capabilities)
        if missing:
            reason = "; ".join(f"needs {name}: {backend.missing_reason(name)}" for name in missing)
            return ScenarioResult(scenario, backend.name, Status.UNSUPPORTED, reason)
        is_baseline = self.baseline is not None and backend.name == self.baseline.name
        compare = _BaselineValues(None)
        if scenario.has_cross_checks and not is_baseline:
            compare = self._baseline_for(scenario)
        outcome = Interpreter(
            scenario,
            backend,
            baseline=compare.values,
            baseline_name=self.baseline.name if self.baseline else None,
        ).run()
        if is_baseline:
            self._baseline_values[scenario.id] = _BaselineValues(outcome.observations)
        notes = [compare.note] if compare.note else []
        notes.extend(outcome.notes)
        if outcome.error is not None:
            status = Status.ERROR
        else:
            status = Status.FAIL if outcome.mismatches else Status.PASS
        timing = None
        if status is not Status.ERROR and self.timing.repeat > 0:
            timing, note = self._time(scenario, backend)
            if note:
                notes.append(note)
        return ScenarioResult(
            scenario,
            backend.name,
            status,
            mismatches=tuple(outcome.mismatches),
            error=outcome.error,
            timing=timing,
            warnings=tuple(outcome.warnings),
            notes=tuple(notes),
        )

    def run_all(
        self,
        scenarios: Sequence[Scenario],
        backends: Sequence[Backend],
        on_result: Callable[[ScenarioResult], None] | None = None,
    ) -> list[ScenarioResult]:
        """Every scenario on every backend, scenario by scenario; the baseline goes first so
        its values are ready for the others."""
        results: list[ScenarioResult] = []
        for scenario in scenarios:
            by_backend: dict[str, ScenarioResult] = {}
            for backend in self._baseline_first(backends):
                result = by_backend[backend.name] = self.run(scenario, backend)
                if on_result is not None:
                    on_result(result)
            results.extend(by_backend[backend.name] for backend in backends)
        return results

    def _baseline_first(self, backends: Iterable[Backend]) -> list[Backend]:
        name = self.baseline.name if self.baseline else None
        return sorted(backends, key=lambda backend: backend.name != name)

    def _baseline_for(self, scenario: Scenario) -> _BaselineValues:
        cached = self._baseline_values.get(scenario.id)
        if cached is not None:
            return cached
        baseline = self.baseline
        if baseline is None:
            found = _BaselineValues(None, "cross-backend checks skipped: no baseline backend")
        elif not baseline.availability().available:
            reason = baseline.availability().reason
            found = _BaselineValues(
                None, f"cross-backend checks skipped: {baseline.name} is unavailable ({reason})"
            )
        elif scenario.needs - baseline.capabilities():
            found = _BaselineValues(
                None,
                f"cross-backend checks skipped: {baseline.name} does not support this scenario",
            )
        else:
            outcome = Interpreter(scenario, baseline).run()
            found = _BaselineValues(outcome.observations)
        self._baseline_values[scenario.id] = found
        return found

    def _time(self, scenario: Scenario, backend: Backend) -> tuple[Timing | None, str]:
        samples = []
        for run in range(self.timing.warmup + self.timing.repeat):
            outcome = Interpreter(scenario, backend, checking=False).run()
            if outcome.error is not None:
                return None, f"not timed: a re-run raised {outcome.error.headline()}"
            if run >= self.timing.warmup:
                samples.append(outcome.elapsed)
        return Timing(self.timing.warmup, tuple(samples)), ""
