"""In-place edits in the fuzzer: the memory model (which names share memory, torch's strides),
bounds that stay sound for every name an edit changes, and the CopySlices switch."""

from __future__ import annotations

import contextlib
import itertools

import numpy as np
import pytest

from conformance.backends import resolve_backend
from conformance.fuzz import ops
from conformance.fuzz.differential import Differential, compile_program
from conformance.fuzz.domain import Interval
from conformance.fuzz.features import ALL_FEATURES
from conformance.fuzz.generator import Config, _Builder, sample
from conformance.fuzz.layout import contiguous, is_contiguous, view_strides
from conformance.fuzz.program import Check, Program, Statement
from conformance.fuzz.state import State, Value
from conformance.run.interpreter import Interpreter

# --- layout ----------------------------------------------------------------------------------


def test_view_strides_follow_torch() -> None:
    """`view` succeeds exactly where the model says, with torch's strides; `reshape` shares
    memory exactly there."""
    torch = pytest.importorskip("torch")
    shapes = [(2, 3), (3, 1, 2), (1, 3), (2, 2, 2)]
    for shape in shapes:
        base = torch.zeros(shape)
        made = [base, base.t() if base.dim() == 2 else base.transpose(0, -1), base[1:], base[:, 0]]
        for t in made:
            if t.numel() == 0:
                continue  # the fuzzer makes no empty tensors
            sizes, strides = tuple(t.shape), tuple(t.stride())
            assert is_contiguous(sizes, strides) == t.is_contiguous()
            for rank in (1, 2, 3):
                for new in ops.factorizations(t.numel(), rank):
                    expected = None
                    with contextlib.suppress(RuntimeError):
                        expected = tuple(t.view(new).stride())
                    got = view_strides(sizes, strides, new)
                    assert (got is None) == (expected is None), (sizes, strides, new)
                    reshaped = t.reshape(new)
                    assert (reshaped.data_ptr() == t.data_ptr()) == (got is not None)
                    if got is not None and expected is not None:
                        assert all(a == b for a, b, n in zip(got, expected, new) if n > 1)


def test_contiguous_strides() -> None:
    assert contiguous((2, 3, 4)) == (12, 4, 1)
    assert contiguous(()) == ()


# --- the memory model ----------------------------------------------------------------------


def _state_with_views() -> State:
    state = State()
    state.leaf("x", Value((3,), "float32", Interval(1.0, 1.0), requires_grad=True))
    state.result("b", [state.values["x"]], (3,), "float32", Interval(1.0, 2.0))
    b = state.values["b"]
    state.result("v", [b], (2,), "float32", b.bound, view_of="b")
    state.result("w", [state.values["v"]], (2,), "float32", b.bound, view_of="v")
    state.leaf("d", state.values["b"], shares=True)  # b.detach()
    state.leaf("c", Value((3,), "float32", Interval(0.0, 1.0)))
    return state


def test_views_and_detached_results_share_memory_with_their_base() -> None:
    state = _state_with_views()
    assert state.aliases("v") == ["b", "v", "w", "d"]
    assert state.values["w"].base == "b"  # a view of a view follows the first base
    assert state.values["d"].base is None  # detach() shares memory, not history
    assert state.aliases("c") == ["c"]


def test_an_edit_moves_every_alias_bound() -> None:
    state = _state_with_views()
    state.edit("v", None, None, Interval(4.0, 8.0), saves=False)  # through a view: part of b
    assert state.values["v"].bound == Interval(4.0, 8.0)
    for name in ("b", "w", "d"):  # some elements edited, some not
        assert state.values[name].bound == Interval(1.0, 8.0), name
    state.edit("b", None, None, Interval(-1.0, 0.0), saves=False)  # the whole memory
    for name in ("b", "v", "w", "d"):
        assert state.values[name].bound == Interval(-1.0, 0.0), name
    assert state.values["c"].bound == Interval(0.0, 1.0)


def test_an_edit_of_a_base_gives_its_views_a_new_history_and_stales_saved_tensors() -> None:
    state = _state_with_views()
    state.result("y", [state.values["d"]], (3,), "float32", Interval(0.0, 4.0), saves=True)
    state.result("z", [state.values["x"], state.values["c"]], (3,), "float32",
                 Interval(0.0, 1.0), saves=True)  # fmt: skip
    old = state.values["v"].node
    state.edit("d", None, None, Interval(2.0, 4.0), saves=False)  # under grad mode, unrecorded
    assert state.values["v"].node != old  # AsStridedBackward0
    assert not state.backward_fails(state.values["z"])
    constant = state.values["c"]
    assert state.classify("c", None).recorded is False
    state.edit("c", None, None, Interval(0.0, 2.0), saves=False)
    assert constant.storage == state.values["c"].storage
    assert state.backward_fails(state.values["z"])  # z saved c, now at a new version


