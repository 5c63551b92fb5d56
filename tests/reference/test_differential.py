"""Differential tests: the same autograd program, run on reference and on real torch, must agree.

Random programs come from the fuzzer, `conformance.fuzz`: its generator (one op table, one
``BOUND``, well-conditioned values), run through the harness's interpreter on both libraries and
compared by the harness's diff. A failure shows the mismatches and the program's spec, which
is also a runnable repro. The fuzzer's own tests cover what it draws; these ask it for
everything reference and torch share, and, in a second test, for gradients with graphs of
their own (``create_graph=True``).

Hand-written programs below are plain Python, beyond the spec language (hook functions,
``lambda``, ``is``), so they run on ``execute(lib, program)``: it runs the lines in order with
``torch`` bound to ``lib`` and, after each line, records everything it can see (values,
gradients and whether ``.grad`` is still the same object, dtypes, shapes, flags, node names,
hook calls, warnings, the type of any error). The two records must match.

Left to their own tests, by design:
- ``.T`` on tensors that are not 2-D, and ``backward(create_graph=True)``: torch warns once
  per process, so a warning cannot be compared example by example (``test_T_warns_once``,
  ``test_create_graph_backward_warns_once_per_process``);
- ``matmul`` above 2-D (reference implements 1-D and 2-D only).
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import reference
from conformance.backends import resolve_backend
from conformance.fuzz.differential import Differential
from conformance.fuzz.generator import Config
from conformance.fuzz.generator import programs as fuzz_programs
from conformance.fuzz.program import Program as FuzzProgram
from conformance.fuzz.program import fuzz_yaml

torch = pytest.importorskip(
    "torch", reason="torch is not installed: the differential tests need it as the oracle"
)

# -- the interpreter --------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One line of the program; ``outputs`` names what it creates, to be described after it."""

    code: str
    outputs: tuple[str, ...] = ()
    higher: bool = False  # a result of create_graph: its backward formulas' node names differ


@dataclass(frozen=True)
class Program:
    steps: tuple[Step, ...]
    names: tuple[str, ...]  # every tensor value the program makes, v0, v1, ...

    def __repr__(self) -> str:
        return "\n" + "\n".join(step.code for step in self.steps)


@dataclass
class Desc:
    """What a test can see of one tensor."""

    value: np.ndarray
    dtype: str
    shape: tuple[int, ...]
    requires_grad: bool
    is_leaf: bool
    grad_fn: str | None
    next_functions: tuple[str | None, ...]


@dataclass
class Observation:
    error: tuple[str, str] | None  # (type name, message)
    warnings: list[tuple[str, str]]
    outputs: list[Any]
    grads: dict[str, Any]  # name -> (Desc | None, same object as at the last observation)
    hooks: list[Any] = field(default_factory=list)


def describe(x: Any) -> Any:
    if isinstance(x, (tuple, list)):
        return tuple(describe(item) for item in x)
    if hasattr(x, "next_functions"):  # a graph node
        return (
            "node",
            x.name(),
            tuple(None if n is None else n.name() for n, _ in x.next_functions),
        )
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    if not hasattr(type(x), "grad_fn"):  # a function, a handle, a grad-mode object: its kind
        return ("object", type(x).__name__)
    try:
        node = x.grad_fn
    except RuntimeError as e:  # a view made under no_grad whose memory was edited since
        return ("invalid view", str(e), np.array(x.detach().numpy(), copy=True).tolist())
    return Desc(
        value=np.array(x.detach().numpy(), copy=True),
        dtype=str(x.dtype),
        shape=tuple(x.shape),
        requires_grad=x.requires_grad,
        is_leaf=x.is_leaf,
        grad_fn=None if node is None else node.name(),
        next_functions=()
        if node is None
        else tuple(None if n is None else n.name() for n, _ in node.next_functions),
    )


@functools.lru_cache(maxsize=4096)
def _compiled(code: str) -> Any:
    return compile(code, "<program>", "exec")


ONCE_PER_PROCESS = "Using backward() with create_graph=True"  # see the module docstring


def _warning_text(message: str) -> str:
    return message.split(" (Triggered internally at")[0]


def execute(lib: Any, program: Program) -> list[Observation]:
    """Run ``program`` with ``torch`` = ``lib``; one observation per step, up to the first error."""
    hook_log: list[Any] = []

    def observe(grad: Any) -> None:
        hook_log.append(describe(grad))

    def observe_leaf(grad: Any) -> None:
        hook_log.append(("leaf", describe(grad)))

    namespace: dict[str, Any] = {"torch": lib, "re": re, "double": lambda g: g * 2}

    def observe_pre(grad_outputs: Any) -> None:
        hook_log.append(("pre", describe(grad_outputs)))

    def observe_post(grad_inputs: Any, grad_outputs: Any) -> None:
        hook_log.append(("post", describe(grad_inputs), describe(grad_outputs)))

    namespace.update(observe=observe, observe_leaf=observe_leaf)
    namespace.update(observe_pre=observe_pre, observe_post=observe_post)
    last_grads: dict[str, Any] = {}
    observations = []
    grad_mode = lib.is_grad_enabled()
    try:
        for step in program.steps:
            observations.append(_step(step, namespace, program.names, last_grads, hook_log))
            if observations[-1].error is not None:
                break
    finally:
        lib.set_grad_enabled(grad_mode)  # a program may call set_grad_enabled(False)
    return observations


def _step(
    step: Step, namespace: dict, names: tuple[str, ...], last_grads: dict, hook_log: list
) -> Observation:
    error = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            exec(_compiled(step.code), namespace)  # noqa: S102 - code the generator wrote
        except Exception as e:  # noqa: BLE001 - the type is what gets compared
            error = (type(e).__name__, str(e))
    observation = Observation(
        error=error,
        warnings=[
            (w.category.__name__, _warning_text(str(w.message)))
            for w in caught
            if not str(w.message).startswith(ONCE_PER_PROCESS)
        ],
        outputs=[describe(namespace.get(name)) for name in step.outputs],
        grads=_grads(namespace, names, last_grads),
        hooks=list(hook_log),
    )
    hook_log.clear()
    return observation


def _grads(namespace: dict[str, Any], names: tuple[str, ...], last: dict[str, Any]) -> dict:
    """Every visible ``.grad`` (leaves, and non-leaves that retain it), and whether it is the
    same Python object as at the previous step."""
    out = {}
    for name in names:
        t = namespace.get(name)
        try:
            if not hasattr(type(t), "grad_fn") or not (t.is_leaf or t.retains_grad):
                continue
        except RuntimeError:  # an invalid view (see ``describe``): its grad_fn cannot be read
            continue
        grad = t.grad
        previous = last.get(name)
        same = None if grad is None or previous is None else grad is previous
        last[name] = grad
        out[name] = (describe(grad), same)
    return out


# -- comparison --------------------------------------------------------------------------------

# Hand-written programs are short, over small values, and mix float32 into float64 ones;
# numpy's and torch's float32 kernels (exp, tanh, log) and summation orders differ by a few
# ulps, so floats are held to float32's tolerance, and integers and booleans are exact.
FLOAT_TOLERANCE = (1e-4, 2e-4)  # rtol, atol
FLOATS = ("torch.float32", "torch.float64")


class Mismatch(AssertionError):
    pass


