"""The worker process's side: load one backend, then run the scenarios the harness sends.

Messages in: ("check", scenario, baseline, baseline_name, finite_differences),
("replay", scenario), ("call", function, *args) (answered with `function(backend, *args)`),
("close",).
A replay of the scenario the worker last received names it by its id alone: the timed re-runs
of a scenario then cost the pipe a few bytes each.
Messages out: ("ready", Description), ("usage", text) for a backend name that means nothing,
("broken", text) for a backend that raised while loading, and ("outcome", Outcome). An outcome
with a fault (engine code called `sys.exit()`) is the worker's last: it exits and the harness
starts a fresh one.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from conformance.isolation import limits
from conformance.isolation.executor import Local
from conformance.isolation.policy import Isolation
from conformance.run.interpreter import Outcome
from conformance.run.results import ErrorInfo, Fault, Status


@dataclass(frozen=True, slots=True)
class Description:
    """What the harness needs to know about a backend without touching it again."""

    name: str  # the backend's own name, which a factory may choose
    available: bool
    reason: str
    capabilities: frozenset[str]
    missing: Mapping[str, str]
    info: Mapping[str, str]
    snippet_target: tuple[str, str | None] | None


def main(conn: Connection, name: str, isolation: Isolation, path: list[str], cwd: str) -> None:
    """The worker's whole life. Ctrl-C reaches every process in the terminal's group; only
    the harness acts on it (it then ends the workers), so a worker ignores SIGINT."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    limits.die_with_parent()
    os.dup2(2, 1)  # engine prints go to stderr: the harness's stdout is its report
    sys.path[:] = path
    os.chdir(cwd)
    limits.set_thread_environment(isolation.threads)
    limits.cap_memory(isolation.memory_limit_mb)
    limits.keep_freed_memory()
    local = _load(conn, name, isolation)
    if local is None:
        return
    gc.freeze()  # what loading made lives as long as the worker; collections skip it
    held: Any = None  # the last scenario received
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request[0] == "close":
            return
        if isinstance(request[1], str):
            request = (request[0], held, *request[2:])
        held = request[1]
        _answer(conn, local, request, isolation)


def _load(conn: Connection, name: str, isolation: Isolation) -> Local | None:
    from conformance.backends import resolve_backend
    from conformance.errors import UsageError

    try:
        local = Local(resolve_backend(name))
        limits.set_loaded_threads(isolation.threads)
        conn.send(("ready", describe(local)))
    except UsageError as exc:
        conn.send(("usage", str(exc)))
        return None
    except BaseException as exc:  # a plug-in's own failure: reported, never fatal to the run
        conn.send(("broken", f"{type(exc).__name__}: {exc}"))
        return None
    return local


def describe(local: Local) -> Description:
    from conformance.spec.language import CAPABILITIES

    availability = local.availability()
    if not availability.available:
        return Description(local.name, False, availability.reason, frozenset(), {}, {}, None)
    capabilities = local.capabilities()
    missing = {name: local.missing_reason(name) for name in set(CAPABILITIES) - capabilities}
    info, target = local.info(), local.snippet_target()
    return Description(local.name, True, "", capabilities, missing, info, target)


def _answer(conn: Connection, local: Local, request: tuple[Any, ...], isolation: Isolation) -> None:
    kind, scenario = request[0], request[1]
    if kind == "call":
        _send(conn, local.call(scenario, *request[2:]))
        return
    if kind == "check":
        outcome = local.check(scenario, *request[2:])
    else:
        enabled = gc.isenabled()
        gc.disable()  # as `timeit` does: a collection lands on whichever round triggers it
        try:
            outcome = local.replay(scenario)
        finally:
            if enabled:
                gc.enable()
    if outcome.error is not None and outcome.error.type == "MemoryError":
        limit = isolation.memory_limit_mb
        if limit:
            outcome.notes.append(f"over the worker's memory limit of {limit} MB (--memory-limit)")
    try:
        conn.send(("outcome", outcome))
    except Exception as exc:  # a value that cannot cross a pipe
        error = ErrorInfo(
            scenario.where, type(exc).__name__, f"the result could not be sent back: {exc}", ""
        )
        conn.send(("outcome", Outcome(error=error)))
    if outcome.fault is not None:  # engine code called sys.exit(): start afresh
        os._exit(0)


def _send(conn: Connection, value: Any) -> None:
    """A call's result, or the `Fault` that stands for it; after a `sys.exit()`, start afresh."""
    try:
        conn.send(("outcome", value))
    except Exception as exc:  # a value that cannot cross a pipe
        conn.send(("outcome", Fault(Status.ERROR, f"the result could not be sent back: {exc}")))
    if isinstance(value, Fault) and value.status is Status.CRASH:
        os._exit(0)
