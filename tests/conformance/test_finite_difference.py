"""A gradient diff's third opinion: central finite differences in float64 say whether the
backend has a maths bug, a convention of its own at a non-differentiable point, or neither."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from conformance.backends import resolve_backend
from conformance.formats.html import html_report
from conformance.formats.markdown import markdown
from conformance.report.build import build_report
from conformance.report.runfile import check_run, load_run
from conformance.run.results import ScenarioResult, Status
from conformance.run.runner import Runner, TimingOptions
from conformance.spec import load_specs

torch = pytest.importorskip("torch")
NO_TIMING = TimingOptions(0, 0)


def _run(path: Path, backend: str, against: str | None = "torch-cpu") -> ScenarioResult:
    scenario = load_specs([str(path)])[0]
    baseline = resolve_backend(against) if against else None
    return Runner(baseline, NO_TIMING).run(scenario, resolve_backend(backend))


def _opinions(result: ScenarioResult) -> list[str]:
    return [m.finite_difference for m in result.mismatches]


TANH = """\
  - x = tensor([0.5, -1.0, 2.0], requires_grad=True)
  - tanh(x).sum().backward()
  - expect: x.grad
"""


def test_a_maths_bug_gets_finite_differences_on_the_baselines_side(
    broken_modules: Path, write_spec: Callable[..., Path]
) -> None:
    result = _run(write_spec(TANH), "torchlike:fd_tanh_grad")
    assert result.status is Status.FAIL
    [label] = _opinions(result)
    assert label.startswith("finite differences agree with torch-cpu"), label
    assert "on reference" in label
    assert "third opinion: finite differences agree with torch-cpu" in result.report()


def test_a_convention_at_a_kink_is_named_as_torchs(
    broken_modules: Path, write_spec: Callable[..., Path]
) -> None:
    steps = """\
  - x = tensor([-1.0, 0.0, 2.0], requires_grad=True)
  - relu(x).sum().backward()
  - expect: x.grad
  - expect: x.grad
    value: [0.0, 0.0, 1.0]
"""
    result = _run(write_spec(steps), "torchlike:fd_relu_at_zero")
    cross, pinned = _opinions(result)
    assert cross.startswith(
        "the function is not differentiable here; torch's convention is 0.0 "
        "(this backend gives 1.0; at x.grad[1] one-sided differences give 0.0 and 1.0)"
    ), cross
    assert pinned.startswith(
        "the function is not differentiable here; torch's convention (the pinned value) is 0.0"
    ), pinned


def test_a_wrong_pinned_value_gets_this_backends_side(write_spec: Callable[..., Path]) -> None:
    steps = """\
  - x = tensor([1.0, 2.0], requires_grad=True)
  - (x * x).sum().backward()
  - expect: x.grad
    value: [2.0, 5.0]
"""
    [label] = _opinions(_run(write_spec(steps), "torch-cpu", None))
    assert label.startswith("finite differences agree with this backend (x.grad[1]: 4.0"), label


def test_neither_side(write_spec: Callable[..., Path]) -> None:
    steps = """\
  - x = tensor([1.0, 2.0], requires_grad=True)
  - (x * x).sum().backward()
  - expect: x.grad
    value: [2.0, 5.0]
"""
    scenario = load_specs([str(write_spec(steps))])[0]
    outcome = _interpreter_outcome(scenario, got_scale=3.0)
    [label] = [m.finite_difference for m in outcome]
    assert label.startswith("finite differences agree with neither"), label


def _interpreter_outcome(scenario: object, got_scale: float) -> list:  # type: ignore[type-arg]
    """Run on torch-cpu, with every gradient the backend reads scaled (a wrong backend)."""
    from conformance.run.interpreter import Interpreter

    backend = resolve_backend("torch-cpu")

    class Scaled:
        def __getattr__(self, name: str) -> object:
            return getattr(backend, name)

        name = "scaled"

        def get_attr(self, obj: object, attribute: str) -> object:
            value = backend.get_attr(obj, attribute)
            return value * got_scale if attribute == "grad" and value is not None else value

    return Interpreter(scenario, Scaled()).run().mismatches  # type: ignore[arg-type]


# Scenario shapes: each wrong backend scales the gradients it reports by 3, so finite
# differences must side with the expected (torch's, pinned) values.
SHAPES = {
    "backward(v)": """\
  - x = tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
  - z = (x * x).view(2, 2)
  - z.backward(tensor([[1.0, 0.1], [0.01, 0.001]]))
  - expect: x.grad
    value: [2.0, 0.4, 0.06, 0.008]
