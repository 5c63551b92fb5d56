"""The harness's side of a worker process: one per backend, restarted after a crash or a hang.

Built on `multiprocessing` with the spawn method: a fresh interpreter per worker, so a plug-in
that patches torch changes nothing in another backend's worker, and nothing the harness
imported is shared with an engine that may corrupt it.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from multiprocessing.connection import Connection
from typing import Any

from conformance.backends.base import Availability
from conformance.errors import UsageError
from conformance.isolation import child, limits
from conformance.isolation.executor import Executor, Local, Pending
from conformance.isolation.policy import Isolation
from conformance.run.interpreter import Outcome
from conformance.run.results import Fault, Status
from conformance.spec.model import Scenario

STARTUP_TIMEOUT_S = 180.0  # importing an engine (torch, paddle) can take a while on a cold disk
_CLOSE_WAIT_S = 2.0


def start_executors(names: Sequence[str], isolation: Isolation) -> list[Executor]:
    """An executor per backend name. Workers start side by side; a name that means nothing
    is a `UsageError` once all have answered (the others are closed first)."""
    return Launch(names, isolation).ready()


class Launch:
    """Workers that have started loading their backends: the harness can do other work (read
    the specs) while the engines import, then wait for them with `ready`. `close` ends every
    worker it started, `start`'s included."""

    def __init__(self, names: Sequence[str], isolation: Isolation) -> None:
        self.names = list(names)
        self.isolation = isolation
        self.workers: list[Worker] = []
        if isolation.mode != "none":
            try:
                for name in names:
                    self.workers.append(Worker(name, isolation))
            except BaseException:
                self.close()
                raise

    def ready(self) -> list[Executor]:
        """The executors, once every worker has answered. A `UsageError` names each backend
        name that means nothing, and two names that load backends of one name (all are
        closed first)."""
        try:
            executors = self._ready()
            _check_distinct(self.names, executors)
        except UsageError:
            self.close()
            raise
        return executors

    def start(self, name: str) -> Executor:
        """One more backend (a baseline outside the chosen ones), kept apart as the others."""
        launch = Launch([name], self.isolation)
        self.workers.extend(launch.workers)
        return launch.ready()[0]

    def close(self) -> None:
        for worker in self.workers:
            worker.close()

    def _ready(self) -> list[Executor]:
        if self.isolation.mode == "none":
            from conformance.backends import resolve_backend

            limits.set_thread_environment(self.isolation.threads)
            executors: list[Executor] = [Local(resolve_backend(name)) for name in self.names]
            limits.set_loaded_threads(self.isolation.threads)
            return executors
        problems = [problem for problem in map(Worker.wait_ready, self.workers) if problem]
        if problems:
            raise UsageError("\n".join(problems))
        return list(self.workers)


def _check_distinct(names: Sequence[str], executors: Sequence[Executor]) -> None:
    """Results are keyed by backend name, so two backends may not share one."""
    seen: dict[str, str] = {}
    for given, executor in zip(names, executors):
        first = seen.setdefault(executor.name, given)
        if first != given:
            raise UsageError(
                f"backends {first} and {given} are both called {executor.name}; "
                "give each a backend of its own name"
            )


def cause(exitcode: int | None) -> str:
    """How a process ended, in words: "crashed: SIGSEGV", "exited with status 0"."""
    if exitcode is None:
        return "stopped answering"
    if exitcode < 0:
        try:
            return f"crashed: {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"crashed: signal {-exitcode}"
    return f"exited with status {exitcode}"


