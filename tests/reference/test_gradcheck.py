"""Every differentiable op's backward formula against central finite differences, in float64.

For an op ``f`` and a random upstream gradient ``v``, the analytic gradient of
``phi(x) = sum(f(x) * v)`` (from ``backward``) must match
``(phi(x + h e_i) - phi(x - h e_i)) / 2h`` for every input element. The same check runs one
order up: the gradient of ``psi(x) = sum_i <dphi/dx_i, u_i>`` through ``create_graph=True``
against finite differences of the first derivative, which covers every backward formula
as recorded for higher-order gradients. Hypothesis draws the inputs from each op's domain.

The ops are the op table's gradcheck cases (`conformance.optable`), the ones `conformance
gradcheck` runs, evaluated by the harness's interpreter on reference; `ENGINE_PATHS` adds what
those cases do not reach. These tests need no torch: the oracle is calculus.

Tolerances: a table case has its own, with its reason. For the engine paths: with h = 1e-6 in
float64, central differences err by about h^2 |f'''| / 6
(truncation) plus eps |phi| / h (rounding, eps = 1.1e-16). Inputs lie in [-2, 2] (positive
ops in [0.5, 2], kinks kept 0.05 away), so |phi| and |f'''| stay below ~1e3 and each error
is below ~1e-9. ATOL = 1e-6 and RTOL = 1e-5 leave a margin of a thousand while still
catching a wrong formula (a wrong factor or sign errs by O(1)).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import reference
from conformance.backends import resolve_backend
from conformance.fuzz.gradcheck import Case, as_function, cases
from reference import Tensor

H = 1e-6
ATOL, RTOL = 1e-6, 1e-5
WIDE = (-2.0, 2.0)
POSITIVE = (0.5, 2.0)


@dataclass(frozen=True)
class Op:
    """One differentiable op: how to call it, its inputs' shapes and domains."""

    name: str
    fn: Callable[..., Tensor]
    shapes: tuple[tuple[int, ...], ...]
    domains: tuple[tuple[float, float], ...] = ()  # per input; WIDE by default
    kink: float | None = None  # inputs are kept 0.05 away from it
    h: float = H
    atol: float = ATOL
    rtol: float = RTOL
    signed: bool = False  # draw |x| from the domain and give it a random sign

    def domain(self, i: int) -> tuple[float, float]:
        return self.domains[i] if i < len(self.domains) else WIDE

    def __repr__(self) -> str:
        return self.name


def _inplace(method: str) -> Callable[[Tensor, Tensor], Tensor]:
    def fn(a: Tensor, b: Tensor) -> Tensor:
        out = a * 1  # a non-leaf, so the in-place op is recorded
        getattr(out, method)(b)
        return out

    return fn


def _through_view(method: str) -> Callable[[Tensor, Tensor], Tensor]:
    def fn(a: Tensor, b: Tensor) -> Tensor:
        out = a * 1
        getattr(out[1:], method)(b)  # rewrites part of out: its history becomes CopySlices
        return out * out

    return fn


def _edited_view(a: Tensor, b: Tensor) -> Tensor:
    base = a * 1
    view = base.t()[1:]  # a view of a view, taken before the edit
    base.mul_(b)  # the edit re-derives the view's history from the base's (AsStrided)
    return view * view


def _edited_expanded_view(a: Tensor, b: Tensor) -> Tensor:
    base = a * 1
    view = base[:1].expand(2, 3)  # both rows are the same elements: the view overlaps itself
    base.mul_(b)  # re-derived, its AsStrided picks elements twice: its backward sums them
    return view * view


def _grad_with_graph(a: Tensor) -> Tensor:
    """A leaf's first ``.grad`` under ``create_graph`` (here ``a * a``): the engine's recorded
    copy of the gradient (``CopyBackwards``), itself differentiable in ``a``."""
    leaf = reference.tensor(np.full(tuple(a.shape), 0.5), requires_grad=True)
    with reference.enable_grad(), warnings.catch_warnings():  # also under no_grad
        warnings.simplefilter("ignore", UserWarning)  # create_graph's reference-cycle notice
        (leaf * a * a).sum().backward(create_graph=True, inputs=[leaf])  # not into a
    assert leaf.grad is not None
    return leaf.grad


def _sigmoid_gradient(a: Tensor) -> Tensor:
    """Sigmoid's gradient at ``a``, recorded (SigmoidBackwardBackward0): its own gradient
    adds a number as torch's formula does (AddBackward1). Taken in a leaf of its own, so
    that ``a`` need not require grad."""
    at = reference.zeros(*a.shape, dtype=a.dtype, requires_grad=True)
    with reference.enable_grad():  # also under no_grad
        return reference.autograd.grad((at + a).sigmoid().sum(), at, create_graph=True)[0]


M23, M32, V3, V2, ROW, COL = (2, 3), (3, 2), (3,), (2,), (1, 3), (2, 1)

