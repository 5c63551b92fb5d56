"""Views made under no_grad, edits through inline views and backward(inputs=...) in the
fuzzer: the model's view of torch's rules, the programs drawn, and the errors it expects."""

from __future__ import annotations

import re

import pytest

from conformance.backends import resolve_backend
from conformance.fuzz.differential import Differential
from conformance.fuzz.domain import Interval
from conformance.fuzz.features import ALL_FEATURES
from conformance.fuzz.generator import Config, sample
from conformance.fuzz.program import Check, Program, Statement
from conformance.fuzz.state import State, Value

CAPABILITIES = frozenset(
    {"float64", "int_dtypes", "retain_grad", "inplace", "version_counter", "autograd_grad"}
    | {"grad_mode", "requires_grad", "grad_fn"}  # no_grad blocks and the flags they change
)
NEW_ERRORS = (
    "error:inplace_nograd_view",
    "error:nograd_view_rebased",
    "error:empty_inputs",
    "error:inputs_no_grad",
)


def _graph() -> State:
    """x, w leaves; b = x * 2 (non-leaf); v a view of b made under no_grad."""
    state = State()
    for name in ("x", "w"):
        state.leaf(name, Value((3,), "float32", Interval(1.0, 1.0), requires_grad=True))
    state.result("b", [state.values["x"]], (3,), "float32", Interval(2.0, 2.0))
    state.grad_enabled = False
    state.result("v", [state.values["b"]], (2,), "float32", Interval(2.0, 2.0), view_of="b")
    state.grad_enabled = True
    return state


# --- the model ------------------------------------------------------------------------------


def test_a_no_grad_view_requires_grad_without_history_and_refuses_edits_under_grad_mode() -> None:
    state = _graph()
    v = state.values["v"]
    assert v.nograd and v.requires_grad and v.leaf and v.node is None
    assert state.classify("v", None).error == "error:inplace_nograd_view"
    state.result("w2", [v], (), "float32", v.bound, view_of="v")  # made under grad mode
    assert state.values["w2"].nograd  # a view of a view inherits the mode
    assert state.classify("w2", None).error == "error:inplace_nograd_view"
    state.grad_enabled = False
    assert state.classify("v", None).error is None


def test_an_edit_of_the_base_poisons_the_view_while_the_base_requires_grad() -> None:
    state = _graph()
    assert not state.poisoned("v")
    state.edit("b", None, None, Interval(3.0, 3.0), saves=False)
    assert state.poisoned("v")
    assert "v" not in state.tensors()  # nothing grad mode records may use it
    state.grad_enabled = False
    assert "v" in state.tensors()  # under no_grad it is an ordinary tensor
    state.result("u", [state.values["v"]], (), "float32", Interval(3.0, 3.0), view_of="v")
    assert not state.poisoned("u")  # made after the edit


def test_a_view_of_a_constant_is_poisoned_only_once_its_base_requires_grad() -> None:
    state = State()
    state.leaf("c", Value((3,), "float32", Interval(1.0, 1.0)))
    state.grad_enabled = False
    state.result("v", [state.values["c"]], (2,), "float32", Interval(1.0, 1.0), view_of="c")
    state.grad_enabled = True
    state.edit("c", None, None, Interval(2.0, 2.0), saves=False)
    assert not state.poisoned("v")
    state.requires_grad_("c")
    assert state.poisoned("v")


def test_backward_with_inputs_runs_and_frees_only_the_graph_leading_to_them() -> None:
    state = _graph()
    x, w = state.values["x"], state.values["w"]
    state.result("a", [x], (3,), "float32", Interval(1.0, 3.0), saves=True)  # exp(x)
    state.result("e", [w], (3,), "float32", Interval(1.0, 3.0), saves=True)  # exp(w)
    a, e = state.values["a"], state.values["e"]
    state.result("z", [a, e], (), "float32", Interval(0.0, 9.0))
    z = state.values["z"]
    assert state.executed(z, ["w"]) == {"z", "e"}
    state.backward("z", z, retain_graph=False, inputs=["w"])
    assert state.grads == {"w"}
    assert not state.backward_fails(z, ["x"])  # a's node never ran
    assert state.backward_fails(z, ["w"])
    state.backward("z", z, retain_graph=True, inputs=["a"])  # a non-leaf: retained
    assert state.values["a"].retains and "a" in state.grads
    assert state.executed(z, ["a"]) == {"z", "a"}  # the input's own node runs too


