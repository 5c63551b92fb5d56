"""Memory layout of elementwise results against torch's.

Whether a later ``view`` works, or ``reshape`` copies (``UnsafeViewBackward0``) or not
(``ViewBackward0``), depends on the strides torch gives a result. Hypothesis draws two operands
made by transposing, slicing and expanding tensors, and the result's strides must be torch's
(dimensions of size 1 aside, whose stride means nothing).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import reference

torch = pytest.importorskip("torch", reason="torch is the oracle for layouts")


@st.composite
def operand(draw: Any, shape: tuple[int, ...]) -> list[tuple[str, Any]]:
    """How to make an operand of ``shape`` (or one that broadcasts to it): a list of steps."""
    steps: list[tuple[str, Any]] = []
    ndim = len(shape)
    target = list(shape)
    if draw(st.booleans()):  # broadcast: some dimensions of size 1, later expanded or not
        for d in range(ndim):
            if draw(st.integers(0, 3)) == 0:
                target[d] = 1
    perm = draw(st.permutations(range(ndim)))
    stored = [target[p] for p in perm]
    step = draw(st.sampled_from([1, 1, 2]))
    stored_big = [s * step if i == ndim - 1 else s for i, s in enumerate(stored)]
    steps.append(("make", tuple(stored_big)))
    if step != 1:
        steps.append(("slice_last", step))
    steps.append(("permute", tuple(int(i) for i in np.argsort(perm))))
    if target != list(shape) and draw(st.booleans()):
        steps.append(("expand", tuple(shape)))
    return steps


def build(lib: Any, steps: list[tuple[str, Any]], data: np.ndarray) -> Any:
    t = None
    for kind, arg in steps:
        if kind == "make":
            t = lib.tensor(data[: int(np.prod(arg))].reshape(arg))
        elif kind == "slice_last":
            t = t[(slice(None),) * (t.dim() - 1) + (slice(None, None, arg),)]
        elif kind == "permute":
            for i, j in _swaps(arg):
                t = t.transpose(i, j)
        elif kind == "expand":
            t = t.expand(*arg)
    return t


def _swaps(perm: tuple[int, ...]) -> list[tuple[int, int]]:
    """Transpositions that apply ``perm`` (reference has transpose, not permute)."""
    current, swaps = list(range(len(perm))), []
    for i, want in enumerate(perm):
        j = current.index(want)
        if j != i:
            current[i], current[j] = current[j], current[i]
            swaps.append((i, j))
    return swaps


def strides(t: Any) -> tuple[int | None, ...]:
    if isinstance(t, torch.Tensor):
        raw = t.stride()
    else:
        raw = tuple(s // t._data.itemsize for s in t._data.strides)
    return tuple(None if n == 1 else s for n, s in zip(t.shape, raw))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(1, 3), min_size=1, max_size=4)
    .map(tuple)
    .flatmap(lambda shape: st.tuples(st.just(shape), operand(shape), operand(shape))),
    st.sampled_from(["add", "mul", "sub"]),
)
# contiguous operands, broadcast, with a size-1 dimension of stride 2: torch's order reads it
@example(
    case=(
        (2, 1, 2, 1),
        [("make", (1, 1, 2, 1)), ("permute", (0, 1, 2, 3))],
        [("make", (1, 1, 1, 2)), ("permute", (3, 0, 1, 2))],
    ),
    op="add",
)
def test_elementwise_results_are_laid_out_as_torch_lays_them_out(case: Any, op: str) -> None:
    shape, left, right = case
    data = np.arange(1, 200, dtype=np.float32)
    results = []
    for lib in (reference, torch):
        a, b = build(lib, left, data), build(lib, right, data)
        results.append(getattr(a, f"__{op}__")(b))
    ours, theirs = results
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert strides(ours) == strides(theirs), (left, right)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(1, 3), min_size=1, max_size=3)
    .map(tuple)
    .flatmap(lambda shape: st.tuples(st.just(shape), operand(shape))),
    st.sampled_from(["mul", "mean", "exp", "square", "broadcast", "twice"]),
)
def test_a_leaf_grad_is_laid_out_as_the_leaf(case: Any, op: str) -> None:
    """torch's gradient layout contract: ``.grad`` takes the leaf's strides when the leaf is
    dense (a permuted block), and is contiguous otherwise (a sliced or expanded leaf)."""
    shape, steps = case
    data = np.arange(1, 200, dtype=np.float32)
    grads = []
    for lib in (reference, torch):
        x = build(lib, steps, data).detach().requires_grad_()
        y = _through(lib, op, x, data)
        y.sum().backward()
        grads.append(x.grad)
    ours, theirs = grads
    assert strides(ours) == strides(theirs), steps
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


def _through(lib: Any, op: str, x: Any, data: np.ndarray) -> Any:
    if op == "mul":
        return x * 2
    if op == "mean":
        return x.mean() + 0 * x
    if op == "exp":
        return x.exp()
    if op == "square":
        return x * x
    if op == "broadcast":
        return x + lib.tensor(data[: x.shape[-1]])
    return x * 3 + x


@settings(max_examples=100, deadline=None)
@given(
    st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)),
    st.booleans(),
    st.booleans(),
)
def test_matmul_grads_of_column_major_operands_are_transposed_views(
    sizes: tuple[int, int, int], a_by_column: bool, b_by_column: bool
) -> None:
    """torch computes a column-major operand's gradient as the transpose of a product: a
    view (seen with ``create_graph``, where it is a ``TBackward0``), laid out by column."""
    n, k, m = sizes
    data = np.arange(1, 50, dtype=np.float32)
    seen = []
    for lib in (reference, torch):
        a = lib.tensor(data[: n * k].reshape(k, n)).t() if a_by_column else None
        a = a if a is not None else lib.tensor(data[: n * k].reshape(n, k))
        b = lib.tensor(data[: k * m].reshape(m, k)).t() if b_by_column else None
        b = b if b is not None else lib.tensor(data[: k * m].reshape(k, m))
        a, b = a.detach().requires_grad_(), b.detach().requires_grad_()
        ga, gb = lib.autograd.grad((a @ b).sum(), (a, b), create_graph=True)
        (a @ b).sum().backward()
        views = tuple(g._is_view() for g in (ga, gb))
        names = (ga.grad_fn.name(), gb.grad_fn.name())
        seen.append((views, names, strides(a.grad), strides(b.grad)))
    assert seen[0] == seen[1]
