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
from hypothesis import given, settings
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
