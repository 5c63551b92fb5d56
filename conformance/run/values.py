"""Backend values turned into plain comparable data, so backends can be diffed with each other.

Tensors become numpy arrays (a copy, on the host), sequences become tuples, dtypes and
`grad_fn` nodes become small named values; anything else is `Opaque`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from conformance.backends.base import Backend


@dataclass(frozen=True, slots=True)
class DTypeValue:
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class NodeValue:
    """A `grad_fn` node, known by its `name()`."""

    name: str

    def __str__(self) -> str:
        return f"<{self.name}>"


@dataclass(frozen=True, slots=True, eq=False)
class Opaque:
    """Something with no comparable content (a hook handle); equal to any other Opaque."""

    type_name: str

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque)

    def __hash__(self) -> int:
        return 0

    def __str__(self) -> str:
        return f"<{self.type_name}>"


def observe(backend: Backend, value: Any) -> object:
    """The plain form of a backend value; see the module docstring."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if backend.is_tensor(value):
        return backend.to_numpy(value)
    if isinstance(value, (tuple, list)):
        return tuple(observe(backend, item) for item in value)
    if isinstance(value, (np.ndarray, np.generic)):
        return np.array(value)
    dtype = backend.dtype_name(value)
    if dtype is not None:
        return DTypeValue(dtype)
    name = getattr(value, "name", None)
    if callable(name):
        return NodeValue(str(name()))
    return Opaque(type(value).__name__)


def show(value: object) -> str:
    """A short description of a plain value for messages."""
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    if isinstance(value, tuple):
        text = repr(value)
        return text if len(text) <= 60 else f"a sequence of {len(value)}"
    if value is None or isinstance(value, (bool, int, float, str)):
        return repr(value)
    return f"{value} ({type(value).__name__})"
