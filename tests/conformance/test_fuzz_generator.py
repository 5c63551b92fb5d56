"""The generator: its programs are specs, they cover the op set, and a seed fixes them."""

from __future__ import annotations

import re

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from conformance.backends import resolve_backend
from conformance.fuzz import emit, ops
from conformance.fuzz.differential import Differential, compile_program, signature
from conformance.fuzz.domain import BOUND, broadcast, promote
from conformance.fuzz.generator import Config, programs, sample
from conformance.fuzz.program import Check, Program, Statement
from conformance.fuzz.regression import escape
from conformance.fuzz.session import Options, fuzz
from conformance.run.interpreter import Interpreter
from conformance.spec.model import Expect, Raises

QUICK = settings(
    max_examples=40, database=None, deadline=None, suppress_health_check=list(HealthCheck)
)


@QUICK
@given(programs())
def test_every_program_is_a_spec_with_one_step_per_program_step(program: Program) -> None:
    scenario = compile_program(program)
    assert len(scenario.steps) == len(program.steps)
    for step, compiled in zip(program.steps, scenario.steps):
        assert isinstance(compiled, Raises if isinstance(step, Statement) else Expect)


@QUICK
@given(programs())
def test_reference_runs_every_program_to_its_end(program: Program) -> None:
    """Errors are observed per step, so a run ends early only when a name was never bound."""
    scenario = compile_program(program)
    outcome = Interpreter(scenario, resolve_backend("reference")).run()
    assert outcome.error is None or outcome.error.type == "ScenarioError", outcome.error


def test_programs_cover_the_whole_op_set_and_every_feature() -> None:
    covered = frozenset().union(*(program.ops for program in sample(500)))
    assert set(ops.DIFFERENTIABLE) <= covered
    expected = {
        "no_grad", "enable_grad", "set_grad_enabled(False)", "retain_graph", "zero_",
        "grad=None", "grad=", "retain_grad", "detach", "detach_", "requires_grad_(False)",
        "backward(gradient)", "keepdim", "broadcast",
        "float64", "int64", "check:grad_fn", "check:requires_grad", "check:is_leaf",
        "hook:scale", "hook:record", "hook:leaf", "hook:nonleaf",
    }  # fmt: skip
    assert expected <= covered
    assert any(label.startswith("error:") for label in covered)


def test_with_every_capability_programs_reach_create_graph_and_inference_mode() -> None:
    capabilities = resolve_backend("reference").capabilities()
    assert {"create_graph", "inference_mode"} <= capabilities
    drawn = sample(300, Config(capabilities=capabilities))
    covered = frozenset().union(*(program.ops for program in drawn))
    assert {"create_graph", "inference_mode", "error:grad_shape", "error:grad_dtype"} <= covered
    # a gradient with a graph is used again: in an op, a backward or a further gradient
    used = [
        program
        for program in drawn
        for index, step in enumerate(program.steps)
        if "create_graph" in step.ops
        and any(
            isinstance(later, Statement)
            and re.search(rf"\b{step.source.split(' =')[0]}\b", later.source)
            for later in program.steps[index + 1 :]
        )
    ]
    assert len(used) >= 10


def test_a_seed_fixes_the_programs() -> None:
    first, again, other = sample(30, at=5), sample(30, at=5), sample(30, at=6)
    assert first == again
    assert first != other


def test_a_tag_limits_the_generator_to_its_features() -> None:
    only = Config(features=frozenset({"reductions"}))
    covered = frozenset().union(*(program.ops for program in sample(100, only)))
    assert {"sum", "mean(dim)"} <= covered
    assert not covered & {"add", "matmul", "no_grad", "view", "detach", "float64"}


def test_hooks_keep_gradients_that_are_then_checked_and_edited_in_place() -> None:
    drawn = sample(200, Config(features=frozenset({"hooks", "ops", "reductions"})))
    covered = frozenset().union(*(program.ops for program in drawn))
    assert {"hook:scale", "hook:record", "hook:remove", "hook:edit_kept"} <= covered
    assert {"hook:node_pre", "hook:node_post"} <= covered
    kept = [
        step.subject
        for program in drawn
        for step in program.steps
        if isinstance(step, Check) and step.subject.startswith("kept")
    ]
    # a tensor hook's call is a gradient, a pre-hook's a tuple of them, a post-hook's a pair
    shown = r"kept\d+\[(0|-1)\](\[0\]|\[[01]\]\[0\])?"
    assert kept and all(re.fullmatch(shown, subject) for subject in kept)


