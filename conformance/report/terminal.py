"""Text the CLI prints: the scenario x backend matrix, the details and the summary line."""

from __future__ import annotations

from collections.abc import Sequence

from conformance.backends.base import Backend
from conformance.isolation import Executor
from conformance.report.build import summarize
from conformance.run.results import ScenarioResult, Status

_CELL = {
    Status.PASS: "pass",
    Status.FAIL: "FAIL",
    Status.ERROR: "ERROR",
    Status.CRASH: "CRASH",
    Status.TIMEOUT: "TIMEOUT",
    Status.UNSUPPORTED: "unsupported",
    Status.UNAVAILABLE: "unavailable",
    Status.XFAIL: "xfail",
    Status.XPASS: "XPASS",
}


def seconds(value: float) -> str:
    if value < 1e-3:
        return f"{value * 1e6:.0f}us"
    if value < 1:
        return f"{value * 1e3:.2f}ms"
    return f"{value:.2f}s"


def matrix(results: Sequence[ScenarioResult], backends: Sequence[str]) -> str:
    """One row per scenario, one column per backend: status and median time."""
    rows: dict[str, dict[str, str]] = {}
    for result in results:
        cell = _CELL[result.status]
        if result.timing is not None:
            cell = f"{cell} {seconds(result.timing.median):>9}"
        rows.setdefault(result.scenario.id, {})[result.backend] = cell
    first = max([len("scenario"), *(len(name) for name in rows)])
    widths = [
        max([len(name), *(len(row.get(name, "")) for row in rows.values())]) for name in backends
    ]
    header = "  ".join([f"{'scenario':<{first}}", *(f"{n:<{w}}" for n, w in zip(backends, widths))])
    lines = [header.rstrip()]
    for scenario_id, row in rows.items():
        cells = (f"{row.get(name, ''):<{width}}" for name, width in zip(backends, widths))
        lines.append("  ".join([f"{scenario_id:<{first}}", *cells]).rstrip())
    return "\n".join(lines)


def details(results: Sequence[ScenarioResult], backends: Sequence[Backend | Executor]) -> str:
    """Full reports of failures and errors, then why anything did not run."""
    sections = [result.report() for result in results if not result.ok]
    known = [
        f"  {result.scenario.id} [{result.backend}]: {result.expected.reason}"
        for result in results
        if result.status is Status.XFAIL and result.expected is not None
    ]
    if known:
        sections.append("expected failures (xfail, not failures):\n" + "\n".join(known))
    unsupported = [
        f"  {result.scenario.id} [{result.backend}]: {result.reason}"
        for result in results
        if result.status is Status.UNSUPPORTED
    ]
    if unsupported:
        sections.append("unsupported (not failures):\n" + "\n".join(unsupported))
    unavailable = [
        f"  {backend.name}: {backend.availability().reason}"
        for backend in backends
        if not backend.availability().available
    ]
    if unavailable:
        sections.append("unavailable backends (not failures):\n" + "\n".join(unavailable))
    return "\n\n".join(sections)


ALWAYS_COUNTED = ("pass", "fail", "error")  # the rest are named only when they occur


def summary_line(
    results: Sequence[ScenarioResult], backends: int, elapsed: float, total: float
) -> str:
    """The last line of a run: what ran, each status's count, how long the command took
    and how much of that the scenarios themselves (checks and timing rounds) took."""
    counts = summarize(results)
    scenarios = len({result.scenario.id for result in results})
    parts = ", ".join(
        f"{n} {status}" for status, n in counts.items() if n or status in ALWAYS_COUNTED
    )
    return (
        f"{count(scenarios, 'scenario')} x {count(backends, 'backend')}: {parts} "
        f"in {seconds(total)} ({seconds(elapsed)} running the scenarios)"
    )


def count(n: int, noun: str) -> str:
    """`1 scenario`, `2 scenarios`."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
