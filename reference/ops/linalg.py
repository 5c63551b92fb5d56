"""Matrix products. ``matmul`` picks among them by rank, as torch does."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..function import Function
from ._math import t


class _Product(Function):
    """A bilinear product: each side's gradient needs only the other side."""

    arity = 2

    def saved_inputs(self) -> tuple[int, ...]:
        need_a, need_b = self.needs_input_grad
        return (1,) * need_a + (0,) * need_b

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a @ b


class Mm(_Product):
    """torch computes the gradient of a column-major operand as the transpose of a product,
    so that it comes out column-major too: a view, which ``create_graph`` lets one see."""

    node_name = "MmBackward0"
    column_major: tuple[bool, bool]

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.column_major = (_column_major(a), _column_major(b))
        return a @ b

    def backward(self, g: Any) -> tuple[Any, Any]:
        a, b, _ = self.saved()
        need_a, need_b = self.needs_input_grad
        a_by_column, b_by_column = self.column_major
        grad_a = grad_b = None
        if need_b:  # first, as torch: it orders the nodes a recorded backward makes
            grad_b = t(t(g) @ a) if b_by_column else t(a) @ g
        if need_a:
            grad_a = t(b @ t(g)) if a_by_column else g @ t(b)
        return grad_a, grad_b


def _column_major(m: np.ndarray) -> bool:
    """torch's test, on strides as they are (a size-1 dimension's stride counts too)."""
    return m.strides[0] == m.itemsize and m.strides[1] == m.shape[0] * m.itemsize


class _SelfFirst(_Product):
    """Saves ``self`` before the other operand: torch checks saved tensors for in-place
    changes in the order its node keeps them, and names the first stale one."""

    def saved_inputs(self) -> tuple[int, ...]:
        need_a, need_b = self.needs_input_grad
        return (0,) * need_b + (1,) * need_a


class Mv(_SelfFirst):
    node_name = "MvBackward0"

    def backward(self, g: Any) -> tuple[Any, Any]:
        a, v, _ = self.saved()
        need_a, need_b = self.needs_input_grad
        grad_a = g.reshape(-1, 1) * v if need_a else None  # torch's outer product
        return grad_a, (t(a) @ g if need_b else None)


class Dot(_SelfFirst):
    node_name = "DotBackward0"

    def backward(self, g: Any) -> tuple[Any, Any]:
        a, b, _ = self.saved()
        need_a, need_b = self.needs_input_grad
        return (g * b if need_a else None), (g * a if need_b else None)
