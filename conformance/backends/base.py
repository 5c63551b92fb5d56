"""The one interface every backend implements: the operations the spec language needs.

The interpreter never touches a tensor except through these methods, so a backend that is not
torch-shaped at all can still plug in by implementing them.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

# Python's operators as the spec language writes them, for a backend's `binary`: every engine
# is handed its tensors' own operators, so `x += v` runs `__iadd__` (or `__add__` and a
# rebind where a tensor has none), exactly as Python would run it.
OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "**": operator.pow,
    "@": operator.matmul,
    "+=": operator.iadd,
    "-=": operator.isub,
    "*=": operator.imul,
    "/=": operator.itruediv,
    "**=": operator.ipow,
    "@=": operator.imatmul,
}


@dataclass(frozen=True, slots=True)
class Availability:
    """Whether a backend can run here, and if not, why (shown to the user, never skipped)."""

    available: bool
    reason: str = ""


@runtime_checkable
class Backend(Protocol):
    """A tensor library under test, as the interpreter sees it."""

    name: str

    def availability(self) -> Availability: ...

    def capabilities(self) -> frozenset[str]:
        """The capability names (see specs/README.md) this backend supports."""
        ...

    def missing_reason(self, capability: str) -> str:
        """Why a capability is missing, for the `unsupported` status."""
        ...

    def info(self) -> dict[str, str]:
        """Versions and device, for reports. `version` is the engine's own version: the one
        a manifest entry's `versions:` range is checked against."""
        ...

    def reset(self, seed: int) -> None:
        """Fresh state before a scenario run: grad mode enabled, at least."""
        ...

    def tensor(self, data: np.ndarray, dtype: str, requires_grad: bool) -> Any:
        """A new leaf tensor holding `data` with the canonical `dtype`."""
        ...

    def call(self, func: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        """Call a module-level function by dotted name (`ones`, `autograd.grad`)."""
        ...

    def call_method(
        self, obj: Any, name: str, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> Any: ...

    def get_attr(self, obj: Any, name: str) -> Any: ...

    def set_attr(self, obj: Any, name: str, value: Any) -> None: ...

    def binary(self, op: str, left: Any, right: Any) -> Any:
        """`+ - * / ** @` with Python's operator semantics, and the augmented `+= -= *= /= **=
        @=` with augmented assignment's (`operator.iadd` and kin: the tensor's in-place
        operator, else the plain one): the result is what the target is rebound to."""
        ...

    def unary(self, op: str, value: Any) -> Any: ...

    def index(self, obj: Any, key: Any) -> Any: ...

    def grad_mode(self, kind: str, args: Sequence[Any]) -> AbstractContextManager[Any]:
        """`no_grad()`, `enable_grad()`, `set_grad_enabled(flag)` or `inference_mode()`."""
        ...

    def grad_enabled(self) -> bool: ...

    def set_grad_enabled(self, enabled: bool) -> None: ...

    def dtype(self, name: str) -> Any:
        """The backend's dtype object for a canonical name (`float32`, `int64`, ...)."""
        ...

    def dtype_name(self, value: Any) -> str | None:
        """The canonical name of a backend dtype object, or None when `value` is not one."""
        ...

    def is_tensor(self, value: Any) -> bool: ...

    def to_numpy(self, value: Any) -> np.ndarray:
        """A copy of a tensor's data on the host, detached from any graph."""
        ...

    def synchronize(self) -> None:
        """Wait for queued device work, so a timer reads real elapsed time."""
        ...


class Unavailable:
    """Stands in for a backend that cannot run here; it reports why and refuses to run."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    def availability(self) -> Availability:
        return Availability(False, self.reason)

    def capabilities(self) -> frozenset[str]:
        return frozenset()

    def missing_reason(self, capability: str) -> str:
        return self.reason

    def info(self) -> dict[str, str]:
        return {}

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"backend {self.name} is unavailable: {self.reason}")

    reset = tensor = call = call_method = get_attr = set_attr = binary = unary = index = _refuse
    grad_mode = grad_enabled = set_grad_enabled = dtype = dtype_name = is_tensor = _refuse
    to_numpy = synchronize = _refuse
