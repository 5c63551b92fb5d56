"""Where a backend's code runs: in a worker process of its own (the default), or in this one.

An engine under test may crash, hang, leak or call `exit()`. In a worker, each of those ends as
that scenario's result (`crash` or `timeout`, with the cause) and the worker is restarted; the
other backends and every result so far are untouched. The runner and the timer talk to an
`Executor` and never learn which kind they have.

The executors load on first use, so the options' `Isolation` stays cheap to import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from conformance.isolation.policy import MODES, Isolation

if TYPE_CHECKING:
    from conformance.isolation.executor import Executor, Local, executor_for
    from conformance.isolation.worker import Worker, start_executors

_LOADED_LATER = {
    "Executor": "executor",
    "Local": "executor",
    "executor_for": "executor",
    "Worker": "worker",
    "start_executors": "worker",
}

__all__ = [
    "MODES",
    "Executor",
    "Isolation",
    "Local",
    "Worker",
    "executor_for",
    "start_executors",
]


def __getattr__(name: str) -> Any:
    module = _LOADED_LATER.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
