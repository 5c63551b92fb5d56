"""Interleaved measurement: rounds alternate backends, and a failing replay drops out."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.backends import resolve_backend
from conformance.runner import Runner, TimingOptions
from conformance.spec import load_spec
from conformance.timing import measure

DATA = Path(__file__).parents[1] / "data"


class _Recorder:
    """Stands in for the Interpreter: records which backend ran, in order."""

    order: list[str] = []

    def __init__(self, scenario: object, backend: object, checking: bool = True) -> None:
        self.name = backend.name  # type: ignore[attr-defined]

    def run(self) -> object:
        _Recorder.order.append(self.name)

        class Outcome:
            error = None
            elapsed = 1e-3

        return Outcome()


def test_rounds_alternate_backends_in_a_rotating_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(measure, "Interpreter", _Recorder)
    _Recorder.order = []
    scenario = load_spec(DATA / "pass" / "accumulation.yaml")
    backends = [resolve_backend("reference"), resolve_backend("reference")]
    backends[1].name = "other"
    result = measure.interleaved(scenario, backends, warmup=1, rounds=3)
    assert _Recorder.order == ["reference", "other", "other", "reference"] * 2
    assert {name: len(t.samples) for name, t in result.timings.items()} == {
        "reference": 3,
        "other": 3,
    }
    assert all(t.warmup == 1 and t.period == 2 for t in result.timings.values())


def test_bench_scenarios_get_more_rounds() -> None:
    options = TimingOptions(warmup=1, repeat=5, bench_repeat=20)
    bench = load_spec(Path(__file__).parents[3] / "specs" / "bench" / "tutorial_chain_2x2.yaml")
    plain = load_spec(DATA / "pass" / "accumulation.yaml")
    assert (options.rounds(bench), options.rounds(plain)) == (20, 5)
    assert TimingOptions(repeat=0).rounds(bench) == 0  # --repeat 0 turns timing off


def test_run_all_times_backends_in_the_same_rounds() -> None:
    pytest.importorskip("torch")
    torch_cpu = resolve_backend("torch-cpu")
    scenario = load_spec(DATA / "pass" / "accumulation.yaml")
    runner = Runner(torch_cpu, TimingOptions(warmup=1, repeat=4))
    results = runner.run_all([scenario], [resolve_backend("reference"), torch_cpu])
    assert [len(r.timing.samples) for r in results if r.timing] == [4, 4]
