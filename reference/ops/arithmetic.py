"""Elementwise binary ops. Broadcasting is undone by the engine, not here."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..function import Function
from ._math import is_array, log, raw, zero_scalar


class Add(Function):
    arity = 2
    node_name = "AddBackward0"

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a + b

    def backward(self, g: Any) -> tuple[Any, Any]:
        return g, g


class Sub(Function):
    arity = 2
    node_name = "SubBackward0"

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a - b

    def backward(self, g: Any) -> tuple[Any, Any]:
        return g, (-g if self.needs_input_grad[1] else None)


class Rsub(Function):
    """``scalar - tensor``: torch records it as its own node, with one edge."""

    node_name = "RsubBackward1"

    def forward(self, a: np.ndarray, scalar: np.ndarray) -> np.ndarray:
        return scalar - a

    def backward(self, g: Any) -> Any:
        return -g


class Mul(Function):
    arity = 2
    node_name = "MulBackward0"

    def saved_inputs(self) -> tuple[int, ...]:
        need_a, need_b = self.needs_input_grad
        return (1,) * need_a + (0,) * need_b

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a * b

    def backward(self, g: Any) -> tuple[Any, Any]:
        a, b, _ = self.saved()
        need_a, need_b = self.needs_input_grad
        if need_b and need_a and a is b and is_array(g):
            product = g * b  # x * x: the same product twice, computed once
            return product, product
        # torch's order, which orders the nodes a recorded backward makes: the second
        # operand's gradient first; and x * x's two products are two nodes
        grad_b = g * a if need_b else None
        return (g * b if need_a else None), grad_b


class MulScalar(Function):
    """A tensor times a number inside a recorded backward formula, where torch multiplies by
    a Scalar (``MulBackward1``); ``tensor * number`` from Python is ``MulBackward0``."""

    node_name = "MulBackward1"

    def forward(self, a: np.ndarray, number: float) -> np.ndarray:
        self.number = number
        return a * number

    def backward(self, g: Any) -> Any:
        return scale(g, self.number)


def scale(x: Any, number: float) -> Any:
    """``x * number`` as torch's formulas record it."""
    return x * number if is_array(x) else MulScalar.apply(x, number)


class AddScalar(Function):
    """A tensor plus a number inside a recorded backward formula (``AddBackward1``)."""

    node_name = "AddBackward1"

    def forward(self, a: np.ndarray, number: float) -> np.ndarray:
        return a + number

    def backward(self, g: Any) -> Any:
        return g


def shift(x: Any, number: float) -> Any:
    """``x + number`` as torch's formulas record it."""
    return x + number if is_array(x) else AddScalar.apply(x, number)


class SubScalar(Function):
    """A tensor minus a number inside a recorded backward formula (``SubBackward1``)."""

    node_name = "SubBackward1"

    def forward(self, a: np.ndarray, number: float) -> np.ndarray:
        return a - number

    def backward(self, g: Any) -> Any:
        return g


def minus(x: Any, number: float) -> Any:
    """``x - number`` as torch's formulas record it."""
    return x - number if is_array(x) else SubScalar.apply(x, number)


class Where(Function):
    """``where(condition, a, b)``, as torch's formulas use it to mask a gradient; the
    condition is a constant array, not an input."""

    arity = 2
    node_name = "WhereBackward0"

    def forward(self, a: np.ndarray, b: np.ndarray, condition: np.ndarray) -> np.ndarray:
        self.condition = condition
        return np.where(condition, a, b)

    def backward(self, g: Any) -> tuple[Any, Any]:
        need_a, need_b = self.needs_input_grad
        zero = zero_scalar(g)
        grad_b = where(self.condition, zero, g) if need_b else None
        return (where(self.condition, g, zero) if need_a else None), grad_b


def where(condition: np.ndarray, a: Any, b: Any) -> Any:
    """``where(condition, a, b)`` as torch's formulas record it."""
    if is_array(a) and is_array(b):
        return np.where(condition, a, b)
    return Where.apply(a, b, condition)


class DivScalar(Function):
    """A tensor divided by a number inside a recorded backward formula (``DivBackward1``)."""

    node_name = "DivBackward1"

    def forward(self, a: np.ndarray, number: float) -> np.ndarray:
        self.number = number
        return a / number

    def backward(self, g: Any) -> Any:
        return divide(g, self.number)


def divide(x: Any, number: float) -> Any:
    """``x / number`` as torch's formulas record it."""
    return x / number if is_array(x) else DivScalar.apply(x, number)


class Div(Function):
    arity = 2
    node_name = "DivBackward0"

    def saved_inputs(self) -> tuple[int, ...]:
        need_a, need_b = self.needs_input_grad
        return (1,) + (0,) * need_b

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a / b

    def backward(self, g: Any) -> tuple[Any, Any]:
        a, b, _ = self.saved()
        need_a, need_b = self.needs_input_grad
        grad_b = -g * ((a / b) / b) if need_b else None  # first, as torch (see Mul)
        return (g / b if need_a else None), grad_b


class Pow(Function):
    """``tensor ** number``."""

    node_name = "PowBackward0"
    saves = (0,)

    def forward(self, a: np.ndarray, exponent: float) -> np.ndarray:
        self.exponent = exponent
        if a.dtype.kind != "f" and isinstance(exponent, int) and exponent < 0:
            raise RuntimeError("Integers to negative integer powers are not allowed.")
        return a**exponent

    def backward(self, g: Any) -> Any:
        a, _ = self.saved()
        p = self.exponent
        if p == 0:
            return g * 0
        return g * scale(a ** (p - 1), p)  # torch's order: the power, then the exponent


class PowTensor(Function):
    """``tensor ** tensor``."""

    arity = 2
    node_name = "PowBackward1"
    save_result = True
    saves = (1, 0)  # the exponent first, the order torch checks them in

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a**b

    def backward(self, g: Any) -> tuple[Any, Any]:
        """Torch's formulas, masks and all: d/da is 0 where b == 0, d/db is 0 where a == 0
        and b >= 0 (``where`` picks a zero there; the formula's inf or nan is not used)."""
        a, b, result = self.saved()
        need_a, need_b = self.needs_input_grad
        a_, b_ = raw(a), raw(b)
        grad_a = grad_b = None
        if need_b:  # first, as torch (see Mul)
            masked = (a_ == 0) & (b_ >= 0)
            grad_b = g * where(masked, zero_scalar(g), result * log(a))
        if need_a:
            grad_a = where(b_ == 0, zero_scalar(g), g * (b * a ** minus(b, 1)))
        return grad_a, grad_b


class RPow(Function):
    """``number ** tensor``."""

    node_name = "PowBackward2"
    saves = (0,)  # torch keeps the exponent too (for its mask where the base is 0)
    save_result = True

    def forward(self, a: np.ndarray, base: float) -> np.ndarray:
        self.zero_base = base == 0
        self.log_base = math.log(base) if base > 0 else -math.inf if base == 0 else math.nan
        out = np.power(base, a, dtype=a.dtype) if a.dtype.kind == "f" else base**a
        # torch's result is contiguous whatever the exponent's layout
        return out if out.flags.c_contiguous else out.copy(order="C")

    def backward(self, g: Any) -> Any:
        """``result * log(base)``, in torch's order; at a zero base torch masks it: 0 where
        the exponent is >= 0 (where the formula gives nan), ``result * -inf`` elsewhere."""
        exponent, result = self.saved()
        if self.zero_base:
            masked = raw(exponent) >= 0
            return g * where(masked, zero_scalar(g), scale(result, self.log_base))
        return g * scale(result, self.log_base)
