"""`TorchLike`: the generic adapter for any module shaped like torch (torch itself included).

It calls the module's functions and the tensors' methods by name and writes no per-library
code, so a library that mimics torch is tested as it is. Capabilities are probed from the API
the module exposes; a module may declare them instead with `__conformance_capabilities__`.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from types import ModuleType
from typing import Any

import numpy as np

from conformance.backends.base import OPERATORS, Availability
from conformance.spec.language import CAPABILITIES

_DTYPES = ("float32", "float64", "int64", "int32", "bool")
_FACTORIES = frozenset({"tensor", "ones", "zeros"})  # the ones that take `device=`
_LARGE = 4096  # elements; see TorchLike.tensor


class TorchLike:
    """A backend over a torch-shaped module, optionally placing new tensors on `device`."""

    def __init__(
        self,
        module: ModuleType,
        device: str | None = None,
        name: str | None = None,
        capabilities: frozenset[str] | None = None,
    ) -> None:
        self.module = module
        self.device = device
        self.name = name or module.__name__
        self._declared = capabilities
        self._capabilities: frozenset[str] | None = None
        self._missing: dict[str, str] = {}
        self._functions: dict[str, Callable[..., Any]] = {}
        self._dtypes = {name: getattr(module, name) for name in _DTYPES if hasattr(module, name)}
        self._dtype_names: dict[Any, str] = {}
        for dtype_name, dtype in self._dtypes.items():
            # An unhashable dtype object is left out; dtype_name falls back to str() for it.
            with contextlib.suppress(TypeError):
                self._dtype_names[dtype] = dtype_name
        self._tensor_type = getattr(module, "Tensor", None)
        self._availability: Availability | None = None

    def __repr__(self) -> str:
        return f"TorchLike({self.module.__name__}, device={self.device!r}, name={self.name!r})"

    # --- what the backend is ---------------------------------------------------------------

    def availability(self) -> Availability:
        # Asked before every scenario, and a probe may allocate on the device: check once.
        if self._availability is None:
            reason = _device_unavailable(self.module, self.device) if self.device else ""
            self._availability = Availability(not reason, reason)
        return self._availability

    def capabilities(self) -> frozenset[str]:
        if self._capabilities is None:
            self._capabilities = self._probe()
        return self._capabilities

    def missing_reason(self, capability: str) -> str:
        self.capabilities()
        return self._missing.get(capability, f"{self.name} does not declare {capability}")

    def info(self) -> dict[str, str]:
        info = {"module": self.module.__name__}
        version = getattr(self.module, "__version__", None)
        if version is not None:
            info["version"] = str(version)
        if self.device is not None:
            info["device"] = self.device
            kind = _device_module(self.module, self.device)
            if hasattr(kind, "get_device_name") and self.availability().available:
                index = self.module.device(self.device).index
                info["device_name"] = str(kind.get_device_name(index))
        return info

    def _probe(self) -> frozenset[str]:
        declared = self._declared
        if declared is None:
            declared = getattr(self.module, "__conformance_capabilities__", None)
        if declared is not None:
            return frozenset(declared)
        module, prefix = self.module, self.module.__name__
        found = set(CAPABILITIES)

        def lacks(capability: str, reason: str) -> None:
            found.discard(capability)
            self._missing.setdefault(capability, reason)

        for capability, names in (
            ("float64", ("float64",)),
            ("int_dtypes", ("int64", "int32", "bool")),
        ):
            for attribute in names:
                if not hasattr(module, attribute):
                    lacks(capability, f"{prefix} has no {attribute}")
        if not hasattr(module, "inference_mode"):
            lacks("inference_mode", f"{prefix} has no inference_mode")
        autograd: Any = getattr(module, "autograd", None)
        for function in ("grad", "backward"):
            if not hasattr(autograd, function):
                lacks("autograd_grad", f"{prefix} has no autograd.{function}")
                lacks("create_graph", f"{prefix} has no autograd.{function}")
        if "create_graph" in found and not _accepts(autograd.grad, "create_graph"):
            lacks("create_graph", f"{prefix}.autograd.grad takes no create_graph")
        self._probe_tensors(lacks)
        return frozenset(found)

    def _probe_tensors(self, lacks: Callable[[str, str], None]) -> None:
        """Probe tensor methods on real tensors. A failing probe claims nothing is missing,
        so the scenarios still run and show the real error instead of hiding behind
        `unsupported`."""
        try:
            previous = self.grad_enabled()
            self.set_grad_enabled(True)
            try:
                leaf = self.call("ones", (1,), {"requires_grad": True})
                node = self.get_attr(self.binary("*", leaf, 2.0), "grad_fn")
            finally:
                self.set_grad_enabled(previous)
        except Exception:
            return
        methods = {
            "hooks": ("register_hook",),
            "post_accumulate_hooks": ("register_post_accumulate_grad_hook",),
            "retain_grad": ("retain_grad", "retains_grad"),
            "inplace": ("add_", "sub_", "mul_", "div_", "zero_"),
            "version_counter": ("_version",),
            "strides": ("stride", "is_contiguous"),
        }
        for capability, attributes in methods.items():
            for attribute in attributes:
                if not hasattr(leaf, attribute):
                    lacks(capability, f"its tensors have no {attribute}")
        if not hasattr(node, "next_functions"):
            lacks("graph_introspection", "its grad_fn nodes have no next_functions")
        for attribute in ("register_prehook", "register_hook"):
            if not hasattr(node, attribute):
                lacks("node_hooks", f"its grad_fn nodes have no {attribute}")

    # --- state -----------------------------------------------------------------------------

    def reset(self, seed: int) -> None:
        # The library's own RNG is left alone: the spec language draws every random number
        # from the harness's generator, and torch.manual_seed costs ~0.3 ms a call.
        self.set_grad_enabled(True)

    def grad_mode(self, kind: str, args: Sequence[Any]) -> AbstractContextManager[Any]:
        return self._function(kind)(*args)

    def grad_enabled(self) -> bool:
        return bool(self._function("is_grad_enabled")())

    def set_grad_enabled(self, enabled: bool) -> None:
        self._function("set_grad_enabled")(enabled)  # a function call sets it, as in torch

    def synchronize(self) -> None:
        if self.device is not None and not self.device.startswith("cpu"):
            kind = _device_module(self.module, self.device)
            if hasattr(kind, "synchronize"):
                kind.synchronize()

    # --- operations ------------------------------------------------------------------------

    def _function(self, dotted: str) -> Callable[..., Any]:
        function = self._functions.get(dotted)
        if function is None:
            target: Any = self.module
            for part in dotted.split("."):
                target = getattr(target, part)
            function = self._functions[dotted] = target
        return function

    def tensor(self, data: np.ndarray, dtype: str, requires_grad: bool) -> Any:
        # tolist() gives exact Python numbers that every torch-shaped `tensor` accepts, but on
        # a bench-sized array it costs more than the autograd work being timed; so large arrays
        # go in as they are, and a module that refuses an ndarray gets the list.
        kwargs = {"dtype": self.dtype(dtype), "requires_grad": requires_grad}
        if data.size >= _LARGE:
            try:
                return self.call("tensor", (data,), kwargs)
            except (TypeError, ValueError):
                pass
        return self.call("tensor", (data.tolist(),), kwargs)

    def call(self, func: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if self.device is not None and func in _FACTORIES and "device" not in kwargs:
            kwargs = {**kwargs, "device": self.device}
        return self._function(func)(*args, **kwargs)

    def call_method(
        self, obj: Any, name: str, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> Any:
        return getattr(obj, name)(*args, **kwargs)

    def get_attr(self, obj: Any, name: str) -> Any:
        return getattr(obj, name)

    def set_attr(self, obj: Any, name: str, value: Any) -> None:
        setattr(obj, name, value)

    def binary(self, op: str, left: Any, right: Any) -> Any:
        return OPERATORS[op](left, right)

    def unary(self, op: str, value: Any) -> Any:
        if op != "-":
            raise ValueError(f"unknown unary operator {op}")
        return -value

    def index(self, obj: Any, key: Any) -> Any:
        return obj[key]

    # --- values ----------------------------------------------------------------------------

    def dtype(self, name: str) -> Any:
        try:
            return self._dtypes[name]
        except KeyError:
            raise AttributeError(f"{self.module.__name__} has no dtype {name}") from None

    def dtype_name(self, value: Any) -> str | None:
        try:
            return self._dtype_names.get(value)
        except TypeError:
            text = str(value).rsplit(".", 1)[-1]
            return text if text in self._dtypes else None

    def is_tensor(self, value: Any) -> bool:
        if self._tensor_type is not None:
            return isinstance(value, self._tensor_type)
        return hasattr(value, "requires_grad") and hasattr(value, "shape")

    def to_numpy(self, value: Any) -> np.ndarray:
        value = value.detach()
        if self.device is not None and hasattr(value, "cpu"):
            value = value.cpu()
        data = value.numpy() if hasattr(value, "numpy") else value.tolist()
        return np.array(data, copy=True)


def _accepts(function: Callable[..., Any], parameter: str) -> bool:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):  # a builtin without a signature: assume it does
        return True
    return parameter in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


def _device_module(module: ModuleType, device: str) -> Any:
    """The module that runs a device type (`torch.cuda`, `torch.xpu`, a PrivateUse1 module
    registered under its renamed type), or None."""
    return getattr(module, device.partition(":")[0], None)


def _device_unavailable(module: ModuleType, device: str) -> str:
    """Why `device` cannot run here, or "". Known types answer through their module's
    is_available() and device_count(); any other type must allocate a tensor to count."""
    kind = device.partition(":")[0]
    if kind == "cpu":
        return ""
    if kind == "meta":
        return "meta is not available: meta tensors hold no values to compare"
    runner = _device_module(module, device)
    if hasattr(runner, "is_available"):
        try:
            available = bool(runner.is_available())
            count = runner.device_count() if available and hasattr(runner, "device_count") else None
        except Exception as exc:
            return f"{device} is not available: asking {module.__name__}.{kind} raised {exc!r}"
        if not available:
            if kind == "cuda":
                return _no_cuda_reason(module)
            return f"{device} is not available: {module.__name__}.{kind}.is_available() is False"
        index = module.device(device).index if hasattr(module, "device") else None
        if index is not None and count is not None and index >= count:
            seen = f"{count} {kind} device{'s' * (count != 1)}"
            return f"{device} is not available: {module.__name__} sees {seen}"
        return ""
    try:
        module.zeros(1, device=device)
    except Exception as exc:
        problem = (str(exc).strip().splitlines() or [""])[0]
        return (
            f"{device} is not available: no tensor can be allocated there "
            f"({type(exc).__name__}: {problem})"
        )
    return ""


def _no_cuda_reason(module: ModuleType) -> str:
    version = getattr(module, "__version__", "?")
    built_with = getattr(getattr(module, "version", None), "cuda", "unknown")
    if built_with is None:
        return f"CUDA is not available: {module.__name__} {version} was built without CUDA"
    return (
        f"CUDA is not available: no usable GPU ({module.__name__} {version}, "
        f"CUDA {built_with}; check the driver and CUDA_VISIBLE_DEVICES)"
    )