# What the table's cases do not reach: spellings the spec language lacks (reciprocal, clone,
# expand, squeeze, None and ... indexing), variants the cases do not hold (a number beside a
# tensor, x * x, keepdim=False, a 0-d sum), in-place edits, and gradients recorded under
# create_graph. A variant every backend should pass moves into the table as a `Check`.
ENGINE_PATHS = [
    # arithmetic, with broadcasting between tensors and Python scalars on either side
    Op("add scalar", lambda a: 1.5 + a, (M23,)),
    Op("sub scalar", lambda a: a - 2, (M23,)),
    Op("mul self", lambda a: a * a, (M23,)),
    Op("mul scalar", lambda a: a * -1.5, (M23,)),
    Op("div scalar", lambda a: a / 4, (M23,)),
    Op("reciprocal", lambda a: a.reciprocal(), (M23,), (POSITIVE,)),
    Op("pow 2.5", lambda a: a**2.5, (M23,), (POSITIVE,)),
    Op("pow -1.5", lambda a: a**-1.5, (M23,), (POSITIVE,)),
    Op("pow 0", lambda a: a**0, (M23,)),
    Op("pow method", lambda a: a.pow(2), (M23,)),
    # elementwise
    Op("relu squared", lambda a: a.relu() * a, (M23,), kink=0.0),
    Op("clone", lambda a: a.clone(), (M23,)),
    # float32 in the middle rounds x by up to 6e-8 |x|: with h = 1e-2 that is 1e-5 of error
    Op("to float32 and back", lambda a: a.float().double() ** 2, (M23,), h=1e-2, atol=1e-4),
    # reductions
    Op("sum dim", lambda a: a.sum(1), (M23,)),
    Op("sum dim keepdim", lambda a: a.sum(0, keepdim=True), (M23,)),
    Op("sum dims", lambda a: a.sum((0, 1)), (M23,)),
    Op("sum 0-d", lambda a: a.sum(0), ((),)),
    Op("mean dim", lambda a: a.mean(-1), (M23,)),
    Op("mean dim keepdim", lambda a: a.mean(0, keepdim=True), (M23,)),
    # shape
    Op("view -1", lambda a: a.view(-1), (M23,)),
    Op("reshape alias", lambda a: a.t().reshape(3, 2, 1), (M23,)),
    Op("expand", lambda a: a.expand(2, 3), (ROW,)),
    Op("unsqueeze", lambda a: a.unsqueeze(1), (M23,)),
    Op("squeeze", lambda a: a.squeeze(0), (ROW,)),
    Op("squeeze all", lambda a: a.squeeze(), ((1, 3, 1),)),
    # indexing
    Op("slice step", lambda a: a[:, ::2], (M23,)),
    Op("index both", lambda a: a[1, 1:], (M23,)),
    Op("alias", lambda a: a[...], (M23,)),
    Op("none", lambda a: a[None], (M23,)),
    # in place, on a non-leaf
    Op("view of an edited base", _edited_view, (M23, V3)),
    Op("expanded view of an edited base", _edited_expanded_view, (M23, V3)),
    Op("a leaf's .grad under create_graph", _grad_with_graph, (M23,)),
    Op("sigmoid's gradient, recorded", _sigmoid_gradient, (M23,)),
    Op("mul_ through a view", _through_view("mul_"), (M23, V3)),
    Op("div_ through a view", _through_view("div_"), (M23, V3), (WIDE, POSITIVE)),
    Op("add_", _inplace("add_"), (M23, V3)),
    Op("sub_", _inplace("sub_"), (M23, ROW)),
    Op("mul_", _inplace("mul_"), (M23, V3)),
    Op("div_", _inplace("div_"), (M23, V3), (WIDE, POSITIVE)),
    Op("zero_", lambda a: (a * 1).zero_() + a, (M23,)),
]


# Hypothesis aims at 0, where uniform sampling never lands; torch's pow masks its gradient
# where the exponent is exactly 0, so every table case keeps its inputs 0.05 off 0.
_REFERENCE = resolve_backend("reference")


def _from_table(case: Case) -> Op:
    shapes = " ".join("x".join(map(str, shape)) or "0-d" for shape in case.shapes)
    return Op(
        f"{case.op}: {case.expression} [{shapes}]",
        as_function(_REFERENCE, case.expression, len(case.shapes)),
        case.shapes,
        case.ranges,
        kink=0.0,
        atol=case.atol,
        rtol=case.rtol,
        signed=case.signed,
    )


OPS = [_from_table(case) for case in cases()] + ENGINE_PATHS
assert len({op.name for op in OPS}) == len(OPS), "duplicate op names"


@st.composite
def inputs(draw: Any, op: Op) -> list[np.ndarray]:
    arrays = []
    for i, shape in enumerate(op.shapes):
        low, high = op.domain(i)
        values = st.floats(low, high, allow_nan=False, allow_infinity=False)
        array = draw(hnp.arrays(np.float64, shape, elements=values))
        if op.signed:
            signs = draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([-1.0, 1.0])))
            array = array * signs
        if op.kink is not None:  # push values off the kink, keeping them in the domain
            near = np.abs(array - op.kink) < 0.05
            array = np.where(near, op.kink + np.where(array < op.kink, -0.05, 0.05), array)
        arrays.append(array)
    return arrays


