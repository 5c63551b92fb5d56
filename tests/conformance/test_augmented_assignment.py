"""`x += v` in a spec runs the tensor's own in-place operator, as Python does, so an engine
whose tensors lack `__iadd__` (and fall back to `x = x + v`) is caught; `x.add_(v)` stays a
method call."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.backends import resolve_backend
from conformance.run.results import Status
from conformance.run.runner import Runner, TimingOptions
from conformance.spec import find_spec_files, load_spec, load_specs
from conformance.spec import language as L

torch = pytest.importorskip("torch")
SPECS = Path(__file__).parents[2] / "specs" / "semantics" / "augmented_assignment"


@pytest.mark.parametrize("op", sorted(L.AUGMENTED_OPERATORS))
def test_each_augmented_operator_compiles_to_itself(write_spec, op: str) -> None:
    path = write_spec(f"  - |\n    x = ones(2)\n    x {op} 2\n")
    (step,) = load_spec(path).steps
    _, edit = step.body  # type: ignore[attr-defined]
    assert edit == L.InPlace(11, L.Var("x"), op, L.Const(2))


def test_the_method_spelling_stays_a_method_call(write_spec) -> None:
    path = write_spec("  - |\n    x = ones(2)\n    x.add_(2)\n")
    (step,) = load_spec(path).steps
    _, call = step.body  # type: ignore[attr-defined]
    assert isinstance(call, L.Evaluate) and isinstance(call.expr, L.CallMethod)
    assert call.expr.name == "add_"


@pytest.mark.parametrize("name", ["reference", "torch-cpu"])
def test_backends_apply_python_augmented_semantics(name: str) -> None:
    backend = resolve_backend(name)
    x = backend.call("ones", (2,), {})
    alias = x
    result = backend.binary("+=", x, 1)
    assert result is alias  # __iadd__ returns the tensor itself
    assert backend.to_numpy(alias).tolist() == [2.0, 2.0]
    m = backend.call("ones", ((2, 2),), {})
    product = backend.binary("@=", m, m)  # torch has no __imatmul__: a new tensor
    assert product is not m
    assert backend.to_numpy(m).tolist() == [[1.0, 1.0], [1.0, 1.0]]


def test_a_tensor_without_iadd_falls_back_as_python_does(broken_modules: Path) -> None:
    backend = resolve_backend("torchlike:broken_augmented_assignment")
    x = backend.call("ones", (2,), {})
    result = backend.binary("+=", x, 1)
    assert result is not x
    assert backend.to_numpy(x).tolist() == [1.0, 1.0]


def test_the_specs_catch_a_backend_without_in_place_operators(broken_modules: Path) -> None:
    scenarios = load_specs(find_spec_files([str(SPECS)]))
    torch_cpu = resolve_backend("torch-cpu")
    broken = resolve_backend("torchlike:broken_augmented_assignment")
    results = Runner(torch_cpu, TimingOptions(0, 0)).run_all(scenarios, [torch_cpu, broken])
    failed: dict[str, set[str]] = {"torch-cpu": set(), broken.name: set()}
    for result in results:
        if result.status is not Status.PASS:
            failed[result.backend].add(result.scenario.id)
    assert failed["torch-cpu"] == set()
    # every scenario catches it: aliases and views stay stale, no leaf or version error
    assert failed[broken.name] == {scenario.id for scenario in scenarios}