""",
    "two leaves": """\
  - a = tensor([1.0, 2.0], requires_grad=True)
  - b = tensor([3.0, -1.0], requires_grad=True)
  - (a * b + a.exp()).sum().backward()
  - expect: b.grad
    value: [1.0, 2.0]
""",
    "accumulation": """\
  - x = tensor([1.0, 2.0], requires_grad=True)
  - (x * x).sum().backward()
  - (x * 3).sum().backward()
  - expect: x.grad
    value: [5.0, 7.0]
""",
    "reset by None": """\
  - x = tensor([1.0, 2.0], requires_grad=True)
  - (x * x).sum().backward()
  - x.grad = None
  - (x * 3).sum().backward()
  - expect: x.grad
    value: [3.0, 3.0]
""",
    "reset by zero_": """\
  - x = tensor([1.0, 2.0], requires_grad=True)
  - (x * x).sum().backward()
  - x.grad.zero_()
  - (x * 3).sum().backward()
  - expect: x.grad
    value: [3.0, 3.0]
""",
    "detach is a constant": """\
  - x = tensor([1.0, 2.0], requires_grad=True)
  - (x * x.detach()).sum().backward()
  - expect: x.grad
    value: [1.0, 2.0]
""",
    "no_grad is a constant": """\
  - x = tensor([1.0, 2.0], requires_grad=True)
  - |
    with no_grad():
        c = x * 2
  - (x * c).sum().backward()
  - expect: x.grad
    value: [2.0, 4.0]
""",
    "randn": """\
  - x = randn(3, requires_grad=True)
  - w = randn(3)
  - (x * w).sum().backward()
  - expect: x.grad
""",
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_scenario_shapes_get_an_opinion(shape: str, write_spec: Callable[..., Path]) -> None:
    steps = SHAPES[shape]
    if shape == "randn":  # nothing to pin by hand: pin what torch gives
        steps += "    value: " + _observed_grad(write_spec(steps)) + "\n"
    scenario = load_specs([str(write_spec(steps))])[0]
    labels = [m.finite_difference for m in _interpreter_outcome(scenario, got_scale=3.0)]
    assert labels, "the scaled backend must differ"
    assert all(
        label.startswith("finite differences agree with the pinned value") for label in labels
    ), labels


def _observed_grad(path: Path) -> str:
    scenario = load_specs([str(path)])[0]
    from conformance.run.interpreter import Interpreter

    outcome = Interpreter(scenario, resolve_backend("torch-cpu")).run()
    [value] = outcome.observations.values()
    return json.dumps([float(v) for v in value])  # type: ignore[union-attr]


def test_autograd_grad_results(write_spec: Callable[..., Path]) -> None:
    steps = """\
  - x = tensor([1.0, 2.0], requires_grad=True)
  - w = tensor([0.5, 3.0], requires_grad=True)
  - g = autograd.grad((x * w).sum(), [x, w])
  - expect: g[1]
    value: [1.0, 2.5]
  - expect: g
    value: [[0.5, 3.0], [1.0, 2.5]]
"""
    result = _run(write_spec(steps), "torch-cpu", None)
    item, whole = _opinions(result)
    assert item.startswith("finite differences agree with this backend (g[1][1]: 2.0"), item
    assert whole.startswith("finite differences agree with this backend (g[1][1]: 2.0"), whole


NO_OPINION = {
    "create_graph": (
        """\
  - x = tensor([1.0, 2.0], requires_grad=True)
  - (g,) = autograd.grad((x ** 3).sum(), x, create_graph=True)
  - g.sum().backward()
  - expect: x.grad
    value: [1.0, 1.0]
""",
        "create_graph=True",
    ),
    "scale hook": (
        """\
  - x = tensor([1.0, 2.0], requires_grad=True)
  - x.register_hook(scale(2.0))
  - x.sum().backward()
  - expect: x.grad
    value: [1.0, 1.0]
