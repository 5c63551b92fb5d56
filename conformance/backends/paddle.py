"""`paddle`: PaddlePaddle 3.3 in dynamic-graph mode as a backend.

An adapter translates spelling, never semantics: torch's `requires_grad=True` is paddle's
`stop_gradient=False`, `backward(gradient)` is `backward(grad_tensor)`, `retain_grad()` is
`retain_grads()`, `autograd.grad` is `paddle.grad`, and `dim=` is `axis=`. What paddle lacks
(inference mode, hooks on a leaf after accumulation, hooks on grad nodes) is declared missing;
everything else runs and shows paddle's own behaviour.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from conformance.backends.base import OPERATORS, Availability, Backend, Unavailable
from conformance.spec.language import CAPABILITIES

INSTALL_HINT = "paddle is not installed (pip install 'autograd-conformance[peers]')"
_MISSING = {
    "inference_mode": "paddle has no inference mode in dynamic graphs",
    "post_accumulate_hooks": "paddle tensors have no post-accumulate-grad hooks",
    "node_hooks": "paddle's grad nodes have no public hooks",
}
_DTYPES = ("float32", "float64", "int64", "int32", "bool")


def backend() -> Backend:
    if importlib.util.find_spec("paddle") is None:
        return Unavailable("paddle", INSTALL_HINT)
    return Paddle()


class Paddle:
    name = "paddle"

    def __init__(self) -> None:
        if "distutils" in sys.modules:  # the stdlib's, loaded first: setuptools' shim, which
            # paddle's import pulls in, would assert; let it use the loaded one
            os.environ.setdefault("SETUPTOOLS_USE_DISTUTILS", "stdlib")
        import paddle
        import paddle.nn.functional

        paddle.disable_static()  # dynamic graph, the mode that has autograd as torch does
        self.paddle = paddle
        self.dtypes = {name: getattr(paddle, name) for name in _DTYPES}
        self.functions: dict[str, Callable[..., Any]] = {
            "relu": paddle.nn.functional.relu,
            "autograd.grad": paddle.grad,
            "autograd.backward": paddle.autograd.backward,
            "no_grad": paddle.no_grad,
            "enable_grad": paddle.enable_grad,
            "set_grad_enabled": paddle.set_grad_enabled,
        }

    # --- what the backend is ---------------------------------------------------------------

    def availability(self) -> Availability:
        return Availability(True)

    def capabilities(self) -> frozenset[str]:
        return frozenset(CAPABILITIES) - set(_MISSING)

    def missing_reason(self, capability: str) -> str:
        return _MISSING.get(capability, f"paddle does not declare {capability}")

    def info(self) -> dict[str, str]:
        return {"module": "paddle", "version": self.paddle.__version__, "device": "cpu"}

    def reset(self, seed: int) -> None:
        self.set_grad_enabled(True)

    def grad_mode(self, kind: str, args: Sequence[Any]) -> AbstractContextManager[Any]:
        if kind not in ("no_grad", "enable_grad", "set_grad_enabled"):
            raise NotImplementedError(f"paddle has no {kind}")
        return self.functions[kind](*args)

    def grad_enabled(self) -> bool:
        return bool(self.paddle.is_grad_enabled())

    def set_grad_enabled(self, enabled: bool) -> None:
        self.paddle.set_grad_enabled(enabled)  # takes effect when called, as torch's does

    def synchronize(self) -> None:
        pass  # CPU kernels run eagerly

    # --- tensors and calls -----------------------------------------------------------------

    def tensor(self, data: np.ndarray, dtype: str, requires_grad: bool) -> Any:
        return self.paddle.to_tensor(data, dtype=self.dtype(dtype), stop_gradient=not requires_grad)

    def call(self, func: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        kwargs = dict(kwargs)
        requires_grad = kwargs.pop("requires_grad", None)
        if func == "tensor":
            kwargs["stop_gradient"] = not requires_grad
            return self.paddle.to_tensor(*args, **kwargs)
        if func in ("ones", "zeros"):
            args = (list(args[0] if isinstance(args[0], (list, tuple)) else args),)
        if func == "autograd.grad":
            kwargs = _renamed(kwargs, grad_outputs="grad_outputs")
        if func == "autograd.backward":
            kwargs = _renamed(kwargs, grad_tensors="grad_tensors")
        if func == "is_grad_enabled":
            return self.grad_enabled()
        if func in ("sum", "mean"):
            kwargs = _renamed(kwargs, dim="axis")
        function = self.functions.get(func) or getattr(self.paddle, func)
        result = function(*args, **kwargs)
        if requires_grad is not None:
            result.stop_gradient = not requires_grad
        return result

    def call_method(
        self, obj: Any, name: str, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> Any:
        if name == "backward":
            rest = {k: v for k, v in kwargs.items() if k not in ("gradient", "retain_graph")}
            gradient = args[0] if args else kwargs.get("gradient")
            retain = bool(kwargs.get("retain_graph", False))
            return obj.backward(gradient, retain_graph=retain, **rest)  # inputs=: paddle refuses
        if name in ("add_", "sub_", "mul_", "div_") and isinstance(args[0], (int, float)):
            args = (self.paddle.to_tensor(args[0], dtype=obj.dtype),)  # paddle's scalar operand
        if name == "retain_grad":
            return obj.retain_grads()
        if name == "requires_grad_":
            obj.stop_gradient = not (args[0] if args else kwargs.get("requires_grad", True))
            return obj
        if name in ("sum", "mean"):
            return getattr(obj, name)(*args, **_renamed(kwargs, dim="axis"))
        if name == "relu":
            return self.paddle.nn.functional.relu(obj)
        if name == "transpose":  # torch swaps two dims; paddle takes the whole permutation
            perm = list(range(obj.ndim))
            first, second = args
            perm[first], perm[second] = perm[second], perm[first]
            return obj.transpose(perm)
        if name in ("view", "reshape"):
            shape = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
            return getattr(obj, name)(list(shape))
        if name == "size":
            return tuple(obj.shape) if not args else obj.shape[args[0]]
        return getattr(obj, name)(*args, **kwargs)  # detach, zero_, add_, item, name, ...

    def get_attr(self, obj: Any, name: str) -> Any:
        if name == "requires_grad":
            return not obj.stop_gradient
        if name == "shape":
            return tuple(obj.shape)
        return getattr(obj, name)  # grad, data, is_leaf, grad_fn, next_functions, dtype, T

    def set_attr(self, obj: Any, name: str, value: Any) -> None:
        if name == "requires_grad":
            obj.stop_gradient = not value
        else:
            setattr(obj, name, value)

    def binary(self, op: str, left: Any, right: Any) -> Any:
        return OPERATORS[op](left, right)

    def unary(self, op: str, value: Any) -> Any:
        return -value

    def index(self, obj: Any, key: Any) -> Any:
        return obj[key]

    # --- values ----------------------------------------------------------------------------

    def dtype(self, name: str) -> Any:
        return self.dtypes[name]

    def dtype_name(self, value: Any) -> str | None:
        for name, dtype in self.dtypes.items():
            if isinstance(value, type(dtype)) and value == dtype:
                return name
        return None

    def is_tensor(self, value: Any) -> bool:
        return isinstance(value, self.paddle.Tensor)

    def to_numpy(self, value: Any) -> np.ndarray:
        return np.array(value.detach().numpy(), copy=True)


def _renamed(kwargs: Mapping[str, Any], **names: str) -> dict[str, Any]:
    """torch's keyword names in paddle's spelling."""
    return {names.get(key, key): value for key, value in kwargs.items()}
