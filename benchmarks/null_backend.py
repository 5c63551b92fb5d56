"""A backend whose every operation does nothing: running the specs on it times the harness.

Each call returns the same inert ``Null`` value, so a scenario's steps all run (its checks
fail, which costs the harness what a failure costs) while the backend's own work is zero.
``conformance run --backend benchmarks.null_backend:NullBackend`` runs it from the root.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from conformance.backends.base import Availability
from conformance.spec.language import CAPABILITIES

UNPACKED = 2  # what `a, b = ...` gets: the most any spec unpacks


class Null:
    """Any value: calls, attributes, indexing and iteration all give a Null again."""

    def __call__(self, *args: Any, **kwargs: Any) -> Null:
        return self

    def __getattr__(self, name: str) -> Null:
        return self

    def __getitem__(self, key: Any) -> Null:
        return self

    def __iter__(self) -> Iterator[Null]:
        return iter((self,) * UNPACKED)

    def __len__(self) -> int:
        return UNPACKED

    def __bool__(self) -> bool:
        return True


NULL = Null()
_ZERO = np.zeros(1)  # 1-d: a shape check iterates over what it observes


class NullBackend:
    """A `Backend` that supports every capability and computes nothing."""

    name = "null"

    def availability(self) -> Availability:
        return Availability(True)

    def capabilities(self) -> frozenset[str]:
        return frozenset(CAPABILITIES)

    def missing_reason(self, capability: str) -> str:
        return ""

    def info(self) -> dict[str, str]:
        return {"device": "none"}

    def reset(self, seed: int) -> None:
        pass

    def tensor(self, data: np.ndarray, dtype: str, requires_grad: bool) -> Any:
        return NULL

    def call(self, func: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        return NULL

    def call_method(
        self, obj: Any, name: str, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> Any:
        return NULL

    def get_attr(self, obj: Any, name: str) -> Any:
        return NULL

    def set_attr(self, obj: Any, name: str, value: Any) -> None:
        pass

    def binary(self, op: str, left: Any, right: Any) -> Any:
        return NULL

    def unary(self, op: str, value: Any) -> Any:
        return NULL

    def index(self, obj: Any, key: Any) -> Any:
        return NULL

    def grad_mode(self, kind: str, args: Sequence[Any]) -> AbstractContextManager[Any]:
        return contextlib.nullcontext()

    def grad_enabled(self) -> bool:
        return True

    def set_grad_enabled(self, enabled: bool) -> None:
        pass

    def dtype(self, name: str) -> Any:
        return name

    def dtype_name(self, value: Any) -> str | None:
        return value if isinstance(value, str) else None

    def is_tensor(self, value: Any) -> bool:
        return value is NULL

    def to_numpy(self, value: Any) -> np.ndarray:
        return _ZERO

    def synchronize(self) -> None:
        pass
