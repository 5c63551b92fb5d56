"""The committed gate baseline is a run of exactly the spec set in the repository, so a gate
against it compares every scenario and never says "the spec sets differ"."""

from __future__ import annotations

from pathlib import Path

from conformance.report.build import spec_set
from conformance.report.runfile import load_run
from conformance.spec import find_spec_files, load_specs

REPO = Path(__file__).parents[2]
REGENERATE = (
    "regenerate it: tox -e conformance, then conformance gate --baseline "
    "reports/baseline.json --current reports/runs/latest.json --update"
)


def test_the_committed_baseline_is_a_run_of_the_spec_set() -> None:
    baseline = load_run(REPO / "reports" / "baseline.json")
    scenarios = load_specs(find_spec_files([str(REPO / "specs")]))
    ids = {scenario.id for scenario in scenarios}
    ran = set(baseline.scenario_ids())
    missing, stale = sorted(ids - ran), sorted(ran - ids)
    assert not missing and not stale, f"missing {missing}, stale {stale}; {REGENERATE}"
    assert baseline.spec_hash == spec_set(scenarios)["hash"], f"specs changed; {REGENERATE}"
    assert set(baseline.backend_names()) == {"reference", "torch-cpu"}
    assert baseline.incomplete is None
    assert all(result.ok for result in baseline.results), "the baseline must pass everywhere"