def compare_desc(path: str, ours: Any, theirs: Any, names: bool = True) -> None:
    """``ours`` against ``theirs``; ``names``: node names too (not after create_graph)."""
    if isinstance(theirs, tuple) and isinstance(ours, tuple):
        if len(ours) != len(theirs):
            raise Mismatch(f"{path}: {len(ours)} items != torch's {len(theirs)}")
        for i, (a, b) in enumerate(zip(ours, theirs)):
            compare_desc(f"{path}[{i}]", a, b, names)
        return
    rtol, atol = FLOAT_TOLERANCE
    if not isinstance(theirs, Desc) or not isinstance(ours, Desc):
        if isinstance(theirs, (float, list)) and type(ours) is type(theirs):
            a, b = np.array(ours, dtype=float), np.array(theirs, dtype=float)
            if a.shape == b.shape and np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True):
                return  # .item() and .tolist(): numbers, within the tolerance
        if ours != theirs:
            raise Mismatch(f"{path}: reference {ours!r} != torch {theirs!r}")
        return
    for attr in ("shape", "dtype", "requires_grad", "is_leaf"):
        a, b = getattr(ours, attr), getattr(theirs, attr)
        if a != b:
            raise Mismatch(f"{path}.{attr}: reference {a!r} != torch {b!r}")
    if names:
        for attr in ("grad_fn", "next_functions"):
            a, b = getattr(ours, attr), getattr(theirs, attr)
            if a != b:
                raise Mismatch(f"{path}.{attr}: reference {a!r} != torch {b!r}")
    elif (ours.grad_fn is None) != (theirs.grad_fn is None):
        raise Mismatch(f"{path}.grad_fn: reference {ours.grad_fn} != torch {theirs.grad_fn}")
    if theirs.dtype not in FLOATS:
        rtol, atol = 0, 0
    if not np.allclose(ours.value, theirs.value, rtol=rtol, atol=atol, equal_nan=True):
        raise Mismatch(
            f"{path} values differ:\nreference {ours.value!r}\ntorch     {theirs.value!r}"
        )


def compare(program: Program, ours: list[Observation], theirs: list[Observation]) -> None:
    """Step by step: the error first, then warnings, outputs, gradients and hook calls."""
    higher_seen = False
    for step, a, b in zip(program.steps, ours, theirs):
        higher_seen = higher_seen or step.higher
        where = f"at `{step.code}`"
        try:
            if (a.error and a.error[0]) != (b.error and b.error[0]):
                raise Mismatch(f"error: reference {a.error} != torch {b.error}")
            if b.error:
                break  # what a failed op leaves behind is unspecified (torch may write first)
            if a.warnings != b.warnings:
                raise Mismatch(f"warnings: reference {a.warnings} != torch {b.warnings}")
            for name, x, y in zip(step.outputs, a.outputs, b.outputs):
                compare_desc(name, x, y, not step.higher)
            if a.grads.keys() != b.grads.keys():
                raise Mismatch(f"visible grads: reference {sorted(a.grads)} != {sorted(b.grads)}")
            for name, (x, same_x) in a.grads.items():
                y, same_y = b.grads[name]
                compare_desc(f"{name}.grad", x, y, not higher_seen)
                if same_x != same_y:
                    raise Mismatch(
                        f"{name}.grad is the same object as before: reference {same_x}, "
                        f"torch {same_y}"
                    )
            # in torch's order, ties between leaves included (reference/ready_queue.py)
            hooks_a, hooks_b = tuple(a.hooks), tuple(b.hooks)
            compare_desc("hook calls", hooks_a, hooks_b, not higher_seen)
        except Mismatch as e:
            raise AssertionError(f"{where}: {e}\nprogram:{program!r}") from None
    assert len(ours) == len(theirs), f"reference ran {len(ours)} steps, torch {len(theirs)}"


def check_program(program: Program) -> None:
    compare(program, execute(reference, program), execute(torch, program))


# -- random programs ---------------------------------------------------------------------------

# Drawn by the fuzzer (`conformance.fuzz`), with everything both libraries can do, and run through
# the harness on both: one generator, one interpreter, one diff for the engine and the suite.
CAPABILITIES = (
    resolve_backend("reference").capabilities() & resolve_backend("torch-cpu").capabilities()
)
DIFFERENTIAL = Differential(resolve_backend("reference"), resolve_backend("torch-cpu"))
# The areas that meet gradients with graphs of their own, for the higher-order test.
HIGHER_ORDER = frozenset(
    {"higher_order", "ops", "reductions", "matmul", "views", "inplace", "hooks", "retain_graph"}
    | {"backward_inputs", "held_grads", "detach"}
)


def check_fuzz_program(program: FuzzProgram) -> None:
    """The lines the mismatches name are those of the program's spec, shown below them."""
    verdict = DIFFERENTIAL.run(program)
    shown = "\n".join(mismatch.message() for mismatch in verdict.mismatches)
    assert not verdict.diverged, f"reference differs from torch:\n{shown}\n{fuzz_yaml(program)}"


@settings(max_examples=2500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fuzz_programs(Config(capabilities=CAPABILITIES)))
def test_random_programs_match_torch(program: FuzzProgram) -> None:
    check_fuzz_program(program)


@settings(max_examples=1200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fuzz_programs(Config(features=HIGHER_ORDER, capabilities=CAPABILITIES)))
def test_random_higher_order_programs_match_torch(program: FuzzProgram) -> None:
    check_fuzz_program(program)


# -- hand-written programs ----------------------------------------------------------------------


def program_of(source: str) -> Program:
    """A hand-written program: one step per line (indented lines join the one above)."""
    lines: list[str] = []
    for line in source.strip("\n").splitlines():
        if line.startswith(" ") and lines:
            lines[-1] += "\n" + line
        else:
            lines.append(line)
    steps = []
    for code in lines:
        match = re.match(r"(?:with .*\n\s+)*(\w+) = ", code)
        steps.append(Step(code, (match.group(1),) if match else ()))
    names = tuple(dict.fromkeys(n for step in steps for n in step.outputs))
    return Program(tuple(steps), names)


def run_both(source: str, names: bool = True) -> tuple[list[Observation], list[Observation]]:
    """Run a hand-written program on both libraries, compare everything, return both records.

    ``names=False`` skips node names, for programs with create_graph: the nodes that record
    backward formulas are the engine's own business.
    """
    program = program_of(source)
    if not names:
        steps = tuple(Step(s.code, s.outputs, higher=True) for s in program.steps)
        program = Program(steps, program.names)
    ours, theirs = execute(reference, program), execute(torch, program)
    compare(program, ours, theirs)
    return ours, theirs


def last_error(observations: list[Observation]) -> tuple[str, str] | None:
    return observations[-1].error


def warned(observations: list[Observation]) -> list[tuple[str, str]]:
    return [w for o in observations for w in o.warnings]


# -- leaves and nodes --------------------------------------------------------------------------

LEAVES = """
x = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]], requires_grad=True)
w = torch.tensor([0.75, 2.0, -1.25], requires_grad=True)
p = torch.tensor([[0.5, 1.0, 2.0], [1.5, 0.25, 3.0]], requires_grad=True)
m = torch.tensor([[1.0, 2.0], [0.5, -1.0], [2.0, 0.25]], requires_grad=True)
c = torch.tensor([1.0, 2.0, 3.0])
"""

