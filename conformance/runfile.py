"""A saved run, read back: typed records over the JSON that `conformance run` writes.

Reports, the gate and `merge` work from these records, so everything they show can be rebuilt
from the file alone, on another machine, long after the run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.errors import UsageError
from conformance.report import FORMAT
from conformance.results import Status


@dataclass(frozen=True, slots=True)
class Ratio:
    """A backend's median time over the timing baseline's, from the same rounds."""

    to: str
    value: float
    low: float
    high: float
    confidence: float


@dataclass(frozen=True, slots=True)
class TimingRecord:
    median: float
    q1: float
    q3: float
    samples: tuple[float, ...]
    warmup: int
    ratio: Ratio | None
    period: int = 1  # rounds per full rotation of the backends' order

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1


@dataclass(frozen=True, slots=True)
class ResultRecord:
    scenario: str
    title: str
    file: str
    tags: tuple[str, ...]
    backend: str
    status: Status
    ok: bool
    reason: str
    diffs: tuple[Mapping[str, str], ...]
    error: Mapping[str, str] | None
    timing: TimingRecord | None
    expected: Mapping[str, Any] | None
    repro_command: str | None
    repro_snippet: str | None
    notes: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def key(self) -> tuple[str, str]:
        return (self.scenario, self.backend)

    def headline(self) -> str:
        """The first thing to read about a failure: its first diff, or its error."""
        if self.status is Status.XPASS and self.expected is not None:
            return (
                f"passes, but {self.expected['source']} expects a failure "
                f"({self.expected['reason']})"
            )
        if self.diffs:
            first = self.diffs[0]
            more = f" (+{len(self.diffs) - 1} more)" if len(self.diffs) > 1 else ""
            return f"{first['step']}: {first['path']}: {first['problem']}{more}"
        if self.error is not None:
            return f"{self.error['step']}: {self.error['type']}: {self.error['message']}"
        return self.reason

    def details(self) -> str:
        """Every diff, or the error with its trace, as the CLI prints them."""
        lines = [diff["message"] for diff in self.diffs]
        if self.error is not None:
            error = self.error
            lines.append(f"{error['step']}: {error['type']}: {error['message']}")
            lines.extend(f"  {line}" for line in error["traceback"].splitlines())
        if self.expected is not None:
            lines.append(f"expected to fail ({self.expected['source']}): {self.expected['reason']}")
        lines.extend(f"note: {note}" for note in self.notes)
        lines.extend(f"warning seen: {warning}" for warning in self.warnings)
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class BackendRecord:
    name: str
    available: bool
    reason: str
    capabilities: tuple[str, ...]
    info: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class RunRecord:
    data: Mapping[str, Any]  # the JSON as read, for fields no record needs
    backends: tuple[BackendRecord, ...]
    results: tuple[ResultRecord, ...]

    @property
    def created(self) -> str:
        return str(self.data["created"])

    @property
    def environment(self) -> Mapping[str, Any]:
        return self.data["environment"]

    @property
    def summary(self) -> Mapping[str, int]:
        return self.data["summary"]

    @property
    def timing_baseline(self) -> str | None:
        return self.data.get("timing", {}).get("baseline")

    @property
    def spec_hash(self) -> str | None:
        specs = self.data.get("specs") or {}
        return specs.get("hash")

    @property
    def stale(self) -> tuple[str, ...]:
        return tuple((self.data.get("expectations") or {}).get("stale", ()))

    def backend_names(self) -> list[str]:
        return [backend.name for backend in self.backends]

    def scenario_ids(self) -> list[str]:
        return list(dict.fromkeys(result.scenario for result in self.results))

    def by_key(self) -> dict[tuple[str, str], ResultRecord]:
        return {result.key: result for result in self.results}

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.results)


def load_run(path: str | Path) -> RunRecord:
    """Read a run JSON; a missing file, bad JSON or another format is a `UsageError`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such run file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: not a readable run JSON ({exc})") from None
    return run_from_dict(data, str(path))


def run_from_dict(data: Mapping[str, Any], where: str = "the run") -> RunRecord:
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
        raise UsageError(
            f"{where}: expected a run file of format {FORMAT}, found {found!r}; "
            f"rerun `conformance run` to write one"
        )
    try:
        backends = tuple(_backend(entry) for entry in data["backends"])
        results = tuple(_result(entry) for entry in data["results"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"{where}: malformed run file ({type(exc).__name__}: {exc})") from None
    return RunRecord(data, backends, results)


def _backend(entry: Mapping[str, Any]) -> BackendRecord:
    return BackendRecord(
        entry["name"],
        bool(entry["available"]),
        entry.get("reason", ""),
        tuple(entry.get("capabilities", ())),
        dict(entry.get("info", {})),
    )


def _result(entry: Mapping[str, Any]) -> ResultRecord:
    status = Status(entry["status"])
    timing = entry.get("timing")
    repro = entry.get("repro") or {}
    return ResultRecord(
        scenario=entry["scenario"],
        title=entry.get("title", ""),
        file=entry.get("file", ""),
        tags=tuple(entry.get("tags", ())),
        backend=entry["backend"],
        status=status,
        ok=bool(entry.get("ok", status.ok)),
        reason=entry.get("reason", ""),
        diffs=tuple(entry.get("diffs", ())),
        error=entry.get("error"),
        timing=_timing(timing) if timing else None,
        expected=entry.get("expected"),
        repro_command=repro.get("command"),
        repro_snippet=repro.get("snippet"),
        notes=tuple(entry.get("notes", ())),
        warnings=tuple(entry.get("warnings", ())),
    )


def _timing(entry: Mapping[str, Any]) -> TimingRecord:
    ratio = entry.get("ratio")
    return TimingRecord(
        median=float(entry["median_s"]),
        q1=float(entry["q1_s"]),
        q3=float(entry["q3_s"]),
        samples=tuple(float(value) for value in entry["samples_s"]),
        warmup=int(entry["warmup"]),
        ratio=Ratio(**ratio) if ratio else None,
        period=int(entry.get("period", 1)),
    )
