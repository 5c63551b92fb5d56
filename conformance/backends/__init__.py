"""Backends: the libraries under test, behind one small `Backend` protocol."""

from conformance.backends.base import Availability, Backend, Unavailable
from conformance.backends.registry import (
    ENTRY_POINT_GROUP,
    choose_baseline,
    default_backend_names,
    known_backends,
    plugins,
    resolve_backend,
)
from conformance.backends.torchlike import TorchLike

__all__ = [
    "ENTRY_POINT_GROUP",
    "Availability",
    "Backend",
    "TorchLike",
    "Unavailable",
    "choose_baseline",
    "default_backend_names",
    "known_backends",
    "plugins",
    "resolve_backend",
]