# Every op of the API, each recorded once; the program then backwards through it.
EXPRESSIONS = [
    "x + w",
    "x + 2",
    "2 + x",
    "x + c",
    "x - w",
    "x - 2.5",
    "3 - x",
    "x * w",
    "x * 2",
    "0.5 * x",
    "x * c",
    "x / w",
    "x / 4",
    "2 / w",
    "p ** 2",
    "p ** 0.5",
    "p ** -1",
    "p ** 0",
    "p ** w",
    "2 ** x",
    "-x",
    "x @ m",
    "w @ m",
    "m.t() @ w",
    "w @ w",
    "x @ w",
    "torch.matmul(x, m)",
    "x.exp()",
    "torch.exp(x)",
    "p.log()",
    "torch.log(p)",
    "x.tanh()",
    "torch.tanh(x)",
    "x.sigmoid()",
    "torch.sigmoid(x)",
    "x.relu()",
    "torch.relu(x)",
    "x.pow(2)",
    "torch.pow(x, 3)",
    "x.sum()",
    "x.sum(0)",
    "x.sum(1, keepdim=True)",
    "x.sum((0, 1))",
    "x.sum(-1)",
    "torch.sum(x)",
    "torch.sum(x, 1)",
    "x.mean()",
    "x.mean(0)",
    "x.mean(1, keepdim=True)",
    "torch.mean(x)",
    "x.view(3, 2)",
    "x.view(-1)",
    "x.view((6,))",
    "x.reshape(3, 2)",
    "x.t().reshape(6)",
    "x.t().reshape(3, 2, 1)",
    "x[:, :1].reshape(2)",
    "x.t()",
    "x.T",
    "w.t()",
    "x.transpose(0, 1)",
    "x.transpose(-1, 0)",
    "x[0]",
    "x[1, 2]",
    "x[:, 1]",
    "x[0:1]",
    "x[:]",
    "x[:, :2]",
    "x[..., 1]",
    "x[None]",
    "x[::2]",
    "x[0][1:]",
    "x.detach()",
]


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_each_op_records_torchs_node(expr: str) -> None:
    ours, theirs = run_both(f"{LEAVES}\ny = {expr}\nr = y.grad_fn\nz = y.sum()\nz.backward()")
    assert theirs[-1].error is None or expr == "x.detach()"


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("size", [4, 2000])  # a mean's gradient: filled, or a view
def test_a_full_reductions_gradient_is_never_shared(reduction: str, size: int) -> None:
    """The engine may hand a gradient it made to a leaf as its ``.grad`` and add into it in
    place later; a gradient a hook kept, or a first ``.grad`` read before, must see exactly
    what torch's do."""
    run_both(
        f"""
x = torch.ones({size}, requires_grad=True)
kept = []
h = x.register_hook(kept.append)
z = x.{reduction}()
z.backward()
first = x.grad
w = (x * 3).{reduction}()
w.backward()
k = kept[0] * 1
same = first is x.grad
y = torch.ones({size}, requires_grad=True)
u = y.{reduction}()
u.backward()
v = (y * 2).{reduction}()
v.backward()
"""
    )


# torch's gradient of a sum is an expanded view of the incoming one: an in-place op that
# reads it fails, zero_() writes through it. A mean's is a new tensor, which takes either.
# Reference fills a small mean's, keeps a large full mean's as a view of one value until
# someone is to see it, and views a sum's: 4 and 2,000 elements cover each.
REDUCED = ["y.sum()", "y.mean()", "y.sum(0)", "y.mean(0)", "y.mean(1, keepdim=True)"]


@pytest.mark.parametrize("reduced", REDUCED)
@pytest.mark.parametrize("size", [4, 2000])
@pytest.mark.parametrize("edit", ["mul_(2)", "zero_()"])
@pytest.mark.parametrize("where", ["tensor hook", "pre-hook", "post-hook"])
def test_a_hook_edits_a_reductions_gradient_as_in_torch(
    reduced: str, size: int, edit: str, where: str
) -> None:
    """A hook that edits the gradient in place: the edit fails, or holds for the engine,
    exactly where torch's does."""
    register = {
        "tensor hook": f"h = y.register_hook(lambda g: g.{edit})",
        "pre-hook": f"def pre(gs):\n    gs[0].{edit}\nh = y.grad_fn.register_prehook(pre)",
        "post-hook": f"def post(gi, go):\n    gi[0].{edit}\nh = r.grad_fn.register_hook(post)",
    }[where]
    run_both(
        f"""
x = torch.ones({size}, 3, requires_grad=True)
y = x * 1
r = {reduced}
{register}
z = r.sum()
z.backward()
"""
    )


@pytest.mark.parametrize("reduced", REDUCED)
@pytest.mark.parametrize("size", [4, 2000])
@pytest.mark.parametrize("edit", ["mul_(2)", "zero_()"])
def test_autograd_grad_hands_back_a_reductions_gradient_as_torch_does(
    reduced: str, size: int, edit: str
) -> None:
    """``autograd.grad`` returns the gradient itself, not a copy: a sum's expanded view
    refuses an in-place op that reads it."""
    run_both(
        f"""
x = torch.ones({size}, 3, requires_grad=True)
y = x * 1
z = {reduced}.sum()
(g,) = torch.autograd.grad(z, y)
e = g.{edit}
"""
    )


@pytest.mark.parametrize("through", ["y", "y * 1", "y.view(3)", "y.t()"])
def test_autograd_grad_shares_memory_with_grad_outputs_as_torch_does(through: str) -> None:
    """What flows back unchanged (an identity, a view's backward) is the caller's own
    ``grad_outputs``: editing the result edits it, as in torch."""
    run_both(
        f"""
x = torch.ones(3, 1, requires_grad=True)
y = x * 1
z = {through}
v = torch.ones(z.shape)
(g,) = torch.autograd.grad(z, y, grad_outputs=v)
e = g.add_(1)
seen = v * 1
"""
    )


@pytest.mark.parametrize("through", ["y.view(3)", "y.t()", "y * 1", "y + 0"])
def test_grad_takes_a_view_of_a_held_gradient_as_torch_does(through: str) -> None:
    """Torch's AccumulateGrad takes a gradient as ``.grad`` when no other tensor object
    references it, whatever memory it shares: a view's backward hands the leaf a new view of
    the caller's ``gradient``, so ``.grad`` shares it and a second backward's in-place sum
    shows in it. A gradient computed anew (``y * 1``) or passed on as it is (``y + 0``: the
    caller's own tensor) is copied."""
    run_both(
        f"""
x = torch.ones(3, 1, requires_grad=True)
y = x.view(3, 1)
z = {through}
v = torch.ones(z.shape)
z.backward(v, retain_graph=True)
z.backward(v)
seen = v * 1
g = x.grad * 1
"""
    )


def test_one_gradient_sent_to_two_leaves_is_shared_by_neither_grad() -> None:
    """``x1 + x2`` sends one array (made by ``* 2``'s backward) down both edges: each
    leaf's ``.grad`` is its own, as in torch (which copies for the first leaf, while the
    second still references the array)."""
    run_both(
        """
x1 = torch.ones(3, requires_grad=True)
x2 = torch.ones(3, requires_grad=True)
z = (x1 + x2) * 2
z.backward(torch.ones(3))
e = x1.grad.add_(5)
other = x2.grad * 1
"""
    )


