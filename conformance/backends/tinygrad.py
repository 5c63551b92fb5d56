"""`tinygrad`: tinygrad 0.14 (lazy tensors, compiled kernels) as a backend.

An adapter translates spelling, never semantics. tinygrad says some of torch's things in its
own way (`x += 1` is `assign`, `.data` is `detach()`, a tensor is realised by `numpy()`), and
lacks some concepts altogether: there is no requires_grad flag (every tensor in a graph is
differentiable, so `requires_grad=True` means nothing more than the default), no grad_fn nodes
and no no-grad context. Those capabilities are declared missing, and the scenarios that need
them are `unsupported` with the reason. tinygrad's CPU device compiles with `clang`; set
`DEV=PYTHON` to run without it (slowly).
"""

from __future__ import annotations

import importlib.util
import operator
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from conformance.backends.base import OPERATORS, Availability, Backend, Unavailable
from conformance.spec.language import CAPABILITIES

INSTALL_HINT = "tinygrad is not installed (pip install 'autograd-conformance[peers]')"
_NO_FLAG = "tinygrad has no requires_grad flag: every tensor in a graph is differentiable"
_MISSING = {
    "requires_grad": _NO_FLAG,
    "grad_fn": "tinygrad tensors have no grad_fn nodes and no is_leaf",
    "grad_mode": "tinygrad has no no-grad context: every operation is recorded",
    "inference_mode": "tinygrad has no inference mode",
    "hooks": "tinygrad tensors have no hooks",
    "post_accumulate_hooks": "tinygrad tensors have no hooks",
    "node_hooks": "tinygrad has no grad_fn nodes",
    "retain_grad": "tinygrad has no retain_grad: backward gives every tensor in the graph .grad",
    "autograd_grad": "tinygrad has no autograd.grad or autograd.backward",
    "create_graph": "tinygrad has no autograd.grad(create_graph=True)",
    "graph_introspection": "tinygrad has no grad_fn nodes",
    "version_counter": "tinygrad has no version counter on its tensors",
    "strides": "tinygrad tensors are lazy and have no stride() or is_contiguous()",
}
_IN_PLACE = {  # tinygrad's in-place operators assign the result into the tensor
    "add_": operator.iadd,
    "sub_": operator.isub,
    "mul_": operator.imul,
    "div_": operator.itruediv,
}
_FUNCTIONS = ("exp", "log", "tanh", "sigmoid", "relu", "matmul", "ones_like", "zeros_like")


def backend() -> Backend:
    if importlib.util.find_spec("tinygrad") is None:
        return Unavailable("tinygrad", INSTALL_HINT)
    return TinyGrad()