def test_torch_errors_are_classified() -> None:
    state = _state_with_views()
    assert state.classify("x", None).error == "error:inplace_leaf"
    state.result("u", [state.values["x"]], (2,), "float32", Interval(1.0, 1.0), view_of="x")
    assert state.classify("u", None).error == "error:inplace_view_of_leaf"
    assert state.classify("v", None).through_view and state.classify("v", None).recorded
    state.grad_enabled = False
    assert state.classify("x", None).error is None  # an optimizer's step
    assert not state.classify("v", None).recorded


# --- generated programs --------------------------------------------------------------------


# The areas in-place edits meet: with every area on, the rarer targets (a detached alias
# edited after its source) take thousands of programs to come up.
EDITING = frozenset(
    {"inplace", "detach", "views", "ops", "copy_slices", "errors", "grad_mode", "retain_graph"}
)


def test_programs_exercise_in_place_edits() -> None:
    covered = frozenset().union(*(p.ops for p in sample(500, Config(features=EDITING))))
    expected = {
        "add_", "sub_", "mul_", "div_", "augmented", "inplace", "inplace:scalar",
        "inplace:tensor", "inplace:view", "inplace:base", "inplace:alias", "inplace:nonleaf",
        "inplace:constant", "inplace:no_grad", "copy_slices", "error:inplace_leaf",
        "modified_saved",
    }  # fmt: skip
    assert expected <= covered, expected - covered


def test_copy_slices_can_be_switched_off() -> None:
    config = Config(features=ALL_FEATURES - {"copy_slices"})
    for program in sample(300, config):
        assert "copy_slices" not in program.ops, program.listing()


def test_bounds_stay_sound_after_edits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every name an edit changed is checked at the end; torch's values lie in the model's
    bounds for it, whichever name the edit went through."""
    pytest.importorskip("torch")
    bounds: dict[str, dict[str, Interval]] = {}
    sweep = _Builder.sweep

    def remembering(self: _Builder) -> None:
        sweep(self)
        key = repr(tuple(self.steps))
        bounds[key] = {name: self.state.values[name].bound for name in self.edited}

    monkeypatch.setattr(_Builder, "sweep", remembering)
    torch_cpu = resolve_backend("torch-cpu")
    checked = 0
    for program in sample(300, at=2):
        known = bounds.get(repr(program.steps))
        if not known:
            continue
        scenario = compile_program(program)
        outcome = Interpreter(scenario, torch_cpu).run()
        for index, step in enumerate(program.steps):
            if not isinstance(step, Check) or step.subject not in known or step.flags:
                continue
            value = outcome.observations.get(index)
            if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
                continue
            bound = known[step.subject]
            slack = 1e-4 * (1 + bound.magnitude)
            assert np.all(value >= bound.lo - slack) and np.all(value <= bound.hi + slack), (
                program.listing(),
                step.subject,
                bound,
                value,
            )
            checked += 1
    assert checked > 20


def test_the_cli_rejects_an_unknown_skipped_feature(capsys: pytest.CaptureFixture[str]) -> None:
    from conformance.cli.main import main

    assert main(["fuzz", "--backend", "reference", "--skip", "copyslices"]) == 2
    assert "--skip copyslices: unknown feature" in capsys.readouterr().err


def test_every_in_place_form_runs_alike_on_both_backends() -> None:
    pytest.importorskip("torch")
    differential = Differential(resolve_backend("reference"), resolve_backend("torch-cpu"))
    for op, augmented in itertools.product(ops.AUGMENTED, (False, True)):
        edit = ops.InPlace(op, Interval(0.0, 1.0), False).source("y", "2", augmented)
        program = Program(
            (Statement("y = tensor([1.0, 2.0])"), Statement(edit, ("inplace",)), Check("y"))
        )
        verdict = differential.run(program)
        assert not verdict.diverged, verdict.mismatches
        assert verdict.oracle.probes[1] == "no exception", edit
