"""Reductions. Their backward spreads the gradient back over the reduced dimensions."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..function import Function
from ._math import everywhere, expand, is_array, keepdim_shape, normalize_dims
from .arithmetic import divide


class Sum(Function):
    """``sum()`` over everything."""

    node_name = "SumBackward0"
    by_dim = False  # sum(dim): its recorded gradient unsqueezes each reduced dimension

    def forward(self, a: np.ndarray, dims: tuple[int, ...], keepdim: bool) -> np.ndarray:
        self.shape, self.dims, self.keepdim = a.shape, dims, keepdim
        out = _dense(a.sum(axis=dims, keepdims=keepdim))
        return out if a.dtype.kind == "f" else out.astype(np.int64)

    def backward(self, g: Any) -> Any:
        return _spread(g, self.shape, self.dims, self.keepdim, by_dim=self.by_dim)


class SumDim(Sum):
    """``sum(dim)``: the same maths, a different torch overload and node name."""

    node_name = "SumBackward1"
    by_dim = True


class Mean(Function):
    node_name = "MeanBackward0"
    by_dim = False

    def forward(self, a: np.ndarray, dims: tuple[int, ...], keepdim: bool) -> np.ndarray:
        self.shape, self.dims, self.keepdim = a.shape, dims, keepdim
        # what ndarray.mean does, without its Python overhead on small arrays
        if len(dims) == a.ndim and not keepdim:  # everything, the common case
            self.count = a.size
            total = np.add.reduce(a, axis=None)
        else:
            self.count = math.prod([a.shape[d] for d in dims])
            total = np.add.reduce(a, axis=dims, keepdims=keepdim)  # type: ignore[call-overload]
        if self.count == 0:  # torch's mean of nothing is nan, without numpy's warning
            return np.full_like(total, np.nan)
        if total.__class__ is np.ndarray:
            total = _dense(total)
            return np.true_divide(total, self.count, out=total)
        return total / self.count  # a numpy scalar of total's dtype (numpy 2's promotion)

    def backward(self, g: Any) -> Any:
        return _spread(
            g, self.shape, self.dims, self.keepdim, self.count, self.by_dim, divided=True
        )


class MeanDim(Mean):
    node_name = "MeanBackward1"
    by_dim = True


def _dense(out: Any) -> Any:
    """Torch lays a reduction's result out row-major; numpy may keep the input's order (a
    transposed input summed over a size-1 dimension), and a later ``view`` depends on it."""
    if out.__class__ is np.ndarray and not out.flags.c_contiguous:
        return np.ascontiguousarray(out)
    return out


_FILLED = 1024  # elements: up to this size a full mean's gradient is a filled array


def _spread(
    g: Any,
    shape: tuple[int, ...],
    dims: tuple[int, ...],
    keepdim: bool,
    count: int = 1,
    by_dim: bool = False,
    divided: bool = False,
) -> Any:
    """A reduction's gradient (divided by ``count``, for a mean), broadcast back over the
    dimensions it reduced. Torch's is an expanded view of ``g`` for a sum, which an in-place
    op (by a hook) that reads it refuses and ``zero_()`` writes through, and a new tensor for a
    mean (``divided``), which a hook may edit."""
    if g.__class__ is np.ndarray and g.size == 1:  # the same everywhere (a full reduction)
        if not divided:  # a sum's: g itself at every index, as torch's expanded view
            return np.ndarray(shape, g.dtype, g, 0, (0,) * len(shape))
        # dividing the scalar is faster than the array
        value = (g[()] if g.ndim == 0 else g.reshape(())[()]) / count
        if math.prod(shape) <= _FILLED:
            # a small mean's, filled: numpy's loops over a stride-0 operand (below) cost the
            # next op more than the fill
            dense = np.empty(shape, value.dtype)
            dense.fill(value)
            return dense
        # a large mean's, never written out unless a hook or a caller is to see it: on the
        # 1000x1000 chain writing it costs a tenth of the step
        return everywhere(value, shape)
    if is_array(g):
        if count != 1:
            g = g / count
        if not keepdim:
            g = g.reshape(keepdim_shape(shape, dims))
        if divided:  # a mean's: a new array
            dense = np.empty(shape, g.dtype)
            np.copyto(dense, g)
            return dense
        return expand(g, shape)
    # recorded (create_graph) as torch records it: sum(dim) and mean(dim) unsqueeze each
    # reduced dimension back, sum() and mean() expand the 0-d gradient at once; a mean
    # then divides by a Scalar, even by 1: its gradient is a new tensor, never a view
    if not keepdim and by_dim:
        for d in dims:
            g = g.unsqueeze(d)
    g = g.expand(shape)
    return divide(g, count) if divided else g


# every dimension of an n-d array (numpy allows 64), made once: ``tuple(range(n))`` on each
# full reduction is a few percent of a small graph's step
_EVERY_DIM = [tuple(range(n)) for n in range(65)]


def reduce(op: str, a: Any, dim: Any, keepdim: bool) -> Any:
    """Pick the overload torch would record for ``sum``/``mean`` with this ``dim``."""
    data = a._data
    if dim is None and data.dtype.kind == "f":  # everything, the common case
        return (Sum if op == "sum" else Mean).apply(a, _EVERY_DIM[data.ndim], False)
    dims = normalize_dims(dim, data.ndim)
    if data.ndim == 0:
        dims = ()  # a 0-d tensor accepts dim 0 or -1, and has nothing to reduce
    if op == "mean" and data.dtype.kind != "f":
        name = {"int64": "Long", "int32": "Int", "bool": "Bool"}[a.dtype.name]
        raise RuntimeError(
            "mean(): could not infer output dtype. Input dtype must be either a floating point "
            f"or complex dtype. Got: {name}"
        )
    if dim is None:
        return (Sum if op == "sum" else Mean).apply(a, dims, False)
    return (SumDim if op == "sum" else MeanDim).apply(a, dims, keepdim)
