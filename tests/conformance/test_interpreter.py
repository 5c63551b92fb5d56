"""The interpreter gives each instruction torch's meaning, through the backend only."""

from __future__ import annotations

import pytest

from conformance.backends import resolve_backend
from conformance.run.interpreter import Interpreter
from conformance.spec import load_spec

torch = pytest.importorskip("torch")


def run(write_spec, steps: str):  # type: ignore[no-untyped-def]
    outcome = Interpreter(load_spec(write_spec(steps)), resolve_backend("torch-cpu")).run()
    assert outcome.error is None, outcome.error
    return outcome


def messages(outcome) -> list[str]:  # type: ignore[no-untyped-def]
    return [mismatch.message() for mismatch in outcome.mismatches]


def test_hooks_scale_and_record(write_spec) -> None:
    outcome = run(
        write_spec,
        "  - |\n"
        "    x = tensor([1.0, 2.0], requires_grad=True)\n"
        "    h = x.register_hook(record(seen))\n"
        "    y = x * 3\n"
        "    k = y.register_hook(scale(10))\n"
        "    y.sum().backward()\n"
        "  - expect: len(seen)\n    value: 1\n"
        "  - expect: seen[0]\n    value: [30.0, 30.0]\n"
        "  - expect: x.grad\n    value: [30.0, 30.0]\n",
    )
    assert messages(outcome) == []


def test_in_place_statements_unpacking_slices_and_attribute_assignment(write_spec) -> None:
    outcome = run(
        write_spec,
        "  - |\n"
        "    x = ones(2, 3, requires_grad=True)\n"
        "    g, = autograd.grad((x * x).sum(), [x])\n"
        "    x.grad = g\n"
        "    x.grad *= 2\n"
        "    y = x.detach()[1, 1:]\n"
        "    y += 1\n"
        "  - expect: x.grad\n    value: [[4.0, 4.0, 4.0], [4.0, 4.0, 4.0]]\n"
        "  - expect: y\n    value: [2.0, 2.0]\n"
        "  - expect: x[1, -1]\n    value: 2.0\n",
    )
    assert messages(outcome) == []


def test_raises_keeps_what_ran_and_reports_a_wrong_exception(write_spec) -> None:
    outcome = run(
        write_spec,
        "  - x = ones(2, requires_grad=True)\n"
        "  - raises: ValueError\n"
        "    run: |\n"
        "      y = x * 2\n"
        "      y.backward()\n"
        "  - expect: y.requires_grad\n    value: true\n",
    )
    (message,) = messages(outcome)
    assert ":10: y = x * 2 ...: raised the wrong exception" in message  # the raises step
    assert "expected: ValueError" in message
    assert (
        "got:      RuntimeError: grad can be implicitly created only for scalar outputs" in message
    )


def test_a_name_the_failed_step_never_bound_is_an_error(write_spec) -> None:
    scenario = load_spec(
        write_spec("  - raises: RuntimeError\n    run: y = ones(2).backward()\n  - z = y + 1\n")
    )
    outcome = Interpreter(scenario, resolve_backend("torch-cpu")).run()
    assert outcome.error is not None
    assert (outcome.error.where.line, outcome.error.type) == (11, "ScenarioError")
    assert (
        outcome.error.message == "y is not bound: the step that binds it raised before binding it"
    )


def test_warns_steps_and_unexpected_warnings(write_spec) -> None:
    outcome = run(
        write_spec,
        "  - |\n"
        "    x = ones(2, requires_grad=True)\n"
        "    y = x * 2\n"
        "  - warns: UserWarning\n"
        "    match: not a leaf\n"
        "    run: g = y.grad\n"
        "  - warns: DeprecationWarning\n"
        "    run: g = y.grad\n",
    )
    (message,) = messages(outcome)
    assert "g = y.grad: did not warn as expected" in message
    assert "got:      UserWarning: The .grad attribute of a Tensor that is not a leaf" in message
    # The second warning was not claimed by a warns step, so it is listed as seen.
    assert outcome.warnings[0].startswith("UserWarning: The .grad attribute")


def test_warns_none_names_each_unexpected_warning(write_spec) -> None:
    outcome = run(
        write_spec,
        "  - |\n"
        "    x = ones(2, requires_grad=True)\n"
        "    y = x * 2\n"
        "  - expect: x.grad\n"
        "    warns: none\n"
        "  - expect: y.grad\n"  # line 14
        "    warns: none\n"
        "  - warns: none\n"  # line 16
        "    run: g = y.grad\n",
    )
    first, second = messages(outcome)
    assert ":14: y.grad: warned unexpectedly" in first
    assert "expected: no warning" in first
    assert "got:      UserWarning: The .grad attribute of a Tensor that is not a leaf" in first
    assert ":16: g = y.grad: warned unexpectedly" in second
    assert outcome.warnings == []  # reported by the checks, not again as "seen"


