"""Module-level functions: creation, math, and ``matmul``'s choice of product."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from . import dtypes
from .dtypes import dtype as DType
from .ops import linalg, shape
from .tensor import Tensor

_generator = np.random.default_rng(0)


def manual_seed(seed: int) -> None:
    """Seed ``randn``. The stream differs from torch's: the harness feeds identical data."""
    global _generator
    _generator = np.random.default_rng(seed)


def _infer_dtype(array: np.ndarray) -> np.dtype:
    kind = array.dtype.kind
    if kind == "f":
        return array.dtype
    if kind == "b":
        return np.dtype(np.bool_)
    if kind in "iu":
        return np.dtype(np.int64) if array.dtype.itemsize > 4 else array.dtype
    raise TypeError(f"can't convert data of type {array.dtype} to a tensor")


def tensor(data: Any, dtype: DType | None = None, requires_grad: bool = False) -> Tensor:
    """A new leaf holding a copy of ``data``."""
    if isinstance(data, Tensor):
        warnings.warn(
            "To copy construct from a tensor, it is recommended to use sourceTensor.detach()."
            "clone() or sourceTensor.detach().clone().requires_grad_(True), rather than "
            "torch.tensor(sourceTensor).",
            UserWarning,
            stacklevel=2,
        )
        data = data._data
    if isinstance(data, np.ndarray):
        array = np.array(data, copy=True)
        target = dtype.np if dtype is not None else _infer_dtype(array)
    else:
        array = np.array(data)
        if dtype is not None:
            target = dtype.np
        elif array.dtype.kind == "f":  # Python floats become the default float, not float64
            target = dtypes.DEFAULT_FLOAT.np
        elif array.dtype.kind in "iu":
            target = np.dtype(np.int64)
        else:
            target = _infer_dtype(array)
    array = array.astype(target, copy=False)
    if requires_grad and array.dtype.kind != "f":
        raise RuntimeError("Only Tensors of floating point and complex dtype can require gradients")
    return Tensor(array, requires_grad)


def _sizes(size: tuple[Any, ...]) -> tuple[int, ...]:
    if not size:  # torch.ones(()) is a 0-d tensor; torch.ones() is an error
        raise TypeError('missing 1 required positional arguments: "size"')
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    return tuple(int(s) for s in size)


def _filled(fill: Any, size: tuple[int, ...], dtype: DType | None, requires_grad: bool) -> Tensor:
    target = (dtype or dtypes.DEFAULT_FLOAT).np
    if requires_grad and target.kind != "f":
        raise RuntimeError("Only Tensors of floating point and complex dtype can require gradients")
    return Tensor(fill(size, dtype=target), requires_grad)


def ones(*size: Any, dtype: DType | None = None, requires_grad: bool = False) -> Tensor:
    return _filled(np.ones, _sizes(size), dtype, requires_grad)


def zeros(*size: Any, dtype: DType | None = None, requires_grad: bool = False) -> Tensor:
    return _filled(np.zeros, _sizes(size), dtype, requires_grad)


def _like(value: int, t: Tensor) -> Any:
    """A filler that keeps ``t``'s memory layout, as torch's ``*_like`` does for a dense
    tensor (a transposed one stays transposed, so a later ``view`` behaves the same)."""

    def fill(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        return np.full_like(t._data, value, dtype=dtype)

    return fill


def ones_like(t: Tensor, dtype: DType | None = None, requires_grad: bool = False) -> Tensor:
    return _filled(_like(1, t), t._data.shape, dtype or t.dtype, requires_grad)


def zeros_like(t: Tensor, dtype: DType | None = None, requires_grad: bool = False) -> Tensor:
    return _filled(_like(0, t), t._data.shape, dtype or t.dtype, requires_grad)


def randn(*size: Any, dtype: DType | None = None, requires_grad: bool = False) -> Tensor:
    def fill(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        return _generator.standard_normal(shape).astype(dtype)

    return _filled(fill, _sizes(size), dtype, requires_grad)


def rand(*size: Any, dtype: DType | None = None, requires_grad: bool = False) -> Tensor:
    def fill(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        return _generator.random(shape).astype(dtype)

    return _filled(fill, _sizes(size), dtype, requires_grad)


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Dot, matrix-vector, vector-matrix or matrix product, recorded as torch records them."""
    ranks = (a._data.ndim, b._data.ndim)
    sa, sb = a._data.shape, b._data.shape
    if ranks == (1, 1):
        _same_dtype(a, b, "dot : expected both vectors to have same dtype, but found {a} and {b}")
        if sa != sb:
            raise RuntimeError(
                f"inconsistent tensor size, expected tensor [{sa[0]}] and src [{sb[0]}] to have "
                f"the same number of elements, but got {sa[0]} and {sb[0]} elements respectively"
            )
        return linalg.Dot.apply(a, b)
    if ranks == (2, 1):
        _same_dtype(a, b, "addmv input tensors must have the same dtype, but got {b}, {a}, and {b}")
        if sa[1] != sb[0]:
            raise RuntimeError(
                f"size mismatch, got input ({sa[0]}), mat ({sa[0]}x{sa[1]}), vec ({sb[0]})"
            )
        return linalg.Mv.apply(a, b)
    if ranks == (1, 2):  # torch squeezes the product in place: the result is not a view
        return shape.SqueezeInPlace.apply(matmul(a.unsqueeze(0), b), 0)
    if ranks == (2, 2):
        _same_dtype(a, b, "expected m1 and m2 to have the same dtype, but got: {a_} != {b_}")
        if sa[1] != sb[0]:
            raise RuntimeError(
                f"mat1 and mat2 shapes cannot be multiplied ({sa[0]}x{sa[1]} and {sb[0]}x{sb[1]})"
            )
        return linalg.Mm.apply(a, b)
    raise NotImplementedError(
        f"reference implements matmul for 1-D and 2-D operands only, got {ranks[0]}-D and "
        f"{ranks[1]}-D"
    )


_NAMES = {"float32": ("Float", "float"), "float64": ("Double", "double")}
_NAMES.update(int64=("Long", "long int"), int32=("Int", "int"), bool=("Bool", "bool"))


def _same_dtype(a: Tensor, b: Tensor, message: str) -> None:
    """Torch's dtype error for a product, with its names: {a} is "Float", {a_} is "float"."""
    if a._data.dtype != b._data.dtype:
        (na, na_), (nb, nb_) = _NAMES[a.dtype.name], _NAMES[b.dtype.name]
        raise RuntimeError(message.format(a=na, b=nb, a_=na_, b_=nb_))


def exp(t: Tensor) -> Tensor:
    return t.exp()


def log(t: Tensor) -> Tensor:
    return t.log()


def tanh(t: Tensor) -> Tensor:
    return t.tanh()


def sigmoid(t: Tensor) -> Tensor:
    return t.sigmoid()


def relu(t: Tensor) -> Tensor:
    return t.relu()


def sum(t: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    return t.sum(dim, keepdim)


def mean(t: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    return t.mean(dim, keepdim)


def pow(t: Tensor, exponent: Any) -> Tensor:  # noqa: A001
    return t**exponent


def is_tensor(obj: Any) -> bool:
    return isinstance(obj, Tensor)
