"""The spec suite as pytest tests on reference, one per spec: the test command of
`tox -e mutation` (mutmut runs, for each mutant of reference's core, the specs that reach
the mutated function; a mutant is killed when one of them stops passing). See docs/mutation.md.

Not collected by the ordinary test run (its name does not start with `test_`, and it lives
outside `tests/`); `pytest benchmarks/mutation/specs_on_reference.py` runs it by hand.
The bench specs (the 1000x1000 chain) are left out: they time, and add nothing a small spec
does not check.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.backends import resolve_backend
from conformance.run.results import Status
from conformance.run.runner import Runner, TimingOptions
from conformance.spec import find_spec_files, load_specs
from conformance.spec.model import Scenario

SPECS = Path(__file__).resolve().parents[2] / "specs"
SCENARIOS = load_specs(
    path for path in find_spec_files([str(SPECS)]) if Path(path).parent.name != "bench"
)
_RUNNER: list[Runner] = []


def _runner() -> Runner:
    if not _RUNNER:  # torch-cpu answers the specs' unpinned expectations
        _RUNNER.append(Runner(resolve_backend("torch-cpu"), TimingOptions(0, 0)))
    return _RUNNER[0]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_spec_passes_on_reference(scenario: Scenario) -> None:
    result = _runner().run(scenario, resolve_backend("reference"))
    assert result.status in (Status.PASS, Status.UNSUPPORTED), result.report()