def test_a_backend_without_a_capability_gets_no_program_that_needs_it() -> None:
    config = Config(capabilities=frozenset())
    for program in sample(100, config):
        assert not compile_program(program).needs, program.listing()


def test_a_session_with_the_same_seed_runs_the_same_programs() -> None:
    differential = Differential(resolve_backend("reference"), resolve_backend("reference"))
    runs = [fuzz(differential, Options(max_examples=20, seed=3)) for _ in range(2)]
    assert runs[0].stats.coverage == runs[1].stats.coverage
    assert runs[0].verdict is None and runs[0].stats.programs == 20


# --- the model ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [((2, 3), (3,), (2, 3)), ((3, 1), (1, 4), (3, 4)), ((), (2,), (2,)), ((2,), (3,), None)],
)
def test_broadcast_follows_numpy(a: tuple[int, ...], b: tuple[int, ...], expected: object) -> None:
    assert broadcast(a, b) == expected


def test_promotion_follows_torch() -> None:
    assert promote("float32", True, "float64", True) == "float64"
    assert promote("float32", True, "float64", False) == "float32"  # 0-d loses within a category
    assert promote("int64", True, "float64", False) == "float64"  # a higher category wins


def test_ops_stay_well_conditioned() -> None:
    """No op is offered where it would leave the bound, divide near 0 or log a non-positive."""
    from conformance.fuzz.domain import Interval
    from conformance.fuzz.state import Value

    wide = Value((2,), "float32", Interval(-4.0, 4.0))
    names = {choice.labels[0] for choice in ops.unary_choices("x", wide)}
    assert "log" not in names and "exp" in names
    assert all(choice.labels[0] != "rdiv" for choice in ops.scalar_choices("x", wide))
    for choice in ops.binary_choices("x", wide, "y", wide):
        assert choice.labels[0] != "div" and choice.bound.magnitude <= BOUND


# --- rendering ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["y = x + 2", "a: b", "- x", "x.grad = None", "'quoted'", "#", "x[:, 0]"]
)
def test_emitted_text_reads_back_unchanged(text: str) -> None:
    assert yaml.safe_load(f"key: {emit.text(text)}")["key"] == text


def test_numbers_are_written_in_their_shortest_exact_form() -> None:
    assert emit.number(np.float32(0.1), "float32") == "0.1"
    assert emit.number(0.1) == "0.1"
    assert emit.number(np.float32(2.0), "float32") == "2.0"
    assert emit.number(float("nan")) == ".nan"
    assert emit.nested([[1.5, -2.0]], "float32") == "[[1.5, -2.0]]"


def test_error_messages_are_compared_by_their_first_sentence() -> None:
    torch_text = "UserWarning: Bad thing. More detail. (Triggered internally at x.h:1.)"
    assert signature(torch_text) == "UserWarning: Bad thing."
    assert signature("no exception") == "no exception"


def test_escape_matches_the_message_literally() -> None:
    message = "size (2) must match [3] at dim 1. Use .reshape(...) | x"
    assert re.search(escape(message), message)
    assert " " in escape(message)  # readable: spaces are not escaped


def test_a_check_reads_its_flags_as_one_tuple() -> None:
    assert Check("y", ("requires_grad", "grad_fn")).expression == (
        "(y, y.requires_grad, y.grad_fn)"
    )


def test_the_cli_rejects_an_unknown_feature(capsys: pytest.CaptureFixture[str]) -> None:
    from conformance.cli.main import main

    assert main(["fuzz", "--backend", "reference", "--tag", "sparse"]) == 2
    assert (
        "--tag sparse: unknown feature; expected one of backward_inputs, broadcasting"
        in capsys.readouterr().err
    )


def test_programs_reach_the_edges_data_writes_several_roots_and_held_gradients() -> None:
    config = Config(capabilities=Config().capabilities | {"autograd_grad"})
    covered = frozenset().union(*(program.ops for program in sample(400, config)))
    expected = {
        "slice:step", "leaf:zeros", "data=", "data=:aliased", "data:edit", "backward:roots",
        "backward:shared", "grad:hold", "grad:hold_cleared", "backward(named gradient)",
    }  # fmt: skip
    assert expected <= covered, expected - covered
    assert len({label for label in covered if label.startswith("edge:")}) >= 2, covered