def _leaves(arrays: list[np.ndarray]) -> list[Tensor]:
    return [reference.tensor(a, dtype=reference.float64, requires_grad=True) for a in arrays]


def _dense(grad: Tensor | None, like: np.ndarray) -> np.ndarray:
    return np.zeros_like(like) if grad is None else grad.detach().numpy()


def _weights(op: Op, arrays: list[np.ndarray], seed: int) -> np.ndarray:
    """A random upstream gradient of the output's shape."""
    with reference.no_grad():
        shape = op.fn(*[reference.tensor(a, dtype=reference.float64) for a in arrays]).shape
    return np.random.default_rng(seed).uniform(-1, 1, tuple(shape))


def phi(op: Op, arrays: list[np.ndarray], v: np.ndarray) -> float:
    with reference.no_grad():
        out = op.fn(*[reference.tensor(a, dtype=reference.float64) for a in arrays])
        return float((out * reference.tensor(v)).sum().item())


def first_derivatives(op: Op, arrays: list[np.ndarray], v: np.ndarray) -> list[np.ndarray]:
    """The analytic gradient of ``phi`` for each input, through ``backward``."""
    leaves = _leaves(arrays)
    (op.fn(*leaves) * reference.tensor(v)).sum().backward()
    return [_dense(leaf.grad, a) for leaf, a in zip(leaves, arrays)]


def numerical(fn: Callable[[list[np.ndarray]], float], arrays: list[np.ndarray], h: float) -> list:
    """Central differences of the number ``fn(arrays)`` along every input element."""
    result = []
    for i, array in enumerate(arrays):
        column = np.empty(array.shape)
        for index in np.ndindex(array.shape):
            plus = [a.copy() for a in arrays]
            minus = [a.copy() for a in arrays]
            plus[i][index] += h
            minus[i][index] -= h
            column[index] = (fn(plus) - fn(minus)) / (2 * h)
        result.append(column)
    return result


def assert_close(what: str, op: Op, analytic: np.ndarray, numeric: np.ndarray) -> None:
    assert np.allclose(analytic, numeric, rtol=op.rtol, atol=op.atol), (
        f"{op.name}: {what}\nanalytic {analytic!r}\nnumeric  {numeric!r}"
    )


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_first_derivative_matches_finite_differences(op: Op, data: Any) -> None:
    arrays = data.draw(inputs(op))
    v = _weights(op, arrays, data.draw(st.integers(0, 2**16)))
    analytic = first_derivatives(op, arrays, v)
    numeric = numerical(lambda xs: phi(op, xs, v), arrays, op.h)
    for i, (a, n) in enumerate(zip(analytic, numeric)):
        assert_close(f"d/d input {i}", op, a, n)


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_second_derivative_matches_finite_differences(op: Op, data: Any) -> None:
    arrays = data.draw(inputs(op))
    seed = data.draw(st.integers(0, 2**16))
    v = _weights(op, arrays, seed)
    rng = np.random.default_rng(seed + 1)
    u = [rng.uniform(-1, 1, a.shape) for a in arrays]

    leaves = _leaves(arrays)
    phi_ = (op.fn(*leaves) * reference.tensor(v)).sum()
    grads = reference.autograd.grad(phi_, leaves, create_graph=True, allow_unused=True)
    terms = [(g * reference.tensor(w)).sum() for g, w in zip(grads, u) if g is not None]
    psi = sum(t for t in terms if t.requires_grad)
    if isinstance(psi, Tensor):
        second = reference.autograd.grad(psi, leaves, allow_unused=True)
        analytic = [_dense(g, a) for g, a in zip(second, arrays)]
    else:  # no first derivative depends on the inputs: a linear op
        analytic = [np.zeros_like(a) for a in arrays]

    def first_weighted(xs: list[np.ndarray]) -> float:
        return sum(float(np.sum(g * w)) for g, w in zip(first_derivatives(op, xs, v), u))

    numeric = numerical(first_weighted, arrays, op.h)
    for i, (a, n) in enumerate(zip(analytic, numeric)):
        assert_close(f"second derivative along input {i}", op, a, n)


def test_every_op_class_is_checked() -> None:
    """Each Function subclass with a backward appears in some op above (by node name)."""
    from reference import function

    def subclasses(cls: type) -> set[type]:
        found = set(cls.__subclasses__())
        for sub in list(found):
            found |= subclasses(sub)
        return found

    recorded: set[str] = set()
    for op in OPS:
        leaves = _leaves([np.full(s, 0.75) for s in op.shapes])
        out = op.fn(*leaves)
        phi_ = (out * out).sum()
        grads = reference.autograd.grad(phi_, leaves, create_graph=True, allow_unused=True)
        stack = [out.grad_fn] + [g.grad_fn for g in grads if g is not None]
        seen = set()
        while stack:
            node = stack.pop()
            if node is not None and node not in seen:
                seen.add(node)
                recorded.add(node.node_name)  # torch's name() of CopySlices is namespaced
                stack.extend(n for n, _ in node.next_functions)
    classes = {c.node_name for c in subclasses(function.Function) if c.node_name != "Node"}
    assert classes - recorded == set(), "ops without a gradient check"