class TinyGrad:
    name = "tinygrad"

    def __init__(self) -> None:
        from tinygrad import Device, Tensor, dtypes

        self.Tensor = Tensor
        self.device = Device
        self.dtypes = {
            "float32": dtypes.float32,
            "float64": dtypes.float64,
            "int64": dtypes.int64,
            "int32": dtypes.int32,
            "bool": dtypes.bool,
        }
        self.made: list[Any] = []  # this run's tensors, realised by synchronize()

    # --- what the backend is ---------------------------------------------------------------

    def availability(self) -> Availability:
        return Availability(True)

    def capabilities(self) -> frozenset[str]:
        return frozenset(CAPABILITIES) - set(_MISSING)

    def missing_reason(self, capability: str) -> str:
        return _MISSING.get(capability, f"tinygrad does not declare {capability}")

    def info(self) -> dict[str, str]:
        from importlib.metadata import version

        return {"module": "tinygrad", "version": version("tinygrad"), "device": self.device.DEFAULT}

    def reset(self, seed: int) -> None:
        self.made.clear()

    # --- grad mode: tinygrad always records -------------------------------------------------

    def grad_mode(self, kind: str, args: Sequence[Any]) -> AbstractContextManager[Any]:
        raise NotImplementedError(_MISSING["grad_mode"])

    def grad_enabled(self) -> bool:
        return True

    def set_grad_enabled(self, enabled: bool) -> None:
        if not enabled:
            raise NotImplementedError(_MISSING["grad_mode"])

    def synchronize(self) -> None:
        """tinygrad is lazy: realise what this run made (and its gradients), then wait."""
        pending = [t for t in self.made if isinstance(t, self.Tensor)]
        pending += [t.grad for t in pending if t.grad is not None]
        if pending:
            self.Tensor.realize(*pending)
        self.device[self.device.DEFAULT].synchronize()

    def _made(self, value: Any) -> Any:
        if isinstance(value, self.Tensor):
            self.made.append(value)
        return value

    # --- tensors and calls -----------------------------------------------------------------

    def tensor(self, data: np.ndarray, dtype: str, requires_grad: bool) -> Any:
        return self._made(self.Tensor(data, dtype=self.dtypes[dtype]))

    def call(self, func: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        kwargs = _flagless(kwargs)
        if func == "tensor":
            return self._made(self.Tensor(*args, **kwargs))
        if func in ("ones", "zeros"):
            shape = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
            return self._made(getattr(self.Tensor, func)(*shape, **kwargs))
        if func in ("sum", "mean"):
            return self.call_method(args[0], func, args[1:], kwargs)
        if func in _FUNCTIONS:
            return self._made(getattr(args[0], func)(*args[1:], **kwargs))
        raise NotImplementedError(f"tinygrad has no {func}")  # is_grad_enabled and friends

    def call_method(
        self, obj: Any, name: str, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> Any:
        if name in _IN_PLACE:
            return _IN_PLACE[name](obj, *args)
        if name == "zero_":
            return obj.assign(obj.zeros_like())
        if name in ("sum", "mean"):
            dim = kwargs.get("dim", args[0] if args else None)
            axis = tuple(dim) if isinstance(dim, list) else dim
            return self._made(getattr(obj, name)(axis=axis, keepdim=kwargs.get("keepdim", False)))
        if name == "backward":  # tinygrad keeps every graph, which is retain_graph=True
            rest = {k: v for k, v in kwargs.items() if k != "gradient"}
            if rest.get("retain_graph") is True:
                del rest["retain_graph"]
            gradient = args[0] if args else kwargs.get("gradient")
            return obj.backward(gradient, **rest)  # inputs=, create_graph=: tinygrad refuses
        if name in ("view", "reshape"):
            shape = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
            return self._made(obj.reshape(tuple(shape)))
        if name == "t":
            return self._made(obj.T)
        if name == "size":
            return obj.shape if not args else obj.shape[args[0]]
        if name == "dim":
            return obj.ndim
        if name == "requires_grad_":
            return obj  # requires_grad_() asks for a gradient, which every tensor gets
        return self._made(getattr(obj, name)(*args, **kwargs))  # item, tolist, detach, pow, ...

    def get_attr(self, obj: Any, name: str) -> Any:
        if name == "data":
            return self._made(obj.detach())
        if name in ("requires_grad", "grad_fn", "is_leaf"):
            raise NotImplementedError(_MISSING["grad_fn" if name != "requires_grad" else name])
        return self._made(getattr(obj, name))  # grad, shape, dtype, T

    def set_attr(self, obj: Any, name: str, value: Any) -> None:
        if name != "grad":
            raise NotImplementedError(f"tinygrad cannot set .{name}")
        obj.grad = value

    def binary(self, op: str, left: Any, right: Any) -> Any:
        return self._made(OPERATORS[op](left, right))

    def unary(self, op: str, value: Any) -> Any:
        return self._made(-value)

    def index(self, obj: Any, key: Any) -> Any:
        return self._made(obj[key])

    # --- values ----------------------------------------------------------------------------

    def dtype(self, name: str) -> Any:
        return self.dtypes[name]

    def dtype_name(self, value: Any) -> str | None:
        for name, dtype in self.dtypes.items():
            if value is dtype:
                return name
        return None

    def is_tensor(self, value: Any) -> bool:
        return isinstance(value, self.Tensor)

    def to_numpy(self, value: Any) -> np.ndarray:
        return np.array(value.numpy(), copy=True)  # numpy() realises the lazy tensor


def _flagless(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """`requires_grad=True` is every tinygrad tensor's state; anything else has no spelling."""
    kwargs = dict(kwargs)
    if kwargs.pop("requires_grad", True) is not True:
        raise NotImplementedError(_NO_FLAG)
    return kwargs
