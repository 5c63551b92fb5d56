"""Dtypes with torch's names, and torch's type-promotion rule.

Numpy does the arithmetic, but its promotion differs from torch's for Python scalars, 0-d
arrays and integer division, so the engine decides result dtypes here, in one place.
"""

from __future__ import annotations

import numpy as np


class dtype:  # noqa: N801 - spelled like torch.dtype
    """A tensor element type; prints as ``torch.float32``."""

    __slots__ = ("name", "np", "is_floating_point", "category")

    def __init__(self, name: str, np_dtype: type, category: int) -> None:
        self.name = name
        self.np = np.dtype(np_dtype)
        self.category = category  # 0 bool, 1 integer, 2 floating
        self.is_floating_point = category == 2

    def __repr__(self) -> str:
        return f"torch.{self.name}"

    def __reduce__(self) -> str:
        return self.name


bool_ = dtype("bool", np.bool_, 0)
int32 = dtype("int32", np.int32, 1)
int64 = dtype("int64", np.int64, 1)
float32 = dtype("float32", np.float32, 2)
float64 = dtype("float64", np.float64, 2)

DEFAULT_FLOAT = float32
_BY_NUMPY = {d.np: d for d in (bool_, int32, int64, float32, float64)}


def from_numpy(np_dtype: np.dtype) -> dtype:
    """The engine dtype for a numpy dtype; other numpy types are a clear error."""
    try:
        return _BY_NUMPY[np_dtype]
    except KeyError:
        raise TypeError(f"reference does not support numpy dtype {np_dtype}") from None


def of_scalar(value: object) -> dtype:
    """The dtype torch gives a Python scalar: bool, int64 or the default float."""
    if isinstance(value, (bool, np.bool_)):
        return bool_
    if isinstance(value, (int, np.integer)):
        return int64
    if isinstance(value, (float, np.floating)):
        return DEFAULT_FLOAT
    raise TypeError(f"unsupported operand type: {type(value).__name__}")


def promote(operands: list[tuple[dtype, int]]) -> dtype:
    """Torch's promotion over ``(dtype, tier)`` pairs.

    Tier 0 is a tensor with dimensions, 1 a 0-d tensor, 2 a Python scalar. The highest
    category wins; within it, the operands of the most dimensioned tier decide, and the
    widest of those is the result. So ``float32 tensor * 2.5`` stays float32, while an int
    tensor times a float scalar becomes the default float.
    """
    category = max(d.category for d, _ in operands)
    best_tier = min(tier for d, tier in operands if d.category == category)
    winners = [d for d, tier in operands if d.category == category and tier == best_tier]
    if best_tier == 2:  # only Python scalars carry the category: their default dtype
        return winners[0]
    return max(winners, key=lambda d: d.np.itemsize)