def test_a_hook_edits_a_summed_0d_gradient_in_place() -> None:
    """A 0-d leaf used twice: its gradients are summed before its hook runs (numpy's 0-d sum
    is a scalar), and the hook's tensor takes an in-place edit, which holds for ``.grad``."""
    run_both(
        """
x = torch.tensor(1.5, requires_grad=True)
kept = []
h = x.register_hook(kept.append)
y = x + x
y.backward()
e = kept[0].zero_()
g = x.grad * 1
y2 = x * x
h2 = x.register_hook(lambda g: g.mul_(3))
y2.backward()
"""
    )


@pytest.mark.parametrize("node", ["y + 0", "y.sum(0)", "y * 2"])
def test_a_post_hook_edits_the_gradient_its_node_received_as_in_torch(node: str) -> None:
    """A post-hook is shown the gradient its node received, not a copy: an edit in place
    reaches what the node passed on unchanged (``y + 0``), and is refused on a sum's expanded
    view (``y.sum(0)`` receives one from the ``.sum()`` after it)."""
    run_both(
        f"""
x = torch.ones(3, 2, requires_grad=True)
y = x * 1
z = {node}
def post(grad_inputs, grad_outputs):
    grad_outputs[0].mul_(5)
h = z.grad_fn.register_hook(post)
z.sum().backward()
"""
    )


def test_a_tensor_created_directly_is_a_leaf() -> None:
    run_both("x = torch.tensor([1.0, 2.0])\ny = torch.ones(2, requires_grad=True)")
    run_both("z = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)\nr = z.grad_fn")


def test_requires_grad_propagates_through_a_chain() -> None:
    run_both(f"{LEAVES}\ny = c * 2\nz = y + x\nu = z.exp().sum()\nr = u.requires_grad")


# -- .grad on a non-leaf -----------------------------------------------------------------------


def test_grad_of_a_non_leaf_warns_like_torch() -> None:
    ours, theirs = run_both(f"{LEAVES}\ny = x * 2\nr = y.grad")
    assert warned(theirs) and warned(theirs) == warned(ours)
    assert warned(theirs)[0][0] == "UserWarning"


def test_retain_grad_fills_the_grad_of_a_non_leaf_without_warning() -> None:
    ours, theirs = run_both(f"{LEAVES}\ny = x * 2\ny.retain_grad()\ny.sum().backward()\nr = y.grad")
    assert not warned(theirs) and not warned(ours)


# -- accumulation ------------------------------------------------------------------------------


def test_a_leaf_used_twice_accumulates_into_the_same_grad_object() -> None:
    ours, theirs = run_both(
        f"{LEAVES}\ny = (x * x + x).sum()\ny.backward(retain_graph=True)\ny.backward()"
    )
    assert theirs[-1].grads["x"][1] is True  # torch adds in place: the same object


def test_two_outputs_sharing_a_leaf_accumulate() -> None:
    run_both(f"{LEAVES}\na = (x * 2).sum()\nb = x.exp().sum()\na.backward()\nb.backward()")


def test_a_retained_grad_is_a_new_object_at_each_accumulation() -> None:
    ours, theirs = run_both(
        f"{LEAVES}\ny = x * 2\ny.retain_grad()\nz = y.sum()\nz.backward(retain_graph=True)\n"
        "z.backward()"
    )
    assert theirs[-1].grads["y"][1] is False


# -- saved tensors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr, raises",
    [
        ("x.sum()", False),
        ("(x + w).sum()", False),
        ("(x * x).sum()", True),
        ("2 * x", True),
        ("x.exp().sum()", True),
        ("(x * c).sum()", True),
        ("x.view(-1).sum()", False),
    ],
)
def test_a_second_backward_raises_exactly_when_saved_tensors_were_freed(
    expr: str, raises: bool
) -> None:
    gradient = "torch.ones_like(y)" if expr == "2 * x" else ""
    source = f"{LEAVES}\ny = {expr}\ny.backward({gradient})\ny.backward({gradient})"
    ours, theirs = run_both(source)
    assert (last_error(theirs) is not None) == raises
    assert last_error(ours) == last_error(theirs)  # the message too


def test_retain_graph_keeps_saved_tensors_for_a_second_backward() -> None:
    run_both(f"{LEAVES}\ny = (x * x).sum()\ny.backward(retain_graph=True)\ny.backward()")


# -- zeroing -----------------------------------------------------------------------------------


@pytest.mark.parametrize("zero", ["x.grad.zero_()", "x.grad.data.zero_()", "x.grad = None"])
def test_zeroing_the_grad(zero: str) -> None:
    ours, theirs = run_both(
        f"{LEAVES}\ny = (x * x).sum()\ny.backward(retain_graph=True)\ng = x.grad\n{zero}\n"
        "y.backward()\nsame = x.grad is g"
    )


# -- non-scalar backward -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        "y.backward()",
        "y.backward(torch.ones(3))",
        "y.backward(torch.ones(1, 2, 3))",
        "y.backward(torch.ones(2, 3))",
        "torch.autograd.grad(y, x)",
        "torch.autograd.grad(y, x, grad_outputs=torch.ones(2))",
    ],
)
def test_non_scalar_backward_needs_a_gradient_of_the_same_shape(call: str) -> None:
    ours, theirs = run_both(f"{LEAVES}\ny = x * 2\n{call}")
    assert last_error(ours) == last_error(theirs)


# -- grad modes --------------------------------------------------------------------------------

GRAD_MODES = {
    "no_grad": "with torch.no_grad():\n    y = x * 2\nz = (y * x).sum()\nz.backward()",
    "enable_grad inside no_grad": (
        "with torch.no_grad():\n    with torch.enable_grad():\n        y = x * 2\nz = y.sum()\n"
        "z.backward()"
    ),
    "set_grad_enabled": (
        "with torch.set_grad_enabled(False):\n    y = x * 2\nb = torch.is_grad_enabled()"
    ),
    "set_grad_enabled called": (
        "s = torch.set_grad_enabled(False)\ny = x * 2\ns = torch.set_grad_enabled(True)\nz = x * 2"
    ),
    "no_grad decorator": "f = torch.no_grad()(lambda t: t * 2)\ny = f(x)\nz = x * 2",
    "enable_grad decorator": (
        "f = torch.enable_grad()(lambda t: t * 2)\nwith torch.no_grad():\n    y = f(x)"
    ),
    "inference_mode": "with torch.inference_mode():\n    y = x * 2\nb = y.requires_grad",
    "inference tensor saved for backward": (
        "with torch.inference_mode():\n    y = c * 2\nz = y * x"
    ),
    "inference tensor not saved": "with torch.inference_mode():\n    y = c * 2\nz = (y + x).sum()",
    "inference tensor in place": "with torch.inference_mode():\n    y = c * 2\ny.add_(1)",
    "detached inference tensor in place": (
        "with torch.inference_mode():\n    y = c * 2\nd = y.detach()\nd.add_(1)\nz = d.data\n"
        "z.mul_(2)\nv = d._version"
    ),
    "detached inference tensor saved": (
        "with torch.inference_mode():\n    y = c * 2\nd = y.detach()\nz = d * x"
    ),
    "version of an inference tensor": "with torch.inference_mode():\n    y = c * 2\nv = y._version",
    "inference tensor requires grad": (
        "with torch.inference_mode():\n    y = c * 2\ny.requires_grad_()"
    ),
    "inference_mode(False)": (
        "with torch.inference_mode():\n    with torch.inference_mode(False):\n        y = x * 2"
    ),
    "enable_grad inside inference_mode": (
        "with torch.inference_mode():\n    with torch.enable_grad():\n        y = x * 2\n"
        "        v = x[0]\nr = v.requires_grad\nz = (v * y).sum()\nv.mul_(2)"
    ),
    "inference_mode(False) under no_grad": (
        "with torch.no_grad():\n    with torch.inference_mode(False):\n        y = x * 2"
    ),
    "view under no_grad": "with torch.no_grad():\n    y = x[0]\nz = (y * w).sum()\nz.backward()",
    "view under no_grad in place": "with torch.no_grad():\n    y = x[0]\ny.mul_(2)",
    "view under inference_mode in place": "with torch.inference_mode():\n    y = x[0]\ny.mul_(2)",
    "in place under no_grad": "with torch.no_grad():\n    x.mul_(2)\nz = x.sum()\nz.backward()",
}


