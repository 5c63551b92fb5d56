"""Helpers that backward formulas use on arrays and on tensors alike."""

from __future__ import annotations

from typing import Any

import numpy as np


def is_array(x: Any) -> bool:
    """An array (or the scalar numpy makes of 0-d arithmetic), as opposed to a tensor."""
    return isinstance(x, (np.ndarray, np.generic))


def raw(x: Any) -> np.ndarray:
    """The array behind a saved value, for masks that are constants in any case."""
    return x if is_array(x) else x._data


def dense(a: np.ndarray) -> bool:
    """Whether ``a``'s elements fill a block of memory, each once (torch's
    ``is_non_overlapping_and_dense``)."""
    expected = a.itemsize
    for stride, size in sorted((abs(st), n) for n, st in zip(a.shape, a.strides) if n != 1):
        if stride != expected:
            return False
        expected *= size
    return True


def broadcast_strides(a: np.ndarray, shape: tuple[int, ...]) -> tuple[int, ...]:
    """``a``'s strides seen from ``shape``, as torch sees them: 0 where ``a`` is broadcast,
    its own stride elsewhere, even along a size-1 dimension (numpy would say 0 there too)."""
    lead = len(shape) - a.ndim
    return (0,) * lead + tuple(
        0 if n == 1 and shape[lead + i] != 1 else st
        for i, (n, st) in enumerate(zip(a.shape, a.strides))
    )


def zeros_like(g: Any) -> Any:
    """A zero gradient that is a constant, for an array or a tensor alike."""
    if is_array(g):
        return np.zeros_like(g)
    from ..tensor import Tensor

    return Tensor(np.zeros_like(g._data))


def zero_scalar(like: Any) -> Any:
    """A 0-d zero of ``like``'s dtype: torch's ``at::zeros({}, grad.options())``."""
    if is_array(like):
        return np.zeros((), like.dtype)
    from ..tensor import Tensor

    return Tensor(np.zeros((), like._data.dtype))


def expand(g: Any, shape: tuple[int, ...]) -> Any:
    """Broadcast ``g`` to ``shape``: a view, as torch's ``expand`` is, so ``zero_()`` on it
    writes into ``g`` while an in-place op that reads it is refused (``_check_overlap``)."""
    if not is_array(g):
        return g.expand(*shape)
    if g.__class__ is not np.ndarray:  # a numpy scalar, which nothing can write into
        return np.broadcast_to(g, shape)
    strides = broadcast_strides(g, shape)
    return np.lib.stride_tricks.as_strided(g, shape, strides, writeable=g.flags.writeable)


class _OneValue(np.ndarray):
    """The memory behind ``everywhere``'s views, so that they can be told apart."""


def everywhere(value: Any, shape: tuple[int, ...]) -> np.ndarray:
    """``value`` at every index of ``shape``, never written out: a read-only view with
    stride 0 over one element. Where torch's tensor is a new one, that a hook may edit in
    place, the engine writes it out first (``written``)."""
    one = _OneValue((), value.dtype)
    one[()] = value
    one.flags.writeable = False
    return np.ndarray(shape, value.dtype, one, 0, (0,) * len(shape))


def written(g: Any) -> Any:
    """``g`` written out as a new array if it is one of ``everywhere``'s views, or a view of
    one (a reshape keeps its own view as its base)."""
    base = g.base if g.__class__ is np.ndarray else None
    while base.__class__ is np.ndarray:
        base = base.base
    return g.copy() if base.__class__ is _OneValue else g


def t(m: Any) -> Any:
    """A matrix's transpose, recorded as torch's formulas record it (``TBackward0``)."""
    return m.T if is_array(m) else m.t()


def swap(g: Any, d0: int, d1: int) -> Any:
    return g.swapaxes(d0, d1) if is_array(g) else g.transpose(d0, d1)


def log(x: Any) -> Any:
    return np.log(x) if is_array(x) else x.log()


def keepdim_shape(shape: tuple[int, ...], dims: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


def normalize_dims(dim: Any, ndim: int) -> tuple[int, ...]:
    """``dim`` as a sorted tuple of non-negative axes; None means all of them."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    rank = max(ndim, 1)
    out = []
    for d in dims:
        if not -rank <= d < rank:
            raise IndexError(
                f"Dimension out of range (expected to be in range of [{-rank}, {rank - 1}], "
                f"but got {d})"
            )
        out.append(d % rank)
    return tuple(sorted(set(out)))