def test_strings_name_grad_fn_nodes_in_next_functions(write_spec) -> None:
    outcome = run(
        write_spec,
        "  - |\n"
        "    x = ones(2, requires_grad=True)\n"
        "    y = x * ones(2)\n"
        "  - expect: y.grad_fn.next_functions[0][0].name()\n"
        "    value: torch::autograd::AccumulateGrad\n"
        "  - expect: y.grad_fn.next_functions\n"
        "    value: [['torch::autograd::AccumulateGrad', 0], [null, 0]]\n"
        "  - expect: y.grad_fn.next_functions\n"  # line 16
        "    value: [[MulBackward0, 0], ['torch::autograd::AccumulateGrad', 0]]\n",
    )
    (message,) = messages(outcome)
    assert ":16: y.grad_fn.next_functions[0][0]: differs" in message
    assert "expected: 'MulBackward0'" in message
    assert "got:      'torch::autograd::AccumulateGrad' (a grad_fn node)" in message


def test_in_place_subtraction_and_division(write_spec) -> None:
    outcome = run(
        write_spec,
        "  - |\n"
        "    x = ones(2, requires_grad=True)\n"
        "    y = x * 4\n"
        "    y -= 1\n"
        "    y /= 3\n"
        "    y.sum().backward()\n"
        "  - expect: y\n    value: [1.0, 1.0]\n    grad_fn: DivBackward0\n"
        "  - expect: x.grad\n    value: [1.3333333, 1.3333333]\n",
    )
    assert messages(outcome) == []


def test_grad_mode_blocks_and_the_function_form_are_undone_after_the_run(write_spec) -> None:
    outcome = run(
        write_spec,
        "  - |\n"
        "    x = ones(1, requires_grad=True)\n"
        "    with set_grad_enabled(False), enable_grad():\n"
        "        a = x * 2\n"
        "    with inference_mode(False):\n"
        "        b = x * 2\n"
        "    set_grad_enabled(False)\n"
        "    c = x * 2\n"
        "  - expect: a.requires_grad\n    value: true\n"
        "  - expect: b.requires_grad\n    value: true\n"
        "  - expect: c.requires_grad\n    value: false\n",
    )
    assert messages(outcome) == []
    assert torch.is_grad_enabled()


def test_metadata_checks_name_the_attribute(write_spec) -> None:
    outcome = run(
        write_spec,
        "  - |\n"
        "    x = ones(2, 2, requires_grad=True)\n"
        "    y = (x + 1).sum()\n"
        "  - expect: y\n"
        "    dtype: float64\n"
        "    shape: [2]\n"
        "    requires_grad: false\n"
        "    is_leaf: true\n"
        "    grad_fn: MulBackward0\n"
        "    retains_grad: true\n"
        "  - expect: x.grad\n"
        "    requires_grad: false\n",
    )
    heads = [message.splitlines()[0].split(": ", 1)[1] for message in messages(outcome)]
    assert heads == [
        "y.dtype: differs",
        "y.shape: length differs",
        "y.requires_grad: differs",
        "y.is_leaf: differs",
        "y.grad_fn.name(): differs",
        "y.retains_grad: differs",
        "x.grad: cannot check requires_grad",
    ]
    assert (
        "expected: 'MulBackward0' (str)\n    got:      'SumBackward0' (str)" in messages(outcome)[4]
    )


def test_random_draws_are_the_seeded_generators_whatever_the_cache_holds(write_spec) -> None:
    """Draws are remembered across runs; a run that meets a new draw after remembered ones
    still gets what a fresh generator gives, and every run gets its own copy."""
    import numpy as np

    from conformance.run import interpreter

    scenario = load_spec(write_spec("  - a = randn(3)\n  - b = rand(2, 2)\n  - c = randn(4)\n"))
    backend = resolve_backend("reference")
    rng = np.random.default_rng(scenario.seed)
    fresh = [rng.standard_normal(3), rng.random((2, 2)), rng.standard_normal(4)]
    interpreter._DRAWN.clear()
    first = Interpreter(scenario, backend)
    first.run()
    del interpreter._DRAWN[next(k for k in interpreter._DRAWN if len(k[1]) == 3)]
    again = Interpreter(scenario, backend)
    again.run()
    for run in (first, again):
        for name, expected in zip("abc", fresh):
            np.testing.assert_array_equal(run.env[name]._data, expected.astype(np.float32))
    assert first.env["a"]._data is not again.env["a"]._data