@pytest.mark.parametrize("source", GRAD_MODES.values(), ids=GRAD_MODES.keys())
def test_grad_modes(source: str) -> None:
    ours, theirs = run_both(f"{LEAVES}\n{source}")
    assert last_error(ours) == last_error(theirs)


# -- .data and the version counter -------------------------------------------------------------


def test_data_shares_memory_but_bypasses_the_version_counter() -> None:
    ours, theirs = run_both(
        f"{LEAVES}\ny = x.exp()\nv0 = y._version\ny.data.mul_(2)\nv1 = y._version\n"
        "z = y.sum()\nz.backward()"
    )
    assert theirs[-1].error is None


def test_detach_shares_the_version_counter() -> None:
    ours, theirs = run_both(
        f"{LEAVES}\ny = x.exp()\nd = y.detach()\nd.mul_(2)\nv = y._version\nz = y.sum()\n"
        "z.backward()"
    )
    assert last_error(theirs) is not None
    assert last_error(ours) == last_error(theirs)


@pytest.mark.parametrize(
    "source",
    [
        "y = x * 2\nz = y * y\ny.add_(1)\nz.sum().backward()",
        "y = x.exp()\ny.mul_(2)\ny.sum().backward()",
        "y = x.tanh()\nz = y.sum()\ny.zero_()\nz.backward()",
        "y = x * 1\nz = y.sigmoid()\nz.add_(1)\nz.sum().backward()",
        "y = x * 1\nz = y.relu()\ny.add_(1)\nz.sum().backward()",
        "y = p.log()\ny.add_(1)\ny.sum().backward()",
        "y = x * 2\nz = y + 1\ny.add_(1)\nz.sum().backward()",
    ],
)
def test_modifying_a_saved_tensor_raises_torchs_version_error(source: str) -> None:
    ours, theirs = run_both(f"{LEAVES}\n{source}")
    assert last_error(ours) == last_error(theirs)


INPLACE = [
    "y = c * 1\ny.mul_(x.exp())\nz = y.sum()\nz.backward()",
    "y = c * 1\ny.div_(x.exp())\nz = y.sum()\nz.backward()",
    "y = x * 1\ny.div_(w)\nz = y.sum()\nz.backward()",
    "y = x * 1\ny.mul_(y)\nz = y.sum()\nz.backward()",
    "y = x * 1\ny.add_(w)\ny.sub_(2)\nz = y.sum()\nz.backward()",
    "y = x * 1\ny.zero_()\nz = (y + x).sum()\nz.backward()",
    "y = c * 1\ny.add_(w)\nr = y.is_leaf",
    "y = c * 1\ny.mul_(c)\nr = y.requires_grad",
    "y = x.exp()\ny.add_(1)\nz = y.sum()\nz.backward()",
    "y = x * 1\ny += w\ny *= 2\ny -= w\ny /= 4\nz = y.sum()\nz.backward()",
    "y = torch.tensor([1.0, 2.0], dtype=torch.float64)\ny.add_(w[:2])\nz = y.sum()\nz.backward()",
]


@pytest.mark.parametrize("source", INPLACE)
def test_in_place_ops_record_like_torch(source: str) -> None:
    run_both(f"{LEAVES}\n{source}")


LAYOUTS = [
    "-t",
    "t * 2",
    "2 ** t",
    "t ** 2",
    "t.exp()",
    "t + t",
    "t + m",
    "m + t",
    "t + w[:2]",
    "1 - t",
    "1 / t",
    "t.relu()",
    "t.sum(0)",
    "t.clone()",
    "t.double()",
    "t @ m.t()",
    "t * torch.tensor(2.0)",
    "x[:, ::2]",
    "x[:, ::2] * 2",
    "t.reshape(6)",
    "t[1:]",
]


@pytest.mark.parametrize("expr", LAYOUTS)
def test_memory_layout_decides_whether_view_works(expr: str) -> None:
    """Torch's elementwise results follow their first operand's layout; ``view`` needs a
    compatible one, and ``reshape`` records a copy (UnsafeViewBackward0) when it has to."""
    run_both(f"{LEAVES}\nt = x.t()\ny = {expr}\nv = y.view(-1)\nr = y.reshape(-1)")


# -- the errors torch raises -------------------------------------------------------------------

ERRORS = {
    "backward without grad": "y = c * 2\ny.sum().backward()",
    "requires_grad on int": "i = torch.tensor([1, 2])\ni.requires_grad_()",
    "requires_grad= on int": "i = torch.tensor([1, 2])\ni.requires_grad = True",
    "tensor(requires_grad) on int": "i = torch.tensor([1, 2], requires_grad=True)",
    "ones(requires_grad) on int": "i = torch.ones(2, dtype=torch.int64, requires_grad=True)",
    "in place on a leaf": "x.add_(1)",
    "in place mul on a leaf": "x.mul_(2)",
    "zero_ on a leaf": "x.zero_()",
    "numpy on requires grad": "a = x.numpy()",
    "numpy on a non-leaf": "y = x * 2\na = y.numpy()",
    "requires_grad False on a non-leaf": "y = x * 2\ny.requires_grad_(False)",
    "retain_grad without grad": "c.retain_grad()",
    "hook without grad": "c.register_hook(double)",
    "grad of an input without grad": "y = (x * c).sum()\ng = torch.autograd.grad(y, c)",
    "grad of an unused input": "y = x.sum()\ng = torch.autograd.grad(y, w)",
    "item of many": "a = x.item()",
    "view of a non-contiguous tensor": "y = x.t().view(6)",
    "view to a wrong size": "y = x.view(4)",
    "matmul shape mismatch": "y = x @ x",
    "matmul dtype mismatch": "y = x @ m.double()",
    "broadcast mismatch": "y = x + torch.ones(2)",
    "index out of range": "y = x[2]",
    "too many indices": "y = w[0, 0]",
    "sum over a missing dim": "y = x.sum(2)",
    "mean of integers": "y = torch.tensor([1, 2]).mean()",
    "t of 3-D": "y = x.view(1, 2, 3).t()",
    "in place float into int": "i = torch.tensor([1, 2])\ni.add_(0.5)",
    "in place broadcast into a smaller tensor": "y = w * 1\ny.add_(x)",
    "grad_outputs of a wrong length": (
        "y = x.sum()\ng = torch.autograd.grad([y, y], x, grad_outputs=[None])"
    ),
}


@pytest.mark.parametrize("source", ERRORS.values(), ids=ERRORS.keys())
def test_errors_match_torchs_type_and_message(source: str) -> None:
    ours, theirs = run_both(f"{LEAVES}\n{source}")
    assert last_error(theirs) is not None, "the scenario should make torch raise"
    assert _gist(last_error(ours)) == _gist(last_error(theirs))


