"""Interleaved measurement: rounds alternate backends, and a failing replay drops out."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.backends import resolve_backend
from conformance.isolation import executor
from conformance.run.runner import Runner, TimingOptions
from conformance.spec import load_spec
from conformance.timing import measure

DATA = Path(__file__).parents[1] / "data"


class _Recorder:
    """Stands in for the Interpreter (which an in-process executor runs): records which
    backend ran, in order."""

    order: list[str] = []

    def __init__(self, scenario: object, backend: object, checking: bool = True) -> None:
        self.name = backend.name  # type: ignore[attr-defined]

    def run(self) -> object:
        _Recorder.order.append(self.name)

        class Outcome:
            error = None
            fault = None
            elapsed = 1e-3

        return Outcome()


def test_rounds_alternate_backends_in_a_rotating_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(executor, "Interpreter", _Recorder)
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


def _two_backends() -> list[object]:
    backends = [resolve_backend("reference"), resolve_backend("reference")]
    backends[1].name = "other"
    return backends


def test_a_spent_budget_stops_a_precise_measurement_after_the_minimum_at_a_whole_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(executor, "Interpreter", _Recorder)
    _Recorder.order = []
    scenario = load_spec(DATA / "pass" / "accumulation.yaml")
    # a budget of 0 is spent at once, and equal times are precise: 3 rounds are owed, and the
    # block of 2 is finished
    result = measure.interleaved(
        scenario, _two_backends(), warmup=1, rounds=50, budget_s=0.0, min_rounds=3, precision=0.1
    )
    assert {name: len(t.samples) for name, t in result.timings.items()} == {
        "reference": 4,
        "other": 4,
    }
    assert len(_Recorder.order) == 2 * (1 + 4)


def test_an_unspent_budget_runs_every_round(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(executor, "Interpreter", _Recorder)
    scenario = load_spec(DATA / "pass" / "accumulation.yaml")
    result = measure.interleaved(
        scenario, _two_backends(), warmup=1, rounds=7, budget_s=60.0, min_rounds=2
    )
    assert [len(t.samples) for t in result.timings.values()] == [7, 7]


class _Noisy(_Recorder):
    """A replay whose time swings tenfold at random: no ratio is ever precise."""

    draws = iter(())

    def run(self) -> object:
        outcome = super().run()
        outcome.elapsed = next(_Noisy.draws)  # type: ignore[attr-defined]
        return outcome


def test_a_noisy_measurement_runs_every_round_whatever_the_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import numpy as np

    monkeypatch.setattr(executor, "Interpreter", _Noisy)
    _Noisy.draws = iter(np.random.default_rng(0).uniform(1e-3, 1e-2, size=1000).tolist())
    scenario = load_spec(DATA / "pass" / "accumulation.yaml")
    for backends in (_two_backends(), _two_backends()[:1]):
        result = measure.interleaved(
            scenario, backends, warmup=1, rounds=30, budget_s=0.0, min_rounds=10, precision=0.1
        )
        assert {len(t.samples) for t in result.timings.values()} == {30}
    # the same noise is precise enough for a tolerance of a factor of ten
    result = measure.interleaved(
        scenario, _two_backends(), warmup=1, rounds=30, budget_s=0.0, min_rounds=10, precision=10
    )
    assert {len(t.samples) for t in result.timings.values()} == {10}


def test_only_bench_scenarios_have_a_budget() -> None:
    bench = load_spec(Path(__file__).parents[3] / "specs" / "bench" / "tutorial_chain_2x2.yaml")
    plain = load_spec(DATA / "pass" / "accumulation.yaml")
    options = TimingOptions(repeat=5, bench_repeat=50, bench_budget_s=0.1, bench_min_repeat=20)
    assert options.budget(bench) == (0.1, 20)
    assert options.budget(plain) == (None, 5)
    # the minimum never exceeds the most rounds, nor falls below --repeat
    assert TimingOptions(bench_repeat=8, bench_min_repeat=20).budget(bench) == (0.1, 8)
    assert TimingOptions(repeat=30, bench_min_repeat=20).budget(bench) == (0.1, 30)
    # no budget: every bench round
    assert TimingOptions(bench_budget_s=0).budget(bench) == (None, 50)


def test_precision_is_asked_of_every_pair_of_backends_not_only_against_the_first() -> None:
    """b and c each track a within the precision, yet b/c (the pair a gate with c as its
    timing baseline reads) swings twice as much: the measurement is not yet precise."""
    import numpy as np

    from conformance.timing.stats import Paired

    rng = np.random.default_rng(1)
    a = rng.uniform(1.0, 2.0, size=40)
    wobble = rng.uniform(-0.05, 0.05, size=40)
    b, c = a * (1 + wobble), a * (1 - wobble)

    def half_width(x: np.ndarray, y: np.ndarray) -> float:
        interval = Paired(tuple(x), tuple(y), 3).ratio_interval(0.95, key="k")
        return (interval.high - interval.low) / 2 / interval.value

    against_a = max(half_width(b, a), half_width(c, a))
    between = half_width(b, c)
    assert against_a < between  # the construction does what it says
    precision = (against_a + between) / 2
    samples = [list(a), list(b), list(c)]
    assert measure._precise("k", samples[:2], 3, precision)
    assert measure._precise("k", [samples[0], samples[2]], 3, precision)
    assert not measure._precise("k", samples, 3, precision)
