"""Progress: plain lines in a log, counted per backend, and a bar at a terminal."""

from __future__ import annotations

import io
from pathlib import Path

from conformance.report.progress import Progress
from conformance.run.results import ScenarioResult, Status
from conformance.spec import load_spec

SCENARIO = load_spec(Path(__file__).parent / "data" / "pass" / "accumulation.yaml")


def _result(backend: str, status: Status = Status.PASS) -> ScenarioResult:
    return ScenarioResult(SCENARIO, backend, status)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_log_gets_a_line_every_few_seconds_and_at_the_end() -> None:
    stream, clock = io.StringIO(), _Clock()
    with Progress(40, ["reference", "torch-cpu"], stream, every_s=10, clock=clock) as advance:
        advance(_result("reference"))  # 1 of 40: not a tenth, no time passed
        assert stream.getvalue() == ""
        clock.now = 12.0
        advance(_result("torch-cpu", Status.FAIL))
        assert stream.getvalue() == (
            "progress: 2/40 runs (reference 1/20, torch-cpu 1/20), 1 failed so far, 12 s\n"
        )
        for _ in range(38):
            advance(_result("reference" if _ % 2 else "torch-cpu"))
    lines = stream.getvalue().splitlines()
    assert lines[-1].startswith("progress: 40/40 runs (reference 20/20, torch-cpu 20/20)")
    assert len(lines) == 1 + 10  # the timed line, then one per tenth of the runs


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_at_once_counting_per_backend() -> None:
    stream = _Terminal()
    progress = Progress(4, ["reference", "torch-cpu"], stream)
    with progress as advance:
        assert "0/4" in stream.getvalue()  # before any result: no delay
        advance(_result("reference"))
        assert progress.bar.n == 1
        assert progress.bar.postfix == "reference 1/2, torch-cpu 0/2"
