"""Gradients two ways: the reference engine against central finite differences, op by op,
and the check itself catches the broken fixtures' gradient bugs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.backends import resolve_backend
from conformance.fuzz.gradcheck import CASES, gradcheck, uncovered


def test_every_differentiable_op_has_a_case_with_a_reason() -> None:
    assert not uncovered()
    assert all(case.reason and case.rtol > 0 and case.atol > 0 for case in CASES)


def test_the_reference_engine_matches_finite_differences() -> None:
    failures = [o for o in gradcheck(resolve_backend("reference")) if not o.passed]
    assert not failures, "\n".join(f"{o.case.expression}: {o.detail}" for o in failures)


@pytest.mark.parametrize(
    ("module", "ops"),
    [("broken_broadcast", {"add", "sub", "mul", "div"}), ("broken_reduction_dim", {"mean(dim)"})],
)
def test_gradcheck_catches_wrong_gradients(
    broken_modules: Path, module: str, ops: set[str]
) -> None:
    outcomes = gradcheck(resolve_backend(f"torchlike:{module}"))
    assert {o.case.op for o in outcomes if not o.passed} == ops


def test_the_cli_prints_each_case_and_fails_on_a_wrong_gradient(broken_modules: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(broken_modules), os.environ.get("PYTHONPATH", "")]),
    }
    command = [sys.executable, "-m", "conformance", "gradcheck", "--backend"]
    broken = subprocess.run(
        [*command, "torchlike:broken_reduction_dim"], capture_output=True, text=True, env=env
    )
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "FAIL  x0.mean(dim=0)" in broken.stdout
    assert "x0.grad[" in broken.stdout and "analytic" in broken.stdout
    assert f"{len(CASES)} cases on torchlike:broken_reduction_dim" in broken.stdout
    good = subprocess.run([*command, "reference"], capture_output=True, text=True, env=env)
    assert good.returncode == 0, good.stdout + good.stderr
    assert f"{len(CASES)} pass, 0 fail" in good.stdout


@pytest.mark.parametrize(
    ("fault", "cause"), [("segfault", "crashed: SIGSEGV"), ("hang", "timed out")]
)
def test_a_case_that_kills_the_engine_fails_and_the_others_still_run(
    broken_modules: Path, fault: str, cause: str
) -> None:
    env = {**os.environ, "PYTHONPATH": str(broken_modules), "FAULTY_ENGINE": fault}
    run = subprocess.run(
        [sys.executable, "-m", "conformance", "gradcheck", "--timeout", "10",
         "--backend", "torchlike:faulty_engine"],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert run.returncode == 1, run.stdout + run.stderr
    assert "FAIL  exp(x0)" in run.stdout and cause in run.stdout
    assert f"{len(CASES)} cases on torchlike:faulty_engine: {len(CASES) - 1} pass, 1 fail" in (
        run.stdout
    )


def test_a_worker_gives_the_results_this_process_gives() -> None:
    """Each case draws its points from (seed, index), so the worker's run, case by case over
    a pipe, equals the in-process one exactly."""
    from conformance.isolation import Isolation, start_executors

    (worker,) = start_executors(["reference"], Isolation())
    try:
        assert gradcheck(worker, seed=3) == gradcheck(resolve_backend("reference"), seed=3)
    finally:
        worker.close()
