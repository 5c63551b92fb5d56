"""Reductions. Their backward spreads the gradient back over the reduced dimensions."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..function import Function
from ._math import expand, keepdim_shape, normalize_dims


class Sum(Function):
    """``sum()`` over everything."""

    node_name = "SumBackward0"

    def forward(self, a: np.ndarray, dims: tuple[int, ...], keepdim: bool) -> np.ndarray:
        self.shape, self.dims, self.keepdim = a.shape, dims, keepdim
        out = a.sum(axis=dims, keepdims=keepdim)
        return out if a.dtype.kind == "f" else out.astype(np.int64)

    def backward(self, g: Any) -> Any:
        if not self.keepdim:
            g = g.reshape(keepdim_shape(self.shape, self.dims))
        return expand(g, self.shape)


class SumDim(Sum):
    """``sum(dim)``: the same maths, a different torch overload and node name."""

    node_name = "SumBackward1"


class Mean(Function):
    node_name = "MeanBackward0"

    def forward(self, a: np.ndarray, dims: tuple[int, ...], keepdim: bool) -> np.ndarray:
        self.shape, self.dims, self.keepdim = a.shape, dims, keepdim
        self.count = int(np.prod([a.shape[d] for d in dims], dtype=np.int64))
        return a.mean(axis=dims, keepdims=keepdim, dtype=a.dtype)

    def backward(self, g: Any) -> Any:
        if not self.keepdim:
            g = g.reshape(keepdim_shape(self.shape, self.dims))
        return expand(g / self.count, self.shape)


class MeanDim(Mean):
    node_name = "MeanBackward1"


def reduce(op: str, a: Any, dim: Any, keepdim: bool) -> Any:
    """Pick the overload torch would record for ``sum``/``mean`` with this ``dim``."""
    dims = normalize_dims(dim, a._data.ndim)
    if a._data.ndim == 0:
        dims = ()  # a 0-d tensor accepts dim 0 or -1, and has nothing to reduce
    if op == "mean" and a._data.dtype.kind != "f":
        name = {"int64": "Long", "int32": "Int", "bool": "Bool"}[a.dtype.name]
        raise RuntimeError(
            "mean(): could not infer output dtype. Input dtype must be either a floating point "
            f"or complex dtype. Got: {name}"
        )
    if dim is None:
        return (Sum if op == "sum" else Mean).apply(a, dims, False)
    return (SumDim if op == "sum" else MeanDim).apply(a, dims, keepdim)
