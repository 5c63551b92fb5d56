"""Where a backend's code runs: in a worker process of its own (the default), or in this one.

An engine under test may crash, hang, leak or call `exit()`. In a worker, each of those ends as
that scenario's result (`crash` or `timeout`, with the cause) and the worker is restarted; the
other backends and every result so far are untouched. The runner and the timer talk to an
`Executor` and never learn which kind they have.
"""

from __future__ import annotations

from conformance.isolation.executor import Executor, Isolation, Local, executor_for
from conformance.isolation.worker import Worker, start_executors

__all__ = ["Executor", "Isolation", "Local", "Worker", "executor_for", "start_executors"]
