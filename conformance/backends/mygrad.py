"""`mygrad`: MyGrad 2.5 (numpy-based autograd) as a backend.

An adapter translates spelling, never semantics: each torch name below maps to the way MyGrad
says the same thing (`requires_grad=True` is `constant=False`, `no_grad()` is the state of
`mygrad.no_autodiff`, `x.grad = None` is `x.null_grad()`, `grad_fn` is `creator`). Where MyGrad
has no such concept (hooks, retain_grad, autograd.grad, inference mode) the capability is
declared missing, so those scenarios are `unsupported` with the reason; where it has the
concept and behaves differently, the scenario runs and fails. Copy this file to plug in an
engine of your own.
"""

from __future__ import annotations

import contextlib
import importlib.util
import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from conformance.backends.base import OPERATORS, Availability, Backend, Unavailable
from conformance.spec.language import CAPABILITIES

INSTALL_HINT = "mygrad is not installed (pip install 'autograd-conformance[peers]')"
_MISSING = {
    "inference_mode": "mygrad has no inference mode",
    "hooks": "mygrad tensors have no hooks",
    "post_accumulate_hooks": "mygrad tensors have no hooks",
    "node_hooks": "mygrad operations have no hooks",
    "retain_grad": "mygrad has no retain_grad: every tensor in a graph keeps its gradient",
    "autograd_grad": "mygrad has no autograd.grad or autograd.backward, only Tensor.backward",
    "create_graph": "mygrad has no higher-order gradients",
    "graph_introspection": "mygrad operations have no next_functions",
}
_IN_PLACE = {"add_": operator.iadd, "sub_": operator.isub, "mul_": operator.imul}
_IN_PLACE["div_"] = operator.itruediv
_FACTORIES = frozenset({"tensor", "ones", "zeros", "ones_like", "zeros_like"})
# torch's layout methods, read off the numpy array underneath (numpy counts strides in bytes)
_LAYOUT: dict[str, Callable[[np.ndarray], Any]] = {
    "stride": lambda array: tuple(step // array.itemsize for step in array.strides),
    "is_contiguous": lambda array: bool(array.flags.c_contiguous),
}
# A gradient is a numpy array in mygrad, which it treats as a constant: no graph, no gradient.
_ARRAY_ATTRIBUTES: dict[str, Callable[[np.ndarray], Any]] = {
    "requires_grad": lambda array: False,
    "grad_fn": lambda array: None,
    "is_leaf": lambda array: True,
    "grad": lambda array: None,
    "data": lambda array: array,
}


def backend() -> Backend:
    if importlib.util.find_spec("mygrad") is None:
        return Unavailable("mygrad", INSTALL_HINT)
    return MyGrad()


class MyGrad:
    name = "mygrad"

    def __init__(self) -> None:
        import mygrad
        import mygrad.nnet.activations

        self.mg = mygrad
        self.functions: dict[str, Callable[..., Any]] = {
            name: getattr(mygrad, name) for name in ("exp", "log", "tanh", "matmul")
        }
        self.functions["sigmoid"] = mygrad.nnet.activations.sigmoid
        self.functions["relu"] = mygrad.nnet.activations.relu

    # --- what the backend is ---------------------------------------------------------------

    def availability(self) -> Availability:
        return Availability(True)

    def capabilities(self) -> frozenset[str]:
        return frozenset(CAPABILITIES) - set(_MISSING)

    def missing_reason(self, capability: str) -> str:
        return _MISSING.get(capability, f"mygrad does not declare {capability}")

    def info(self) -> dict[str, str]:
        return {"module": "mygrad", "version": self.mg.__version__}

    def reset(self, seed: int) -> None:
        self.set_grad_enabled(True)

    # --- grad mode: mygrad's one switch is the state of `no_autodiff` -------------------------

    def grad_mode(self, kind: str, args: Sequence[Any]) -> AbstractContextManager[Any]:
        if kind == "no_grad":
            return self._tracking(False)
        if kind == "enable_grad":
            return self._tracking(True)
        if kind == "set_grad_enabled":
            return self._tracking(bool(args[0]))
        raise NotImplementedError(f"mygrad has no {kind}")

    @contextlib.contextmanager
    def _tracking(self, enabled: bool) -> Iterator[None]:
        previous = self.grad_enabled()
        self.set_grad_enabled(enabled)
        try:
            yield
        finally:
            self.set_grad_enabled(previous)

    def grad_enabled(self) -> bool:
        return bool(self.mg.no_autodiff.state)

    def set_grad_enabled(self, enabled: bool) -> None:
        self.mg.no_autodiff.state = enabled

    def synchronize(self) -> None:
        pass  # numpy runs eagerly

    # --- tensors and calls -----------------------------------------------------------------

    def tensor(self, data: np.ndarray, dtype: str, requires_grad: bool) -> Any:
        return self.mg.tensor(data, dtype=self.dtype(dtype), constant=not requires_grad)

    def call(self, func: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        kwargs = _constant(func, kwargs)
        if func == "is_grad_enabled":
            return self.grad_enabled()
        if func == "set_grad_enabled":
            return self.set_grad_enabled(bool(args[0]))
        if func in ("sum", "mean"):
            return self._reduce(func, args[0], *args[1:], **kwargs)
        if func in self.functions:
            return self.functions[func](*args, **kwargs)
        if func in ("ones", "zeros") and len(args) == 1 and isinstance(args[0], (list, tuple)):
            args = (tuple(args[0]),)
        elif func in ("ones", "zeros"):
            args = (tuple(args),)
        return getattr(self.mg, func)(*args, **kwargs)  # tensor, ones, zeros, ones_like, ...

    def call_method(
        self, obj: Any, name: str, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> Any:
        if name == "name":  # grad_fn.name(): mygrad's operations are known by their class
            return type(obj).__name__
        if not isinstance(obj, self.mg.Tensor):
            return _array_method(obj, name, args)  # .grad and .data are numpy arrays
        if name in _IN_PLACE:
            return _IN_PLACE[name](obj, *args)  # mygrad's own in-place operators
        if name == "zero_":
            obj[...] = 0
            return obj
        if name == "detach":
            return self.mg.tensor(obj, constant=True, copy=False)
        if name in ("requires_grad_", "detach_"):
            raise NotImplementedError(f"mygrad fixes constant when a tensor is made: no {name}")
        if name in ("sum", "mean"):
            return self._reduce(name, obj, *args, **kwargs)
        if name in self.functions:
            return self.functions[name](obj, *args, **kwargs)
        if name == "pow":
            return obj ** args[0]
        if name in ("view", "reshape"):
            shape = (
                tuple(args[0]) if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
            )
            return self.mg.reshape(obj, tuple(shape))
        if name == "t":
            return self.mg.transpose(obj)
        if name == "transpose":
            return self.mg.swapaxes(obj, *args)
        if name == "dim":
            return obj.ndim
        if name == "size":
            return obj.shape if not args else obj.shape[args[0]]
        if name == "tolist":
            return obj.data.tolist()
        if name in _LAYOUT:
            return _LAYOUT[name](obj.data)
        return getattr(obj, name)(*args, **kwargs)  # backward, item

    def _reduce(self, name: str, obj: Any, dim: Any = None, keepdim: bool = False) -> Any:
        axis = tuple(dim) if isinstance(dim, list) else dim
        return getattr(self.mg, name)(obj, axis=axis, keepdims=keepdim)

    def get_attr(self, obj: Any, name: str) -> Any:
        if isinstance(obj, np.ndarray) and name in _ARRAY_ATTRIBUTES:
            return _ARRAY_ATTRIBUTES[name](obj)
        if name == "grad_fn":
            return obj.creator
        if name == "is_leaf":
            return obj.creator is None
        if name == "requires_grad":
            return not obj.constant
        return getattr(obj, name)  # grad, data, shape, dtype, T

    def set_attr(self, obj: Any, name: str, value: Any) -> None:
        if name == "grad" and value is None:
            obj.null_grad()
            return
        if name == "data":  # mygrad's .data is the numpy array itself; it may be replaced
            obj.data = value.data if isinstance(value, self.mg.Tensor) else value
            return
        raise NotImplementedError(f"mygrad cannot set .{name} of a tensor")

    def binary(self, op: str, left: Any, right: Any) -> Any:
        return OPERATORS[op](left, right)

    def unary(self, op: str, value: Any) -> Any:
        return -value

    def index(self, obj: Any, key: Any) -> Any:
        return obj[key]

    # --- values ----------------------------------------------------------------------------

    def dtype(self, name: str) -> Any:
        return np.dtype(name)

    def dtype_name(self, value: Any) -> str | None:
        return value.name if isinstance(value, np.dtype) else None

    def is_tensor(self, value: Any) -> bool:
        return isinstance(value, self.mg.Tensor)

    def to_numpy(self, value: Any) -> np.ndarray:
        return np.array(value.data, copy=True)


def _constant(func: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """torch's `requires_grad=flag` is mygrad's `constant=not flag`. A new tensor in torch
    does not require grad unless asked, where mygrad makes float tensors variables by default."""
    kwargs = dict(kwargs)
    if func in _FACTORIES:
        kwargs["constant"] = not kwargs.pop("requires_grad", False)
    return kwargs


def _array_method(array: Any, name: str, args: Sequence[Any]) -> Any:
    """A gradient or `.data` is a numpy array in mygrad: its in-place methods are numpy's."""
    if name == "zero_":
        array[...] = 0
        return array
    if name in _IN_PLACE:
        return _IN_PLACE[name](array, *args)
    if name == "tolist":
        return array.tolist()
    if name in _LAYOUT:
        return _LAYOUT[name](array)
    return getattr(array, name)(*args)
