"""Turn a backend name from the command line into a `Backend`.

Names: the built-ins (`reference`, `torch-cpu`, `torch-cuda`, ...), `torch:DEVICE` (torch on
any device torch can name: `torch:cuda:1`, `torch:mps`, `torch:xpu`, a PrivateUse1 device),
`torchlike:MODULE`, plug-ins registered under the entry-point group `conformance.backends`,
and `package.module:factory`. `torch-cpu` and `torch-cuda` are `torch:cpu` and `torch:cuda`
under their own names.
A built-in that cannot run here is `Unavailable` with a reason; a name that resolves to
nothing is a `UsageError`.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any, TypeVar

from conformance.backends.base import Backend, Unavailable
from conformance.backends.torchlike import TorchLike
from conformance.errors import UsageError

B = TypeVar("B", bound=Any)  # a Backend, or an executor standing for one
ENTRY_POINT_GROUP = "conformance.backends"
TORCHLIKE_PREFIX = "torchlike:"
TORCH_PREFIX = "torch:"


def _reference() -> Backend:
    try:
        import reference
    except ImportError as exc:
        return Unavailable("reference", f"cannot import the reference engine: {exc}")
    return TorchLike(reference, name="reference")


def _torch(name: str, device: str) -> Backend:
    """torch placing every new tensor on `device`. The string is checked by torch.device, so
    any device torch can name works, a PrivateUse1 one included once its extension is loaded
    (torch autoloads those that register a `torch.backends` entry point); whether the device
    is usable here is the backend's availability."""
    if importlib.util.find_spec("torch") is None:
        return Unavailable(name, "torch is not installed (pip install torch)")
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError, TypeError) as exc:
        problem = (str(exc).strip().splitlines() or [""])[0]
        raise UsageError(f"backend {name}: {device!r} is not a torch device ({problem})") from None
    return TorchLike(torch, device=str(parsed), name=name)


BUILTINS: dict[str, Callable[[], Backend]] = {
    "reference": _reference,
    "torch-cpu": lambda: _torch("torch-cpu", "cpu"),
    "torch-cuda": lambda: _torch("torch-cuda", "cuda"),
    # engines written apart from torch, one plain module each (the `peers` extra installs them)
    "mygrad": lambda: importlib.import_module("conformance.backends.mygrad").backend(),
    "tinygrad": lambda: importlib.import_module("conformance.backends.tinygrad").backend(),
    "paddle": lambda: importlib.import_module("conformance.backends.paddle").backend(),
}


def plugins() -> dict[str, EntryPoint]:
    """Backends that installed packages register under `conformance.backends`."""
    return {entry.name: entry for entry in entry_points(group=ENTRY_POINT_GROUP)}


def known_backends() -> list[str]:
    """Every name `resolve_backend` knows without a `torchlike:` or `module:factory` form."""
    return [*BUILTINS, *sorted(set(plugins()) - set(BUILTINS))]


def default_backend_names() -> tuple[list[str], str]:
    """The backends a run uses when none are named, and a note when torch is missing."""
    if importlib.util.find_spec("torch") is None:
        return ["reference"], "torch is not installed: running on reference only"
    return ["reference", "torch-cpu"], ""


def choose_baseline(
    backends: Sequence[B], name: str | None = None, start: Callable[[str], B] | None = None
) -> B:
    """The backend unpinned expectations compare with: `name` when given (it must be
    available), else torch-cpu when available, else reference. A chosen backend is reused;
    another is made by `start` (default: resolved in this process)."""
    make: Callable[[str], Any] = start or resolve_backend
    chosen = {backend.name: backend for backend in backends}
    for backend in backends:  # a worker also answers to the name it was started by
        chosen.setdefault(getattr(backend, "target", backend.name), backend)
    if name:
        baseline = chosen.get(name) or make(name)
        if not baseline.availability().available:
            raise UsageError(f"baseline {name} is unavailable: {baseline.availability().reason}")
        return baseline
    torch_cpu = chosen.get("torch-cpu")
    if torch_cpu is None and importlib.util.find_spec("torch") is not None:
        torch_cpu = make("torch-cpu")
    if torch_cpu is not None and torch_cpu.availability().available:
        return torch_cpu
    return chosen.get("reference") or make("reference")


def resolve_backend(name: str) -> Backend:
    """The backend called `name`; raises `UsageError` when the name means nothing."""
    if name in BUILTINS:
        return BUILTINS[name]()
    if name.startswith(TORCHLIKE_PREFIX):
        module = _import(name, name[len(TORCHLIKE_PREFIX) :])
        return TorchLike(module, name=name)
    if name.startswith(TORCH_PREFIX):
        return _torch(name, name[len(TORCH_PREFIX) :])
    entry = plugins().get(name)
    if entry is not None:
        try:
            factory = entry.load()
        except Exception as exc:
            raise UsageError(f"backend {name}: cannot load plug-in {entry.value}: {exc}") from None
        return _from_factory(name, factory)
    if ":" in name:
        module_name, _, attribute = name.partition(":")
        factory = getattr(_import(name, module_name), attribute, None)
        if factory is None:
            raise UsageError(f"backend {name}: {module_name} has no attribute {attribute!r}")
        return _from_factory(name, factory)
    raise UsageError(
        f"unknown backend {name!r}; expected one of {', '.join(known_backends())}, "
        f"torch:DEVICE, torchlike:MODULE or package.module:factory"
    )


def _import(name: str, module_name: str) -> ModuleType:
    # Like other `module:attr` loaders, look in the working directory too, so a module
    # beside the specs works without installing it.
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    try:
        return importlib.import_module(module_name)
    except Exception as exc:
        raise UsageError(f"backend {name}: cannot import {module_name}: {exc}") from None


def _from_factory(name: str, factory: Any) -> Backend:
    """Accept a factory returning a `Backend`, a Backend itself, or a torch-shaped module."""
    if isinstance(factory, ModuleType):
        return TorchLike(factory, name=name)
    backend = factory() if callable(factory) and not isinstance(factory, Backend) else factory
    if isinstance(backend, ModuleType):
        return TorchLike(backend, name=name)
    if not isinstance(backend, Backend):
        raise UsageError(
            f"backend {name}: expected the factory to return a conformance Backend or a "
            f"torch-shaped module, found {type(backend).__name__}"
        )
    return backend
