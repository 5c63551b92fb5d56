"""The one interface the runner uses to run a scenario on a backend, and its in-process form."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from conformance.backends.base import Availability, Backend
from conformance.run.interpreter import Interpreter, Outcome
from conformance.run.interrupt import Interrupted
from conformance.run.results import ErrorInfo, Fault, Status
from conformance.spec.model import Scenario


class Pending:
    """A check under way: sent to a worker, with its time limit and deadline, or already
    over (`done`: a local run's outcome, or the fault that kept a request from being sent)."""

    __slots__ = ("deadline", "done", "limit")

    def __init__(
        self, limit: float = 0.0, deadline: float = 0.0, done: Outcome | None = None
    ) -> None:
        self.limit = limit
        self.deadline = deadline
        self.done = done


class Executor(Protocol):
    """A backend as the runner sees it: what it is, and two ways to run a scenario on it.
    `check` runs with every expectation checked; `replay` runs the steps untimed-checks-off
    for timing. Either returns an `Outcome` whose `fault` is set when the run never ended."""

    name: str

    def availability(self) -> Availability: ...

    def capabilities(self) -> frozenset[str]: ...

    def missing_reason(self, capability: str) -> str: ...

    def info(self) -> dict[str, str]: ...

    def snippet_target(self) -> tuple[str, str | None] | None:
        """The torch-shaped module's name and device a repro snippet imports, if any."""
        ...

    def check(
        self,
        scenario: Scenario,
        baseline: Mapping[int, object] | None,
        baseline_name: str | None,
        finite_differences: bool = True,
    ) -> Outcome: ...

    def replay(self, scenario: Scenario) -> Outcome: ...

    def begin_check(
        self,
        scenario: Scenario,
        baseline: Mapping[int, object] | None,
        baseline_name: str | None,
        finite_differences: bool = True,
    ) -> Pending:
        """Start a check without waiting for it, so checks on several workers overlap."""
        ...

    def finish(self, pending: Pending) -> Outcome:
        """The outcome of a check `begin_check` started."""
        ...

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """`function(backend, *args)`, for work that is not a scenario (the gradient check):
        its result, or the `Fault` that ended it. `function` must be importable by name."""
        ...

    def close(self) -> None: ...


class Local:
    """A backend run in this process: fastest, and what a debugger needs, but a crash or a
    hang in the engine takes the whole run with it."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.name = backend.name

    def availability(self) -> Availability:
        return self.backend.availability()

    def capabilities(self) -> frozenset[str]:
        return self.backend.capabilities()

    def missing_reason(self, capability: str) -> str:
        return self.backend.missing_reason(capability)

    def info(self) -> dict[str, str]:
        return self.backend.info()

    def snippet_target(self) -> tuple[str, str | None] | None:
        return snippet_target(self.backend)

    def check(
        self,
        scenario: Scenario,
        baseline: Mapping[int, object] | None,
        baseline_name: str | None,
        finite_differences: bool = True,
    ) -> Outcome:
        return _guarded(
            Interpreter(
                scenario,
                self.backend,
                baseline=baseline,
                baseline_name=baseline_name,
                finite_differences=finite_differences,
            )
        )

    def replay(self, scenario: Scenario) -> Outcome:
        return _guarded(Interpreter(scenario, self.backend, checking=False))

    def begin_check(
        self,
        scenario: Scenario,
        baseline: Mapping[int, object] | None,
        baseline_name: str | None,
        finite_differences: bool = True,
    ) -> Pending:
        """In this process a check cannot run in the background: it runs now."""
        return Pending(done=self.check(scenario, baseline, baseline_name, finite_differences))

    def finish(self, pending: Pending) -> Outcome:
        assert pending.done is not None
        return pending.done

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        try:
            return function(self.backend, *args)
        except Interrupted:
            raise
        except SystemExit as exc:
            return Fault(Status.CRASH, f"exited with status {exc.code} (sys.exit)")
        except BaseException as exc:  # what the engine raised, as a worker reports it
            return Fault(Status.ERROR, f"raised {type(exc).__name__}: {exc}")

    def close(self) -> None:
        """Nothing to release: the backend lives as long as this process."""


def _guarded(interpreter: Interpreter) -> Outcome:
    """Run, turning what engine code may raise beyond `Exception` into the outcome: a
    `sys.exit()` is a crash (never a quiet exit 0 of the whole run), a KeyboardInterrupt it
    raised itself an error. A real signal to the harness (`Interrupted`) still stops it."""
    try:
        return interpreter.run()
    except Interrupted:
        raise
    except SystemExit as exc:
        return Outcome(fault=Fault(Status.CRASH, f"exited with status {exc.code} (sys.exit)"))
    except BaseException as exc:
        where = interpreter.scenario.where
        return Outcome(error=ErrorInfo(where, type(exc).__name__, str(exc), ""))


def snippet_target(backend: Backend) -> tuple[str, str | None] | None:
    from conformance.backends.torchlike import TorchLike

    if isinstance(backend, TorchLike):
        return backend.module.__name__, backend.device
    return None


def executor_for(backend: Backend | Executor) -> Executor:
    """`backend` as an executor: a plain `Backend` runs in this process."""
    if isinstance(backend, Local) or hasattr(backend, "replay"):
        return backend  # type: ignore[return-value]
    return Local(backend)
