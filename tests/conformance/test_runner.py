"""Runner statuses, fresh state, cross-backend checks against a baseline, and timing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conformance.backends import Unavailable, resolve_backend
from conformance.run.interpreter import Interpreter
from conformance.run.results import Status
from conformance.run.runner import Runner, TimingOptions
from conformance.spec import find_spec_files, load_spec, load_specs

DATA = Path(__file__).parent / "data"
torch = pytest.importorskip("torch")
NO_TIMING = TimingOptions(warmup=0, repeat=0)


@pytest.fixture(scope="module")
def torch_cpu():  # type: ignore[no-untyped-def]
    return resolve_backend("torch-cpu")


@pytest.mark.parametrize("backend_name", ["torch-cpu", "reference"])
def test_the_passing_suite_passes(backend_name: str, torch_cpu) -> None:  # type: ignore[no-untyped-def]
    scenarios = load_specs(find_spec_files([str(DATA / "pass")]))
    backend = resolve_backend(backend_name)
    results = Runner(torch_cpu, NO_TIMING).run_all(scenarios, [backend])
    assert [(r.scenario.id, r.status) for r in results] == [
        (s.id, Status.PASS) for s in scenarios
    ], "\n".join(r.report() for r in results)


def test_an_unexpected_exception_is_an_error_at_its_line_and_the_run_goes_on(torch_cpu) -> None:  # type: ignore[no-untyped-def]
    failing = load_spec(DATA / "error" / "raises_midway.yaml")
    passing = load_spec(DATA / "pass" / "accumulation.yaml")
    results = Runner(torch_cpu, NO_TIMING).run_all([failing, passing], [torch_cpu])
    error, after = results
    assert error.status is Status.ERROR and after.status is Status.PASS
    assert error.error is not None
    assert (error.error.where.line, error.error.type) == (15, "RuntimeError")
    assert "shape '[3]' is invalid for input of size 4" in error.error.message
    assert error.mismatches == ()  # the first expectation passed before the error
    assert torch.is_grad_enabled(), "the no_grad block was left by the exception"


def test_grad_mode_is_enabled_for_each_run_and_restored_after(torch_cpu) -> None:  # type: ignore[no-untyped-def]
    scenario = load_spec(DATA / "pass" / "no_grad.yaml")  # it expects is_grad_enabled()
    with torch.no_grad():
        result = Runner(torch_cpu, NO_TIMING).run(scenario, torch_cpu)
        assert not torch.is_grad_enabled()
    assert result.status is Status.PASS, result.report()


def test_a_missing_capability_is_unsupported_not_a_failure(broken_modules: Path, torch_cpu) -> None:  # type: ignore[no-untyped-def]
    scenario = load_spec(DATA / "pass" / "inference.yaml")
    limited = resolve_backend("torchlike:torch_without_inference_mode")
    result = Runner(torch_cpu, NO_TIMING).run(scenario, limited)
    assert result.status is Status.UNSUPPORTED and result.status.ok
    assert result.reason == (
        "needs inference_mode: torch_without_inference_mode has no inference_mode"
    )


def test_an_unavailable_backend_is_reported_with_its_reason(torch_cpu) -> None:  # type: ignore[no-untyped-def]
    scenario = load_spec(DATA / "pass" / "accumulation.yaml")
    result = Runner(torch_cpu, NO_TIMING).run(scenario, Unavailable("gpu", "no GPU here"))
    assert (result.status, result.reason) == (Status.UNAVAILABLE, "no GPU here")
    assert result.status.ok


def test_unpinned_expectations_compare_with_the_baseline(broken_modules: Path, torch_cpu) -> None:  # type: ignore[no-untyped-def]
    scenario = load_spec(DATA / "pass" / "cross_accumulate.yaml")
    broken = resolve_backend("torchlike:broken_accumulate")
    result = Runner(torch_cpu, NO_TIMING).run(scenario, broken)
    assert result.status is Status.FAIL
    (mismatch,) = result.mismatches
    assert (mismatch.path, mismatch.problem, mismatch.expected_from) == (
        "x.grad",
        "values differ",
        "torch-cpu",
    )
    assert "6 of 6 elements differ" in mismatch.detail
    # The other way round, torch is the one that differs from the chosen baseline.
    reversed_result = Runner(broken, NO_TIMING).run(scenario, torch_cpu)
    assert reversed_result.mismatches[0].expected_from == "torchlike:broken_accumulate"


def test_without_a_baseline_cross_checks_are_skipped_with_a_note() -> None:
    scenario = load_spec(DATA / "pass" / "cross_backend.yaml")
    result = Runner(Unavailable("torch-cpu", "torch is not installed"), NO_TIMING).run(
        scenario, resolve_backend("reference")
    )
    assert result.status is Status.PASS
    assert result.notes == (
        "cross-backend checks skipped: torch-cpu is unavailable (torch is not installed)",
    )


def test_random_inputs_are_identical_on_every_backend(write_spec, torch_cpu) -> None:  # type: ignore[no-untyped-def]
    path = write_spec(
        "  - |\n    a = randn(3, 2)\n    b = rand(4, dtype=float64)\n  - expect: a\n  - expect: b\n"
    )
    scenario = load_spec(path)
    first, second = (
        Interpreter(scenario, backend).run().observations
        for backend in (torch_cpu, resolve_backend("reference"))
    )
    assert first.keys() == second.keys() == {1, 2}
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    assert first[1].dtype == np.float32 and first[2].dtype == np.float64
    expected = np.random.default_rng(0).standard_normal((3, 2)).astype(np.float32)
    np.testing.assert_array_equal(first[1], expected)


def test_timing_keeps_the_samples_after_warmup(torch_cpu) -> None:  # type: ignore[no-untyped-def]
    scenario = load_spec(DATA / "pass" / "accumulation.yaml")
    result = Runner(torch_cpu, TimingOptions(warmup=2, repeat=3)).run(scenario, torch_cpu)
    assert result.timing is not None
    assert result.timing.warmup == 2 and len(result.timing.samples) == 3
    assert all(sample > 0 for sample in result.timing.samples)
    assert min(result.timing.samples) <= result.timing.median <= max(result.timing.samples)


def test_errors_are_not_timed(torch_cpu) -> None:  # type: ignore[no-untyped-def]
    scenario = load_spec(DATA / "error" / "raises_midway.yaml")
    result = Runner(torch_cpu, TimingOptions(warmup=1, repeat=3)).run(scenario, torch_cpu)
    assert result.status is Status.ERROR and result.timing is None


def test_a_result_report_is_readable(broken_modules: Path, torch_cpu) -> None:  # type: ignore[no-untyped-def]
    scenario = load_spec(DATA / "pass" / "accumulation.yaml")
    result = Runner(torch_cpu, NO_TIMING).run(
        scenario, resolve_backend("torchlike:broken_accumulate")
    )
    path = DATA / "pass" / "accumulation.yaml"
    assert result.report().splitlines()[:3] == [
        "FAIL harness.accumulation [torchlike:broken_accumulate]: "
        "Gradients accumulate across backward calls",
        f"  harness.accumulation [torchlike:broken_accumulate] {_shown(path)}:17: "
        "x.grad: values differ",
        "      expected: [[4., 4.],",
    ]


def _shown(path: Path) -> str:
    from conformance.spec import display_path

    return display_path(path)


def test_a_backend_that_breaks_while_probed_is_an_error_not_a_crash(torch_cpu) -> None:  # type: ignore[no-untyped-def]
    class Broken(Unavailable):
        def availability(self):  # type: ignore[no-untyped-def]
            raise OSError("driver exploded")

    scenario = load_spec(DATA / "pass" / "accumulation.yaml")
    result = Runner(torch_cpu, NO_TIMING).run(scenario, Broken("bad", ""))
    assert result.status is Status.ERROR and result.error is not None
    assert result.error.headline().endswith("OSError: backend setup: driver exploded")
