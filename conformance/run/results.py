"""What running one scenario on one backend produced, in a form the CLI, reports and a pytest
plugin can all use."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from conformance.errors import Location
from conformance.run.diff import Mismatch
from conformance.spec.model import Scenario
from conformance.timing.stats import Summary


class Status(str, Enum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    CRASH = "crash"  # the backend's worker died: a signal or an exit, with the cause as reason
    TIMEOUT = "timeout"  # the scenario outran its time limit; its worker was killed
    UNSUPPORTED = "unsupported"
    UNAVAILABLE = "unavailable"
    XFAIL = "xfail"  # failed, as an expectations manifest says it will
    XPASS = "xpass"  # passed, though a manifest says it fails: the manifest is out of date

    @property
    def ok(self) -> bool:
        """Whether this status lets a run exit with 0 (unsupported/unavailable never fail;
        an xpass fails unless its manifest entry is marked non-strict)."""
        return self not in (Status.FAIL, Status.ERROR, Status.CRASH, Status.TIMEOUT, Status.XPASS)


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """An exception a backend raised where the spec did not expect one."""

    where: Location
    type: str
    message: str
    traceback: str

    def headline(self) -> str:
        return f"{self.where}: {self.type}: {self.message}"


@dataclass(frozen=True, slots=True)
class Fault:
    """Why a run has no outcome of its own: its process died (`crash`) or outran its time
    limit (`timeout`). `reason` names the cause, such as "crashed: SIGSEGV"."""

    status: Status
    reason: str


@dataclass(frozen=True, slots=True)
class Timing:
    """Wall-clock seconds of the scenario's steps on re-runs, after `warmup` untimed runs.
    `period` is how many rounds one full rotation of the backends' order takes."""

    warmup: int
    samples: tuple[float, ...]
    period: int = 1
    _summary: Summary | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def summary(self) -> Summary:
        """Median and quartiles, computed once (the matrix and every report ask)."""
        if self._summary is None:
            object.__setattr__(self, "_summary", Summary.of(self.samples))
        assert self._summary is not None
        return self._summary

    @property
    def median(self) -> float:
        return self.summary.median


@dataclass(frozen=True, slots=True)
class Expected:
    """A manifest entry saying a scenario fails on a backend, and why."""

    reason: str
    source: str  # the manifest file and line
    strict: bool = True


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    scenario: Scenario
    backend: str
    status: Status
    reason: str = ""
    mismatches: tuple[Mismatch, ...] = ()
    error: ErrorInfo | None = None
    timing: Timing | None = None
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    expected: Expected | None = None

    @property
    def ok(self) -> bool:
        """Whether this result lets a run pass: its status's verdict, except a non-strict
        xpass, which is reported but tolerated."""
        if self.status is Status.XPASS and self.expected is not None:
            return not self.expected.strict
        return self.status.ok

    def report(self) -> str:
        """A readable account: the status line, then every diff or the error."""
        head = f"{self.status.value.upper()} {self.scenario.id} [{self.backend}]"
        lines = [f"{head}: {self.scenario.title}"]
        if self.reason:
            lines.append(f"  {self.reason}")
        if self.expected is not None:
            lines.append(f"  expected to fail ({self.expected.source}): {self.expected.reason}")
        lines.extend(_indent(mismatch.message()) for mismatch in self.mismatches)
        if self.error is not None:
            lines.append(_indent(self.error.headline()))
            if self.error.traceback:
                lines.append(_indent(self.error.traceback, "    "))
        lines.extend(f"  note: {note}" for note in self.notes)
        lines.extend(f"  warning seen: {warning}" for warning in self.warnings)
        return "\n".join(lines)


def _indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())
