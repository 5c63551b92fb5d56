"""Repros: the command that reruns one result alone, and a standalone snippet that
reproduces it without the harness."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from conformance.backends import resolve_backend
from conformance.run.interpreter import Interpreter
from conformance.run.repro import repro
from conformance.run.results import Status
from conformance.run.runner import Runner, TimingOptions
from conformance.spec import load_spec

DATA = Path(__file__).parent / "data"
FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).parents[2]
torch = pytest.importorskip("torch")
NO_TIMING = TimingOptions(repeat=0)


def test_the_snippet_reproduces_a_failure_on_its_own(broken_modules: Path) -> None:
    scenario = load_spec(DATA / "pass" / "accumulation.yaml")
    backend = resolve_backend("torchlike:broken_accumulate")
    result = Runner(resolve_backend("torch-cpu"), NO_TIMING).run(scenario, backend)
    found = repro(result, backend, "torch-cpu")
    assert found.command == (
        f"conformance show harness.accumulation --spec {scenario.where.path} "
        "--backend torchlike:broken_accumulate"
    )
    assert found.snippet is not None
    assert "import broken_accumulate as torch" in found.snippet
    assert "# x.grad: values differ" in found.snippet
    completed = subprocess.run(
        [sys.executable, "-c", found.snippet],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(FIXTURES)},
        check=True,
    )
    assert "[[3., 3.]," in completed.stdout  # overwritten, where torch accumulates to 4


def test_random_inputs_in_a_snippet_match_the_harness() -> None:
    scenario = load_spec(DATA / "pass" / "cross_backend.yaml")
    backend = resolve_backend("torch-cpu")
    result = Runner(backend, NO_TIMING).run(scenario, backend)
    found = repro(replace(result, status=Status.FAIL), backend, None)
    assert found.snippet is not None and "def randn(" in found.snippet
    namespace: dict[str, object] = {}
    exec(compile(found.snippet, "<repro>", "exec"), namespace)
    observed = Interpreter(scenario, backend).run().observations
    np.testing.assert_array_equal(namespace["w"].grad.numpy(), observed[2])  # type: ignore[attr-defined]


def test_hooks_and_grad_modes_become_plain_torch() -> None:
    scenario = load_spec(ROOT / "specs" / "semantics" / "hooks" / "order.yaml")
    backend = resolve_backend("torch-cpu")
    result = replace(Runner(backend, NO_TIMING).run(scenario, backend), status=Status.FAIL)
    snippet = repro(result, backend, "torch-cpu").snippet
    assert snippet is not None
    assert "x.register_hook(before.append)" in snippet
    assert "x.register_hook(lambda grad: grad * 2)" in snippet
    namespace: dict[str, object] = {}
    exec(compile(snippet, "<repro>", "exec"), namespace)
    assert namespace["after"][0].tolist() == [10.0, 10.0]  # type: ignore[index]


def test_an_error_stops_the_snippet_at_the_raising_step() -> None:
    scenario = load_spec(DATA / "error" / "raises_midway.yaml")
    backend = resolve_backend("torch-cpu")
    result = Runner(backend, NO_TIMING).run(scenario, backend)
    snippet = repro(result, backend, None).snippet
    assert snippet is not None
    with pytest.raises(RuntimeError, match="shape '\\[3\\]' is invalid"):
        exec(compile(snippet, "<repro>", "exec"), {})
    assert torch.is_grad_enabled()


def test_a_backend_that_is_not_torch_shaped_gets_only_the_command() -> None:
    scenario = load_spec(DATA / "pass" / "accumulation.yaml")
    backend = resolve_backend("reference")
    result = Runner(backend, NO_TIMING).run(scenario, backend)

    class Other:
        name = "other"

    found = repro(result, Other(), None)  # type: ignore[arg-type]
    assert found.snippet is None and "--backend reference" in found.command