class Worker:
    """A backend in its own process. Every call returns an `Outcome`; one whose process died
    or outran its limit carries a `Fault`, and the next call starts a fresh process."""

    def __init__(self, name: str, isolation: Isolation) -> None:
        self.target = name  # what the process resolves, each time it starts
        self.name = name  # then the backend's own name, as an in-process run would call it
        self.isolation = isolation
        self.description: child.Description | None = None
        self.broken = ""  # why the backend cannot even load; every run then reports it
        self.restarts = 0
        self._context = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._conn: Connection | None = None
        # The scenario the process last received: a re-run sends its id alone. Held by
        # identity, since programs the fuzzer draws all share one id.
        self._holds: Scenario | None = None
        self._start()

    # --- what the backend is ---------------------------------------------------------------

    def availability(self) -> Availability:
        found = self._described()
        if found is None:  # it died while loading: runs must report that, never pass it
            return Availability(True)
        return Availability(found.available, found.reason)

    def capabilities(self) -> frozenset[str]:
        found = self._described()
        if found is None:
            from conformance.spec.language import CAPABILITIES

            return frozenset(CAPABILITIES)
        return found.capabilities

    def missing_reason(self, capability: str) -> str:
        found = self._described()
        return found.missing.get(capability, "not supported") if found else self.broken

    def info(self) -> dict[str, str]:
        found = self._described()
        info = dict(found.info) if found else {}
        if self.broken:
            info["error"] = self.broken
        return info

    def snippet_target(self) -> tuple[str, str | None] | None:
        found = self._described()
        return found.snippet_target if found else None

    # --- running ---------------------------------------------------------------------------

    def check(
        self,
        scenario: Scenario,
        baseline: Mapping[int, object] | None,
        baseline_name: str | None,
        finite_differences: bool = True,
    ) -> Outcome:
        return self.finish(self.begin_check(scenario, baseline, baseline_name, finite_differences))

    def replay(self, scenario: Scenario) -> Outcome:
        return self.finish(self._begin(("replay", scenario), scenario))

    def begin_check(
        self,
        scenario: Scenario,
        baseline: Mapping[int, object] | None,
        baseline_name: str | None,
        finite_differences: bool = True,
    ) -> Pending:
        request = ("check", scenario, baseline, baseline_name, finite_differences)
        return self._begin(request, scenario)

    def finish(self, pending: Pending) -> Outcome:
        """Wait for a sent request's outcome, up to its deadline."""
        outcome: Outcome = self._reply(pending)
        return outcome

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        limit = self.isolation.timeout_s
        pending = self._ready(limit) or self._send(("call", function, *args), limit)
        self._holds = None  # the worker now holds the function, not a scenario
        reply = self._reply(pending)
        if isinstance(reply, Outcome) and reply.fault is not None:
            return reply.fault
        if isinstance(reply, Fault) and reply.status is Status.CRASH:
            self._reap()  # it called sys.exit(): the worker exits after saying so
        return reply

    def _reply(self, pending: Pending) -> Any:
        """What the worker sent back, or an `Outcome` whose fault says why nothing came."""
        if pending.done is not None:
            return pending.done
        conn = self._conn
        assert conn is not None
        remaining = max(pending.deadline - time.monotonic(), 0.0)
        try:
            ready = conn.poll(remaining)
        except (EOFError, OSError):
            ready = True
        if not ready:
            self._kill()
            limit = pending.limit
            return Outcome(
                fault=Fault(Status.TIMEOUT, f"timed out after {limit:g} s; worker restarted")
            )
        try:
            kind, payload = conn.recv()
        except (EOFError, OSError):
            return Outcome(fault=Fault(Status.CRASH, self._died()))
        except Exception as exc:  # a reply that cannot be read back
            self._kill()
            return Outcome(fault=Fault(Status.CRASH, f"sent an unreadable reply: {exc}"))
        if isinstance(payload, Outcome) and payload.fault is not None:
            self._reap()  # the worker exits after such an outcome
        return payload

    def close(self) -> None:
        """Ask the worker to stop; kill it if it does not, or if it is still loading."""
        if self._process is None:
            return
        if self.description is None:  # it never answered: nothing of its own to finish
            self._kill()
            return
        try:
            assert self._conn is not None
            self._conn.send(("close",))
        except (OSError, ValueError):
            pass
        self._process.join(_CLOSE_WAIT_S)
        self._kill()

    # --- the process -----------------------------------------------------------------------

    def _begin(self, request: tuple[Any, ...], scenario: Scenario) -> Pending:
        limit = self.isolation.limit_for(scenario)
        failed = self._ready(limit)
        if failed is not None:
            return failed
        if self._holds is scenario:  # the worker has it already: name it
            request = (request[0], scenario.id, *request[2:])
        self._holds = scenario
        return self._send(request, limit)

    def _ready(self, limit: float) -> Pending | None:
        """Start the process if it is not running; a fault's `Pending` if it cannot start."""
        if self._process is None:
            if self.broken:
                return _fault(limit, self.broken)
            self._start()
            problem = self.wait_ready()
            if problem or self.broken:
                return _fault(limit, self.broken or problem)
        return None

    def _send(self, request: tuple[Any, ...], limit: float) -> Pending:
        try:
            assert self._conn is not None
            self._conn.send(request)
        except (OSError, ValueError):
            return _fault(limit, self._died())
        return Pending(limit, time.monotonic() + limit)

    def _start(self) -> None:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=child.main,
            args=(theirs, self.target, self.isolation, list(sys.path), os.getcwd()),
            name=f"conformance-{self.target}",
            daemon=True,
        )
        with limits.thread_environment(self.isolation.threads):
            process.start()
        theirs.close()
        self._process, self._conn = process, ours
        self._holds = None

    def wait_ready(self) -> str:
        """Wait for the worker's first message; returns a usage problem's text, else ""."""
        conn = self._conn
        assert conn is not None
        try:
            if not conn.poll(STARTUP_TIMEOUT_S):
                self._kill()
                self.broken = f"did not finish loading within {STARTUP_TIMEOUT_S:g} s"
                return ""
            kind, payload = conn.recv()
        except (EOFError, OSError):
            self.broken = f"{self._died()} while loading the backend"
            return ""
        if kind == "usage":
            self._reap()
            return str(payload)
        if kind == "broken":
            self._reap()
            self.broken = f"raised while loading the backend: {payload}"
            return ""
        if self.description is not None:
            self.restarts += 1
        self.description = payload
        self.name = payload.name
        return ""

    def _described(self) -> child.Description | None:
        return None if self.broken and self.description is None else self.description

    def _died(self) -> str:
        """Reap a worker whose pipe closed, and say how it ended."""
        process = self._process
        code = None
        if process is not None:
            process.join(_CLOSE_WAIT_S)
            code = process.exitcode
        self._kill()
        return cause(code)

    def _reap(self) -> None:
        if self._process is not None:
            self._process.join(_CLOSE_WAIT_S)
        self._kill()

    def _kill(self) -> None:
        process, self._process = self._process, None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if process is not None and process.is_alive():
            process.kill()
            process.join(_CLOSE_WAIT_S)


def _fault(limit: float, reason: str) -> Pending:
    """A request that never reached a worker: it crashed, for `reason`."""
    return Pending(limit, done=Outcome(fault=Fault(Status.CRASH, reason)))
