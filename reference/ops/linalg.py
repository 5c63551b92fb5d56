"""Matrix products. ``matmul`` picks among them by rank, as torch does."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..function import Function


class _Product(Function):
    """A bilinear product: each side's gradient needs only the other side."""

    arity = 2

    def saved_inputs(self) -> tuple[int, ...]:
        need_a, need_b = self.needs_input_grad
        return (1,) * need_a + (0,) * need_b

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a @ b


class Mm(_Product):
    node_name = "MmBackward0"

    def backward(self, g: Any) -> tuple[Any, Any]:
        a, b, _ = self.saved()
        need_a, need_b = self.needs_input_grad
        return (g @ b.T if need_a else None), (a.T @ g if need_b else None)


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
        grad_a = g.reshape(-1, 1) @ v.reshape(1, -1) if need_a else None
        return grad_a, (a.T @ g if need_b else None)


class Dot(_SelfFirst):
    node_name = "DotBackward0"

    def backward(self, g: Any) -> tuple[Any, Any]:
        a, b, _ = self.saved()
        need_a, need_b = self.needs_input_grad
        return (g * b if need_a else None), (g * a if need_b else None)
