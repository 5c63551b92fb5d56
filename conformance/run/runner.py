"""Run scenarios on backends: statuses, cross-backend checks against a baseline, and timing.

`Runner.run(scenario, backend)` is the unit a pytest plugin needs: one scenario on one
backend, giving a `ScenarioResult` whose `report()` is the readable diff. `Runner.run_all`
builds the matrix the CLI prints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

from conformance.backends.base import Backend
from conformance.isolation import Executor, executor_for
from conformance.isolation.executor import Pending
from conformance.run.results import ErrorInfo, ScenarioResult, Status
from conformance.spec.model import Scenario
from conformance.spec.versions import outside_torch_range, torch_version
from conformance.timing.measure import interleaved

BENCH_TAG = "bench"


@dataclass(frozen=True, slots=True)
class TimingOptions:
    """Untimed warm-up rounds, then timed rounds; `repeat=0` turns timing off. Scenarios
    tagged `bench` exist to be timed and get up to `bench_repeat` rounds, enough for the
    gate's bootstrap to tell a real slowdown from noise. A slow bench scenario whose
    measurement is already precise stops sooner: once its timed rounds have taken
    `bench_budget_s` of wall time, number at least `bench_min_repeat`, end a full rotation of
    the backends' order (so its ratios keep whole blocks), and each backend's ratio is known
    within `bench_precision` (95% bootstrap interval). `bench_budget_s=0` always runs
    `bench_repeat` rounds."""

    warmup: int = 1
    repeat: int = 5
    bench_repeat: int = 50
    bench_budget_s: float = 0.1
    bench_min_repeat: int = 20
    bench_precision: float = 0.05

    def rounds(self, scenario: Scenario) -> int:
        """The most timed rounds `scenario` gets."""
        if self.repeat <= 0:
            return 0
        return max(self.repeat, self.bench_repeat) if BENCH_TAG in scenario.tags else self.repeat

    def budget(self, scenario: Scenario) -> tuple[float | None, int]:
        """The wall-time budget of `scenario`'s timed rounds (None: no budget) and the
        rounds it gets whatever the budget says."""
        rounds = self.rounds(scenario)
        if BENCH_TAG not in scenario.tags or self.bench_budget_s <= 0:
            return None, rounds
        return self.bench_budget_s, min(rounds, max(self.repeat, self.bench_min_repeat))


@dataclass(frozen=True, slots=True)
class _BaselineValues:
    values: Mapping[int, object] | None
    note: str = ""


@dataclass(slots=True)
class _Check:
    """A check under way: its verdict when one came before running (unavailable,
    unsupported), else the run its executor started (`pending`)."""

    scenario: Scenario
    executor: Executor
    verdict: ScenarioResult | None = None
    pending: Pending | None = None
    compare: _BaselineValues = _BaselineValues(None)
    is_baseline: bool = False


class Runner:
    """Runs scenarios; an `expect` without a pinned value is checked against `baseline`."""

    def __init__(
        self, baseline: Backend | Executor | None = None, timing: TimingOptions | None = None
    ) -> None:
        self.baseline = executor_for(baseline) if baseline is not None else None
        self.timing = timing or TimingOptions()
        self._baseline_values: dict[str, _BaselineValues] = {}
        self._torch_version: tuple[str | None] | None = None  # read once, on first need

    def run(self, scenario: Scenario, backend: Backend | Executor) -> ScenarioResult:
        """Run one scenario on one backend in fresh state; correctness from the first run,
        timing from re-runs."""
        executor = executor_for(backend)
        return self._timed(scenario, [self.check(scenario, executor)], [executor])[0]

    def check(self, scenario: Scenario, backend: Backend | Executor) -> ScenarioResult:
        """Run one scenario on one backend once, in fresh state, without timing it."""
        return self._finish_check(self._start_check(scenario, executor_for(backend)))

    def _start_check(self, scenario: Scenario, executor: Executor) -> _Check:
        """Everything a check does before the engine runs; a worker's run is only sent, so
        the checks of several workers overlap."""
        try:
            availability = executor.availability()
            capabilities = executor.capabilities() if availability.available else frozenset()
        except Exception as exc:  # a plug-in's own bug must not stop the whole run
            error = ErrorInfo(scenario.where, type(exc).__name__, f"backend setup: {exc}", "")
            return _Check(
                scenario,
                executor,
                ScenarioResult(scenario, executor.name, Status.ERROR, error=error),
            )
        if not availability.available:
            result = ScenarioResult(
                scenario, executor.name, Status.UNAVAILABLE, availability.reason
            )
            return _Check(scenario, executor, result)
        outside = self._outside_torch_range(scenario)
        if outside:  # the spec's behaviour is not torch's here, so no backend is judged by it
            result = ScenarioResult(scenario, executor.name, Status.UNSUPPORTED, outside)
            return _Check(scenario, executor, result)
        missing = sorted(scenario.needs - capabilities)
        if missing:
            reason = "; ".join(f"needs {name}: {executor.missing_reason(name)}" for name in missing)
            result = ScenarioResult(scenario, executor.name, Status.UNSUPPORTED, reason)
            return _Check(scenario, executor, result)
        is_baseline = self.baseline is not None and executor.name == self.baseline.name
        compare = _BaselineValues(None)
        if scenario.has_cross_checks and not is_baseline:
            compare = self._baseline_for(scenario)
        name = self.baseline.name if self.baseline else None
        check = _Check(scenario, executor, compare=compare, is_baseline=is_baseline)
        check.pending = executor.begin_check(scenario, compare.values, name)
        return check

    def _finish_check(self, check: _Check) -> ScenarioResult:
        if check.verdict is not None:
            return check.verdict
        scenario, executor, compare = check.scenario, check.executor, check.compare
        assert check.pending is not None
        outcome = executor.finish(check.pending)
        if outcome.fault is not None:
            if check.is_baseline:  # the others compare with nothing; never rerun a hang
                note = f"cross-backend checks skipped: {executor.name} {outcome.fault.reason}"
                self._baseline_values[scenario.id] = _BaselineValues(None, note)
            return ScenarioResult(
                scenario, executor.name, outcome.fault.status, outcome.fault.reason
            )
        if check.is_baseline:
            self._baseline_values[scenario.id] = _BaselineValues(outcome.observations)
        notes = [compare.note] if compare.note else []
        notes.extend(outcome.notes)
        if outcome.error is not None:
            status = Status.ERROR
        else:
            status = Status.FAIL if outcome.mismatches else Status.PASS
        return ScenarioResult(
            scenario,
            executor.name,
            status,
            mismatches=tuple(outcome.mismatches),
            error=outcome.error,
            warnings=tuple(outcome.warnings),
            notes=tuple(notes),
        )

    def run_all(
        self,
        scenarios: Sequence[Scenario],
        backends: Sequence[Backend | Executor],
        on_result: Callable[[ScenarioResult], None] | None = None,
    ) -> list[ScenarioResult]:
        """Every scenario on every backend, in order; see `each_scenario`."""
        results: list[ScenarioResult] = []
        for found in self.each_scenario(scenarios, backends, on_result):
            results.extend(found)
        return results

    def each_scenario(
        self,
        scenarios: Sequence[Scenario],
        backends: Sequence[Backend | Executor],
        on_result: Callable[[ScenarioResult], None] | None = None,
    ) -> Iterator[list[ScenarioResult]]:
        """Each scenario's results on every backend, as soon as they are known, so a caller
        can keep them before the next scenario starts. Correctness first (the baseline first,
        so its values are ready for the others; the rest side by side when they run in
        workers), then timing rounds that alternate between the backends."""
        executors = [executor_for(backend) for backend in backends]
        for scenario in scenarios:
            by_backend: dict[str, ScenarioResult] = {}
            first, *others = self._baseline_first(executors)
            for group in ([first], others):
                started = [self._start_check(scenario, executor) for executor in group]
                for check in started:
                    result = by_backend[check.executor.name] = self._finish_check(check)
                    if on_result is not None:
                        on_result(result)
            checked = [by_backend[executor.name] for executor in executors]
            yield self._timed(scenario, checked, executors)

    def _timed(
        self, scenario: Scenario, checked: list[ScenarioResult], backends: Sequence[Executor]
    ) -> list[ScenarioResult]:
        """`checked` (one result per backend) with timings added where a run completed."""
        rounds = self.timing.rounds(scenario)
        timeable = {Status.PASS, Status.FAIL}
        chosen = [b for b, r in zip(backends, checked) if r.status in timeable]
        if rounds == 0 or not chosen:
            return checked
        budget, least = self.timing.budget(scenario)
        measured = interleaved(
            scenario,
            chosen,
            warmup=self.timing.warmup,
            rounds=rounds,
            budget_s=budget,
            min_rounds=least,
            precision=self.timing.bench_precision,
        )
        timed = []
        for result in checked:
            note = measured.notes.get(result.backend)
            result = replace(result, timing=measured.timings.get(result.backend))
            if note:
                result = replace(result, notes=(*result.notes, note))
            fault = measured.faults.get(result.backend)
            if fault is not None:  # a re-run that crashed or hung is never green
                reason = f"the check ran, but a timed re-run {fault.reason}"
                result = replace(result, status=fault.status, reason=reason)
            timed.append(result)
        return timed

    def _outside_torch_range(self, scenario: Scenario) -> str:
        if scenario.torch_versions is None:
            return ""
        if self._torch_version is None:
            self._torch_version = (torch_version(self.baseline),)
        return outside_torch_range(scenario.torch_versions, self._torch_version[0])

    def _baseline_first(self, backends: Iterable[Executor]) -> list[Executor]:
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
            outcome = baseline.check(scenario, None, None)
            if outcome.fault is not None:
                note = f"cross-backend checks skipped: {baseline.name} {outcome.fault.reason}"
                found = _BaselineValues(None, note)
            else:
                found = _BaselineValues(outcome.observations)
        self._baseline_values[scenario.id] = found
        return found