def _gist(error: tuple[str, str] | None) -> tuple[str, str] | None:
    """The type and the first sentence: torch appends C++ context to some messages."""
    if error is None:
        return None
    return error[0], re.split(r"(?<=[.:])\s|\n", error[1])[0]


# -- create_graph: higher-order gradients ------------------------------------------------------

SECOND_ORDER = [
    "p ** 3",
    "p ** 0.5",
    "p ** -2",
    "p ** w",
    "w ** p",
    "2 ** x",
    "x * x",
    "x * w",
    "x / w",
    "1 / p",
    "x.exp()",
    "p.log()",
    "x.tanh()",
    "x.sigmoid()",
    "x.relu() * x",
    "(x @ m) ** 2",
    "(w @ w) * w",
    "x.mean(0) ** 2",
    "(x.sum(1) ** 2)",
    "x.t() ** 3",
    "x.view(-1) ** 3",
    "x[0] ** 3",
    "x[:, 1:] ** 2",
    "(x - 3) * (2 - x)",
    "-x * x",
]


@pytest.mark.parametrize("expr", SECOND_ORDER)
def test_second_derivatives_match_torch(expr: str) -> None:
    ours, theirs = run_both(
        f"{LEAVES}\ny = ({expr}).sum()\n"
        "g = torch.autograd.grad(y, [x, w, p], create_graph=True, allow_unused=True)\n"
        "s = sum((gi * gi).sum() for gi in g if gi is not None and gi.requires_grad)\n"
        "h = torch.autograd.grad(s, [x, w, p], allow_unused=True)",
        names=False,
    )
    assert theirs[-1].error is None or "does not require grad" in theirs[-1].error[1]


def test_backward_with_create_graph_records_the_grad() -> None:
    run_both(
        f"{LEAVES}\ny = (x ** 3).sum()\ny.backward(create_graph=True)\ng = x.grad\n"
        "z = (g * g).sum()\nh = torch.autograd.grad(z, x)",
        names=False,
    )
    recorded = []
    for lib in (reference, torch):  # the first .grad is a recorded copy, laid out as x
        x = lib.tensor([[0.5, -1.0], [2.0, 1.5]]).t().detach().requires_grad_()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            (x**3).sum().backward(create_graph=True)
        node = x.grad.grad_fn
        try:
            x.grad.view(-1)
            flat = True
        except RuntimeError:  # column-major, as x is: no flat view
            flat = False
        recorded.append((node.name(), [n and n.name() for n, _ in node.next_functions], flat))
    assert recorded[0] == recorded[1]
    assert recorded[1][2] is False


def _graph(node: Any, seen: dict[Any, int] | None = None) -> Any:
    """A graph as nested node names, depth first along next_functions; a node met again is
    its number in the order first met, so that what is shared must be shared alike."""
    seen = {} if seen is None else seen
    if node is None:
        return []
    if node in seen:
        return seen[node]
    seen[node] = len(seen)
    return [node.name(), [_graph(child, seen) for child, _ in node.next_functions]]


def _edited_in_place(a: Any) -> Any:
    """mul_ and div_ on a non-leaf: each saves a recorded clone of the old self."""
    b = a * 1
    b.mul_(a)
    b.div_(a * a + 3)
    return b * b


def _edited_through_views(a: Any, edit: str) -> Any:
    """In-place edits through views of a non-leaf: torch's CopySlices, whose recorded
    backward copies the gradient, edits a clone of its slice and copies the answer back."""
    b = a * 1
    if edit == "mul_":
        b[0].mul_(a[1])
    elif edit == "add_ column":
        b[:, 0].add_(a[1] * a[0])
    elif edit == "zero_":
        b[0].zero_()
        return b * a
    elif edit == "base":  # the base edited, a view of it used
        v = b[1]
        b.mul_(a)
        return v * v
    elif edit == "two":
        b[0].div_(a[1] + 3)
        b[1].sub_(a[0])
    elif edit == "transposed":
        b.t()[0].mul_(a[0])
    elif edit == "view of a view":
        b[0][1:].mul_(a[1, :1])
    elif edit == "expanded":  # the view's rows are the same elements
        v = b[:1].expand(3, 2)
        b.add_(a * a)
        return v * v.exp()
    return b * b


HIGHER_ORDER = {
    "slice": lambda lib, a: a[:1] * a[:1],
    "select": lambda lib, a: a[1] * a[1],
    "column": lambda lib, a: a[:, 1] * a[:, 1],
    "unsqueeze": lambda lib, a: a.unsqueeze(1) * a.unsqueeze(1),
    "squeeze dim": lambda lib, a: a[:1].squeeze(0) * a[:1].squeeze(0),
    "squeeze a size above 1": lambda lib, a: a.squeeze(1) * a.squeeze(1),
    "squeeze all": lambda lib, a: a[:1, None].squeeze() * a[:1, None].squeeze(),
    "mm": lambda lib, a: (a @ a) * a,
    "mm column-major": lambda lib, a: (a.t() @ a) * a.t(),
    "vector @ matrix": lambda lib, a: lib.matmul(a[0], a) * a[1],
    "matrix @ vector": lambda lib, a: lib.matmul(a, a[0]) * a[1],
    "tanh": lambda lib, a: a.tanh(),
    "sigmoid": lambda lib, a: a.sigmoid(),
    "pow": lambda lib, a: a**3,
    "reciprocal": lambda lib, a: a.reciprocal(),
    "div": lambda lib, a: a / (a * a + 3),
    "rpow": lambda lib, a: 2.5**a,
    "tensor ** tensor": lambda lib, a: (a * a + 1) ** a,
    "mul_ and div_ on a non-leaf": lambda lib, a: _edited_in_place(a),
    "tensor ** tensor, masked": lambda lib, a: (a * a - 1) ** (a * a - 1),  # 0 ** 0 at [0, 0]
    "expand": lambda lib, a: a[:1].expand(2, 2) * a,
    "broadcast": lambda lib, a: (a + a[0]) * (a + a[0]),
    "sum()": lambda lib, a: a.sum() * a,
    "sum(dim)": lambda lib, a: a.sum(1) * a[0],
    "sum(dim, keepdim)": lambda lib, a: a.sum(0, keepdim=True) * a,
    "sum of a 0-d": lambda lib, a: a[0, 0].sum() * a,
    "mean()": lambda lib, a: a.mean() * a,
    "mean(dims)": lambda lib, a: a.mean((0, 1)) * a,
    "add and sub": lambda lib, a: (a + a[0]) * (a - a[1]),
    "rsub and neg": lambda lib, a: (2.5 - a) * -a,
    "exp and log": lambda lib, a: (a * a + 1).log() * a.exp(),
    "relu": lambda lib, a: a.relu() * a,
    "clone": lambda lib, a: a.clone() * a,
    "view and reshape": lambda lib, a: a.view(4) * a.t().reshape(4),
    "transpose and T": lambda lib, a: a.transpose(0, 1) * a.T,
    "dot": lambda lib, a: lib.matmul(a[0], a[1]) * a,
    "to": lambda lib, a: a.float().double() * a,
    "index and None": lambda lib, a: a[1, 1:] * a[None][0, 0, :1],
    "mul_ through a view": lambda lib, a: _edited_through_views(a, "mul_"),
    "add_ through a column": lambda lib, a: _edited_through_views(a, "add_ column"),
    "zero_ through a view": lambda lib, a: _edited_through_views(a, "zero_"),
    "a view of an edited base": lambda lib, a: _edited_through_views(a, "base"),
    "two edits through views": lambda lib, a: _edited_through_views(a, "two"),
    "an edit through a transposed view": lambda lib, a: _edited_through_views(a, "transposed"),
    "an edit through a view of a view": lambda lib, a: _edited_through_views(a, "view of a view"),
    "an expanded view of an edited base": lambda lib, a: _edited_through_views(a, "expanded"),
}