""",
        "a hook that may change gradients",
    ),
    "leaf changed under no_grad": (
        """\
  - x = tensor([1.0, 2.0], requires_grad=True)
  - |
    with no_grad():
        x.mul_(2)
  - (x * x).sum().backward()
  - expect: x.grad
    value: [1.0, 1.0]
""",
        "changes a leaf",
    ),
    "gradient of a non-leaf": (
        """\
  - x = tensor([1.0, 2.0], requires_grad=True)
  - y = x * 2
  - y.retain_grad()
  - (y * y).sum().backward()
  - expect: y.grad
    value: [1.0, 1.0]
""",
        "is not the gradient of a floating-point leaf tensor",
    ),
}


@pytest.mark.parametrize("case", list(NO_OPINION))
def test_no_opinion_says_why(case: str, write_spec: Callable[..., Path]) -> None:
    steps, why = NO_OPINION[case]
    labels = _opinions(_run(write_spec(steps), "torch-cpu", None))
    assert labels and labels[0].startswith("no finite-difference opinion: "), labels
    assert why in labels[0], labels


def test_forward_values_and_other_problems_get_no_label(write_spec: Callable[..., Path]) -> None:
    steps = """\
  - x = tensor([1.0, 2.0], requires_grad=True)
  - y = x * 2
  - expect: y
    value: [2.0, 5.0]
  - y.sum().backward()
  - expect: x.grad
    value: [2.0, 2.0, 2.0]
"""
    result = _run(write_spec(steps), "torch-cpu", None)
    assert [m.problem for m in result.mismatches] == ["values differ", "shape differs"]
    assert _opinions(result) == ["", ""]


def test_the_cost_is_bounded(write_spec: Callable[..., Path]) -> None:
    steps = """\
  - x = ones(10, 10, requires_grad=True)
  - (x * x).sum().backward()
  - expect: x.grad
    value: [[3.0] * 10] * 10
"""
    steps = steps.replace("[[3.0] * 10] * 10", json.dumps([[3.0] * 10] * 10))
    [label] = _opinions(_run(write_spec(steps), "torch-cpu", None))
    assert label.endswith("[64 of 100 differing elements checked]"), label


def test_the_label_reaches_the_run_file_and_the_reports(
    broken_modules: Path, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    torch_cpu = resolve_backend("torch-cpu")
    broken = resolve_backend("torchlike:fd_tanh_grad")
    scenario = load_specs([str(write_spec(TANH))])[0]
    results = Runner(torch_cpu, NO_TIMING).run_all([scenario], [torch_cpu, broken])
    report = build_report(
        results,
        [torch_cpu, broken],
        baseline="torch-cpu",
        timing={"warmup": 0, "repeat": 0},
        elapsed=0.0,
    )
    data = json.loads(json.dumps(report))
    assert check_run(data) is None
    [entry] = [e for e in data["results"] if e["backend"] == "torchlike:fd_tanh_grad"]
    [diff] = entry["diffs"]
    assert diff["finite_difference"].startswith("finite differences agree with torch-cpu")
    assert "third opinion: finite differences agree with torch-cpu" in diff["message"]
    path = tmp_path / "run.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    run = load_run(path)
    assert "third opinion: finite differences agree with torch-cpu" in markdown(run)
    assert "third opinion: finite differences agree with torch-cpu" in html_report(run)


def test_the_fuzzers_shrunk_spec_carries_the_label(broken_modules: Path, tmp_path: Path) -> None:
    from conformance.fuzz import regression
    from conformance.fuzz.differential import Differential
    from conformance.fuzz.generator import Config
    from conformance.fuzz.session import Options, fuzz

    tested, oracle = resolve_backend("torchlike:fd_tanh_grad"), resolve_backend("torch-cpu")
    config = Config(features=frozenset({"ops"}), max_actions=8)
    found = fuzz(Differential(tested, oracle), Options(max_examples=500, seed=0, config=config))
    assert found.verdict is not None, "no divergence found"
    origin = regression.Origin(tested.name, oracle.name, "test")
    shrunk = regression.build(found.verdict, origin, tested, oracle, tmp_path)
    assert shrunk.reproduces, shrunk.tested_result.report()
    rationale = load_specs([str(shrunk.write())])[0].rationale
    assert "Third opinion at " in rationale, shrunk.text
    assert "finite differences agree with the pinned value" in rationale, shrunk.text