# --- generated programs ------------------------------------------------------------------------


def test_programs_exercise_the_new_areas() -> None:
    config = Config(capabilities=CAPABILITIES)
    covered = frozenset().union(*(program.ops for program in sample(1500, config)))
    expected = {
        "nograd_view", "nograd_view:of_view", "nograd_view:edited", "inplace:temp_view",
        "backward(inputs)", "autograd.backward", "inputs:leaf", "inputs:nonleaf",
        "inputs:unreached", *NEW_ERRORS,
    }  # fmt: skip
    assert expected <= covered, expected - covered


@pytest.mark.parametrize("feature", ["nograd_views", "backward_inputs"])
def test_each_area_can_be_switched_off(feature: str) -> None:
    config = Config(features=ALL_FEATURES - {feature}, capabilities=CAPABILITIES)
    labels = {"nograd_view", "error:inplace_nograd_view", "error:nograd_view_rebased"}
    if feature == "backward_inputs":
        labels = {"backward(inputs)", "error:empty_inputs", "error:inputs_no_grad"}
    for program in sample(300, config):
        assert not labels & program.ops, program.listing()


def test_inline_view_edits_are_written_as_method_calls_on_the_view() -> None:
    config = Config(capabilities=CAPABILITIES)
    sources = [
        step.source
        for program in sample(400, config)
        for step in program.steps
        if isinstance(step, Statement) and "inplace:temp_view" in step.ops
        and "\n" not in step.source
    ]  # fmt: skip
    assert sources
    for source in sources:
        assert "=" not in source.split("(")[0], source  # never `b[0] += 1` (a __setitem__)
        marks = ("[", ".t()", ".T.", ".view(", ".reshape(", ".transpose(")
        assert any(mark in source for mark in marks), source
        assert not re.search(r"\bt\d+\b", source), source  # the model's hidden names


def test_the_errors_the_model_expects_are_the_ones_torch_raises() -> None:
    """Each statement labelled with one of the new errors raises on torch, and no statement of
    the new areas that the model expects to run raises (the model steers; torch decides)."""
    pytest.importorskip("torch")
    differential = Differential(resolve_backend("reference"), resolve_backend("torch-cpu"))
    config = Config(capabilities=CAPABILITIES)
    areas = {"nograd_view", "inplace:temp_view", "backward(inputs)"}
    raised = ran = 0
    for program in sample(600, config, at=2):  # at=2: a sample with dozens of these errors
        verdict = differential.run(program)
        for index, step in enumerate(program.steps):
            if not isinstance(step, Statement):
                continue
            probe = verdict.oracle.probes.get(index)
            errors = [label for label in step.ops if label.startswith("error:")]
            errors += [label for label in step.ops if label in ("freed_graph", "modified_saved")]
            if set(errors) & set(NEW_ERRORS) and len(errors) == 1:
                assert probe not in (None, "no exception"), (program.listing(), step.source)
                raised += 1
            elif not errors and areas & set(step.ops) and probe is not None:
                ok = probe == "no exception" or "second time" in probe or "modified by" in probe
                assert ok, (program.listing(), step.source, probe)  # saves: see README
                ran += 1
    assert raised > 10 and ran > 100


def test_backward_with_inputs_runs_alike_in_every_form() -> None:
    pytest.importorskip("torch")
    differential = Differential(resolve_backend("reference"), resolve_backend("torch-cpu"))
    calls = [
        "z.backward(inputs=[x])",
        "z.backward(inputs=y)",
        "autograd.backward(z, inputs=[y, w])",
        "autograd.backward(y, grad_tensors=ones_like(y), inputs=x)",
    ]
    for call in calls:
        program = Program(
            (
                Statement("x = tensor([1.0, 2.0], requires_grad=True)"),
                Statement("w = tensor([0.5, 1.5], requires_grad=True)"),
                Statement("y = x * w"),
                Statement("z = y.sum()"),
                Statement(call, ("backward(inputs)",)),
                Check("x.grad"),
                Check("w.grad"),
                Check("y.grad", ("retains_grad",), reads_grad=True),
            )
        )
        verdict = differential.run(program)
        assert not verdict.diverged, verdict.mismatches
        assert verdict.oracle.probes[4] == "no exception", call