@pytest.mark.parametrize("name", sorted(HIGHER_ORDER))
def test_higher_order_graphs_are_torchs(name: str) -> None:
    """The graph that create_graph records for a gradient, node by node, and the values of
    the second and third derivative (the next test compares the graphs one order up)."""
    seen = []
    for lib in (reference, torch):
        a = lib.tensor([[1.0, 2.0], [3.0, -1.5]], dtype=lib.float64, requires_grad=True)
        g = lib.autograd.grad(HIGHER_ORDER[name](lib, a).sum(), a, create_graph=True)[0]
        h = lib.autograd.grad((g * g).sum(), a, create_graph=True)[0]
        seen.append((_graph(g.grad_fn), g.detach().numpy(), h.detach().numpy()))
    (graph, g, h), (torch_graph, torch_g, torch_h) = seen
    assert graph == torch_graph
    np.testing.assert_allclose(g, torch_g, rtol=1e-12)
    np.testing.assert_allclose(h, torch_h, rtol=1e-12)


@pytest.mark.parametrize("name", sorted(HIGHER_ORDER))
def test_third_order_graphs_are_torchs(name: str) -> None:
    """The graph recorded for the gradient of a gradient, node by node and in torch's order
    of creation, which decides how the next backward sums: binary ops compute the second
    operand's gradient first, the engine fits every gradient to its input before it sums
    any, sigmoid's formula adds a number (AddBackward1) and x * x records two products."""
    graphs = []
    for lib in (reference, torch):
        a = lib.tensor([[1.0, 2.0], [3.0, -1.5]], dtype=lib.float64, requires_grad=True)
        g = lib.autograd.grad(HIGHER_ORDER[name](lib, a).sum(), a, create_graph=True)[0]
        h = lib.autograd.grad((g * g).sum(), a, create_graph=True)[0]
        graphs.append(_graph(h.grad_fn))
    assert graphs[0] == graphs[1]


def test_third_derivative() -> None:
    run_both(
        "x = torch.tensor([0.5, 1.5], dtype=torch.float64, requires_grad=True)\n"
        "y = (x.tanh() * x.exp()).sum()\n"
        "g = torch.autograd.grad(y, x, create_graph=True)[0]\n"
        "g2 = torch.autograd.grad(g.sum(), x, create_graph=True)[0]\n"
        "g3 = torch.autograd.grad(g2.sum(), x)[0]",
        names=False,
    )


# -- autograd.grad -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        "g = torch.autograd.grad(y, [x, w], allow_unused=True)",
        "g = torch.autograd.grad(y, [x, w])",
        "g = torch.autograd.grad(y, x)",
        "g = torch.autograd.grad(y, [x, x])",
        "g = torch.autograd.grad([y, y], [x], retain_graph=True)",
        "g = torch.autograd.grad(y, x, retain_graph=True)\nh = torch.autograd.grad(y, x)",
        "g = torch.autograd.grad(y, x)\nh = torch.autograd.grad(y, x)",
        "g = torch.autograd.grad(y, u)",
    ],
)
def test_autograd_grad(call: str) -> None:
    ours, theirs = run_both(f"{LEAVES}\nu = x * 2\ny = (u * u).sum()\n{call}\nr = x.grad")
    assert last_error(ours) == last_error(theirs)


# -- hooks -------------------------------------------------------------------------------------


def test_hooks_see_and_replace_gradients() -> None:
    run_both(
        f"{LEAVES}\nx.register_hook(observe)\ny = x * w\ny.register_hook(double)\n"
        "y.register_hook(observe)\ny.retain_grad()\nh = w.register_hook(double)\n"
        "z = y.sum()\nz.backward(retain_graph=True)\nh.remove()\nz.backward()"
    )


def test_hooks_and_autograd_grad_see_the_callers_gradient_itself() -> None:
    """Torch passes a gradient the caller handed over along as that very tensor: a hook on
    the root, or autograd.grad at the root, gets the caller's object, which `.data = ...`
    on it shows."""
    run_both(
        f"{LEAVES}\nkept = []\nh = x.register_hook(kept.append)\ng = torch.ones(2, 3) * 0.5\n"
        "x.backward(g)\nat_leaf = kept[-1] is g\ny = x * 2\nh2 = y.register_hook(kept.append)\n"
        "y.backward(g, retain_graph=True)\nat_root = kept[-1] is g\n"
        "back = torch.autograd.grad(y, y, grad_outputs=g)[0] is g\n"
        "g.data = torch.zeros(2, 3)\nlast = kept[-1] * 1"
    )


CORNERS = {
    "retain_grad follows an in-place op, hooks stay": (
        "y = x * 3\ny.retain_grad()\ny.register_hook(observe)\ny.mul_(2)\n"
        "y.register_hook(observe)\nz = (y * y).sum()\nz.backward()"
    ),
    "a leaf moved into the graph interior": (
        "y = c * 1\ny.requires_grad_()\nu = y * 2\ny.detach_()\ny.add_(u)\nz = y.sum()\n"
        "z.backward()"
    ),
    "grad of a non-leaf that had one as a leaf": (
        "y = c * 1\ny.requires_grad_()\nz = y.sum()\nz.backward()\ny.detach_()\n"
        "y.add_(x[0])\nr = y.grad"
    ),
    "a mean's recorded gradient is no view, even of one element": (
        "w = x[:1, :1].detach().requires_grad_()\n"
        "d = torch.autograd.grad(w.mean(), w, create_graph=True)[0]\nd.detach_()"
    ),
    "a vector's t() hands back a new view, which a leaf takes while a hook keeps the other": (
        "u = w.t() + 0.5\nkept = []\nh = u.register_hook(kept.append)\n"
        "u.backward(torch.ones(3), retain_graph=True)\nu.mean().backward()\nfirst = kept[0] * 1"
    ),
    "autograd.grad hands back a sum's gradient as a view, which detach_() refuses": (
        "d = torch.autograd.grad(x.sum(), x)[0]\nview = d._base is not None\nd.detach_()"
    ),
    "autograd.grad's view was made under no_grad: an edit grad mode records is refused": (
        "g6 = torch.ones(6) * 0.5\nd = torch.autograd.grad(x.reshape(6), x, grad_outputs=g6)[0]\n"
        "d.mul_(2)\nshared = g6 * 1\nd.mul_(p)"
    ),
    "a hook is shown a sum's gradient as a view, which detach_() refuses": (
        "kept = []\nh = x.register_hook(kept.append)\nx.sum().backward()\nk = kept[0]\n"
        "view = k._base is not None\nk.detach_()"
    ),
    "a sum's recorded gradient is a view": (
        "d = torch.autograd.grad(x.sum(), x, create_graph=True)[0]\nd.detach_()"
    ),
    "requires_grad = True on a non-leaf": "y = x * 2\ny.requires_grad = True",
    "requires_grad = False on a non-leaf": "y = x * 2\ny.requires_grad = False",
    "requires_grad_(True) on a non-leaf": "y = x * 2\ny.requires_grad_(True)",
    "same hook twice, one removed": (
        "h1 = x.register_hook(double)\nh2 = x.register_hook(observe)\nh3 = x.register_hook(double)"
        "\nh1.remove()\nh1.remove()\nz = x.sum()\nz.backward()"
    ),
    "requires_grad_(False) after recording": (
        "x.register_hook(observe)\ny = x * 2\nx.requires_grad_(False)\nz = y.sum()\nz.backward()"
    ),
    "detach_ of a saved tensor": "y = x * 2\nz = y * y\ny.detach_()\nu = z.sum()\nu.backward()",
    "detach_ of a leaf": "y = x * 2\nx.detach_()\nz = y.sum()\nz.backward()",
    "detach_ of a view": "y = x[0]\ny.detach_()",
    "detach_ keeps the tensor's hooks": (
        "y = x * 2\ny.register_hook(double)\ny.register_hook(observe)\nu = y * 1\n"
        "y.detach_()\ny.requires_grad_()\nz = (y * 3).sum() + u.sum()\nz.backward()"
    ),
    "a constant view twice": (
        "with torch.no_grad():\n    v = x[0]\ny = v * 2\nz = y.sum()\nz.backward()\nz.backward()"
    ),
    "scalar ** tensor saves the exponent": (
        "y = 2 ** x\nwith torch.no_grad():\n    x.mul_(2)\nz = y.sum()\nz.backward()"
    ),
    "grad assigned then accumulated": (
        "x.grad = torch.ones_like(x)\ng = x.grad\nz = x.sum()\nz.backward()\nsame = x.grad is g"
    ),
    "grad of a wrong shape": "x.grad = torch.ones(3)",
    "grad of a wrong dtype": "x.grad = torch.ones(2, 3, dtype=torch.float64)",
    "backward of many": (
        "a = x * 2\nb = (x * w).sum()\ntorch.autograd.backward([a, b], [torch.ones_like(a), None])"
    ),
    "retain_grad on a leaf": "x.retain_grad()\nr = x.retains_grad\nz = x.sum()\nz.backward()",
    "hook on a leaf and a retained non-leaf": (
        "y = x * 2\ny.retain_grad()\ny.register_hook(double)\nz = (y * y).sum()\nz.backward()"
    ),
}


