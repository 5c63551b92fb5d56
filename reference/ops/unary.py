"""Elementwise unary ops."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from ..function import Function
from ._math import dense, is_array, zeros_like
from .arithmetic import scale, shift


class Neg(Function):
    node_name = "NegBackward0"

    def forward(self, a: np.ndarray) -> np.ndarray:
        return -a

    def backward(self, g: Any) -> Any:
        return -g


class Exp(Function):
    node_name = "ExpBackward0"
    save_result = True

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.exp(a)

    def backward(self, g: Any) -> Any:
        _, result = self.saved()
        return g * result


class Log(Function):
    node_name = "LogBackward0"
    saves = (0,)

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.log(a)

    def backward(self, g: Any) -> Any:
        a, _ = self.saved()
        return g / a


class Tanh(Function):
    node_name = "TanhBackward0"
    save_result = True

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.tanh(a)

    def backward(self, g: Any) -> Any:
        _, result = self.saved()
        return tanh_grad(g, result)


class TanhGrad(Function):
    """Tanh's gradient ``g * (1 - y * y)`` as one recorded node, as torch records it."""

    arity = 2
    node_name = "TanhBackwardBackward0"
    saves = (0, 1)

    def forward(self, g: np.ndarray, y: np.ndarray) -> np.ndarray:
        return tanh_grad(g, y)

    def backward(self, gg: Any) -> tuple[Any, Any]:
        g, y, _ = self.saved()
        need_g, need_y = self.needs_input_grad
        return (tanh_grad(gg, y) if need_g else None), (gg * (scale(y, -2) * g) if need_y else None)


def tanh_grad(g: Any, y: Any) -> Any:
    """Tanh's gradient from its result: computed on arrays, one recorded node on tensors."""
    return g * (1 - y * y) if is_array(g) else TanhGrad.apply(g, y)


class Sigmoid(Function):
    node_name = "SigmoidBackward0"
    save_result = True

    def forward(self, a: np.ndarray) -> np.ndarray:
        # split by sign so that neither branch overflows
        out = np.empty_like(a)
        pos = a >= 0
        out[pos] = 1 / (1 + np.exp(-a[pos]))
        e = np.exp(a[~pos])
        out[~pos] = e / (1 + e)
        return out

    def backward(self, g: Any) -> Any:
        _, result = self.saved()
        return sigmoid_grad(g, result)


class SigmoidGrad(Function):
    """Sigmoid's gradient ``g * y * (1 - y)`` as one recorded node, as torch records it."""

    arity = 2
    node_name = "SigmoidBackwardBackward0"
    saves = (0, 1)

    def forward(self, g: np.ndarray, y: np.ndarray) -> np.ndarray:
        return sigmoid_grad(g, y)

    def backward(self, gg: Any) -> tuple[Any, Any]:
        g, y, _ = self.saved()
        need_g, need_y = self.needs_input_grad
        grad_g = sigmoid_grad(gg, y) if need_g else None
        return grad_g, (gg * g * shift(scale(y, -2), 1) if need_y else None)


def sigmoid_grad(g: Any, y: Any) -> Any:
    """Sigmoid's gradient from its result: computed on arrays, one recorded node on tensors."""
    return g * y * (1 - y) if is_array(g) else SigmoidGrad.apply(g, y)


class Relu(Function):
    node_name = "ReluBackward0"
    save_result = True

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.maximum(a, 0, dtype=a.dtype)

    def backward(self, g: Any) -> Any:
        _, result = self.saved()
        return _relu_grad(g, result)


def _relu_grad(g: Any, result: Any) -> Any:
    if is_array(result):
        return g * (result > 0).astype(result.dtype)
    return ReluBackward.apply(g, result)  # create_graph: the result is an input, as in torch


class ReluBackward(Function):
    """Relu's backward, recorded under ``create_graph``: ``g`` where the result is positive.

    Its gradient with respect to the result is zero, but the result is an input, so the
    derivative requires grad exactly when torch's does.
    """

    arity = 2
    node_name = "ThresholdBackwardBackward0"
    saves = (1,)

    def forward(self, g: np.ndarray, result: np.ndarray) -> np.ndarray:
        return g * (result > 0).astype(g.dtype)

    def backward(self, gg: Any) -> tuple[Any, Any]:
        _, result, _ = self.saved()
        need_g, need_result = self.needs_input_grad
        grad_g = _relu_grad(gg, result) if need_g else None
        return grad_g, (zeros_like(gg) if need_result else None)


class Reciprocal(Function):
    node_name = "ReciprocalBackward0"
    save_result = True

    def forward(self, a: np.ndarray) -> np.ndarray:
        return 1 / a

    def backward(self, g: Any) -> Any:
        _, result = self.saved()
        return -g * (result * result)


class ToCopy(Function):
    """A dtype conversion; the gradient goes back in the input's dtype (the engine casts)."""

    node_name = "ToCopyBackward0"

    def forward(self, a: np.ndarray, np_dtype: np.dtype) -> np.ndarray:
        return a.astype(np_dtype)

    def backward(self, g: Any) -> Any:
        return g


class Clone(Function):
    """A copy; in torch's default ``preserve_format`` it keeps a transposed layout."""

    node_name = "CloneBackward0"

    def forward(self, a: np.ndarray, order: Literal["K", "C"] = "K") -> np.ndarray:
        return a.copy(order=order if dense(a) else "C")  # an expanded input: row-major

    def backward(self, g: Any) -> Any:
        return g


class CopyInto(Function):
    """``dest.copy_(src)`` into a new ``dest``: how torch's AccumulateGrad makes a leaf's
    first ``.grad`` under ``create_graph``, laid out as the leaf, and how a recorded
    ``CopySlices`` backward writes into the slice of its result. What ``dest`` held no
    longer matters: its gradient is zeros, a constant."""

    arity = 2
    node_name = "CopyBackwards"

    def name(self) -> str:
        return "torch::autograd::CopyBackwards"

    def forward(self, dest: np.ndarray, src: np.ndarray) -> np.ndarray:
        out = np.empty_like(dest)  # order "K": the destination's strides
        np.copyto(out, src, casting="unsafe")
        return out

    def backward(self, g: Any) -> tuple[Any, Any]:
        return (zeros_like(g) if self.needs_input_grad[0] else None), g


class Zero(Function):
    """``zero_()`` on a tensor in the graph: what flowed in no longer matters, so its
    gradient is zeros, a constant (not ``g * 0``, which keeps an inf or nan of ``g``)."""

    node_name = "ZeroBackward0"

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.zeros_like(a)

    def backward(self, g: Any) -> Any:
        return zeros_like(g)