@pytest.mark.parametrize("source", CORNERS.values(), ids=CORNERS.keys())
def test_corners_match_torch(source: str) -> None:
    ours, theirs = run_both(f"{LEAVES}\n{source}")
    assert _gist(last_error(ours)) == _gist(last_error(theirs))


# -- dtypes ------------------------------------------------------------------------------------

PROMOTION = [
    "x * 2",
    "x * 2.5",
    "x + True",
    "2 / x",
    "x ** 2",
    "x ** 2.0",
    "x + x64",
    "x64 * x",
    "x * s64",
    "s64 * x",
    "x64 * s32",
    "s32 + s64",
    "i * 2",
    "i * 2.5",
    "i / 2",
    "i / i",
    "i + s64",
    "i * s32",
    "i + x",
    "i ** 2",
    "2 ** i",
    "2.0 ** i",
    "i - 1",
    "1 - i",
    "b + 1",
    "b * 2.5",
    "b + b",
    "i + b",
    "i32 + i",
    "i32 * 2",
    "i32 + s64",
    "i.sum()",
    "i32.sum()",
    "b.sum()",
    "i.relu()",
    "i.exp()",
    "i.tanh()",
    "s32.exp()",
    "-i",
    "i.t()",
    "i.view(2, 1)",
    "i @ i",
    "x @ x64.t()",
    "x64.float() + x",
    "x.double() * s32",
]


@pytest.mark.parametrize("expr", PROMOTION)
def test_dtype_promotion(expr: str) -> None:
    run_both(
        "x = torch.tensor([[1.5, -2.0]], requires_grad=True)\n"
        "x64 = torch.tensor([[0.5, 4.0]], dtype=torch.float64, requires_grad=True)\n"
        "s32 = torch.tensor(1.5)\n"
        "s64 = torch.tensor(3.0, dtype=torch.float64)\n"
        "i = torch.tensor([1, 2])\n"
        "i32 = torch.tensor([3, -4], dtype=torch.int32)\n"
        "b = torch.tensor([True, False])\n"
        f"y = {expr}\n"
        "z = y.sum().backward() if y.requires_grad else None"
    )


# -- printing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr",
    [
        "x",
        "w * 2",
        "x.mean()",
        "x.sum()",
        "x64",
        "x64 * 2",
        "c",
        "i",
        "b",
        "s32",
        "s64",
        "x.grad_fn",
        "(x * 2).grad_fn",
        "(x * 2).grad_fn.next_functions",
        "x.shape",
        "x.dtype",
        "x64.dtype",
        "x.size()",
        "x.view(-1)",
        "x.t()",
        "x[0]",
        "x.exp()",
        "torch.ones(2, 2, requires_grad=True)",
        "torch.tensor(11.0)",
        "torch.zeros(3)",
        "x.detach()",
        "torch.tensor([1e-5, 1.0])",
        "torch.tensor([123456.0, 1.0])",
    ],
)
def test_repr_matches_torch(expr: str) -> None:
    ours, theirs = run_both(
        f"{LEAVES}\nx64 = x.double()\ni = torch.tensor([1, 2])\nb = torch.tensor([True])\n"
        "s32 = torch.tensor(1.5)\ns64 = torch.tensor(3.0, dtype=torch.float64)\n"
        f"r = re.sub('0x[0-9a-f]+', '0x...', repr({expr}))"
    )
    assert ours[-1].outputs == theirs[-1].outputs


def test_create_graph_backward_warns_once_per_process() -> None:
    """Run apart, as the test below: torch warns about backward(create_graph=True) the first
    time in a process, whether through Tensor.backward or autograd.backward."""
    code = (
        "import sys, warnings\n"
        "torch = __import__(sys.argv[1])\n"
        "x = torch.ones(2, requires_grad=True)\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    for _ in range(3):\n"
        "        (x * x).sum().backward(create_graph=True)\n"
        "    torch.autograd.backward((x * x).sum(), create_graph=True)\n"
        "print([str(w.message).split(' (Triggered')[0] for w in caught])\n"
    )
    printed = _in_fresh_processes(code)
    assert printed["reference"] == printed["torch"]
    assert printed["torch"].count("create_graph=True") == 1


def _in_fresh_processes(code: str) -> dict[str, str]:
    """What ``code`` prints in a new process with ``sys.argv[1]`` naming each library."""
    return {
        name: subprocess.run(
            [sys.executable, "-c", code, name], capture_output=True, text=True, check=True
        ).stdout
        for name in ("reference", "torch")
    }


def test_T_warns_once_per_process_on_tensors_that_are_not_2d() -> None:  # noqa: N802
    """Run apart: torch's warnings are once per process, and this process may have had them."""
    code = (
        "import sys, warnings\n"
        "torch = __import__(sys.argv[1])\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    for rank in (1, 1, 3, 0, 0, 2):\n"
        "        torch.ones([2] * rank).T\n"
        "print([str(w.message).split(' (Triggered')[0] for w in caught])\n"
    )
    printed = _in_fresh_processes(code)
    assert printed["reference"] == printed["torch"]
    assert printed["torch"].count("deprecated") == 2  # one for 0-D, one for the other ranks
