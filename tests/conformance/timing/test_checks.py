"""Timing checks parsed from strings: what they accept, and what they flag."""

from __future__ import annotations

import numpy as np
import pytest

from conformance.errors import UsageError
from conformance.timing.checks import Measured, MedianCheck, RatioCheck, parse_check


def noisy(center: float, rounds: int = 30, seed: int = 0, spread: float = 0.15) -> np.ndarray:
    return np.random.default_rng(seed).lognormal(np.log(center), spread, rounds)


def run(ratio: float, seed: int) -> Measured:
    """A run where the backend takes `ratio` times the baseline's time, with shared drift."""
    drift = noisy(1.0, seed=seed + 100, spread=0.3)  # load that hits both backends alike
    baseline = noisy(1e-3, seed=seed) * drift
    samples = noisy(ratio * 1e-3, seed=seed + 1) * drift
    return Measured(tuple(samples), tuple(baseline))


@pytest.mark.parametrize(
    ("text", "kind", "threshold", "confidence"),
    [
        ("ratio:50%", RatioCheck, 1.5, 0.95),
        ("ratio:1.5x@99", RatioCheck, 1.5, 0.99),
        ("median:100%@90%", MedianCheck, 2.0, 0.90),
        ("ratio:25%@0.8", RatioCheck, 1.25, 0.8),
    ],
)
def test_checks_parse_from_strings(
    text: str, kind: type, threshold: float, confidence: float
) -> None:
    check = parse_check(text)
    assert isinstance(check, kind)
    assert isinstance(check, (RatioCheck, MedianCheck))
    assert (check.threshold, check.confidence, check.text) == (threshold, confidence, text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ratio", "expected KIND:THRESHOLD"),
        ("mean:50%", "unknown kind"),
        ("ratio:0.9x", "must mean a slowdown"),
        ("ratio:50%@40", "confidence must be between"),
    ],
)
def test_malformed_checks_are_usage_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_check(text)


def test_a_doubled_ratio_is_a_confident_regression() -> None:
    verdict = parse_check("ratio:50%").evaluate("s/b", run(1.0, seed=1), run(2.0, seed=2))
    assert verdict is not None and verdict.regressed
    assert verdict.change == pytest.approx(2.0, rel=0.15)
    assert verdict.probability >= 0.95 and verdict.lower > 1.5
    text = verdict.describe()
    assert text.startswith(f"{verdict.change:.2f}x slower (ratio ")
    assert f"P(slowdown > 1.5x) = {verdict.probability:.0%}" in text
    assert text.endswith("[check ratio:50%]")


def test_a_halved_ratio_is_said_as_a_speedup_factor() -> None:
    verdict = parse_check("ratio:50%").evaluate("s/b", run(2.0, seed=1), run(1.0, seed=2))
    assert verdict is not None and not verdict.regressed
    assert verdict.change == pytest.approx(0.5, rel=0.15)
    assert verdict.describe().startswith(f"{1 / verdict.change:.2f}x faster (ratio ")


def test_an_unchanged_ratio_is_not_flagged_even_when_the_machine_is_slower() -> None:
    before = run(1.0, seed=3)
    # The whole machine is twice as slow: both backends slow down, the ratio does not.
    after = Measured(
        tuple(2 * s for s in run(1.0, seed=4).samples),
        tuple(2 * s for s in run(1.0, seed=4).baseline or ()),
    )
    ratio = parse_check("ratio:50%").evaluate("s/b", before, after)
    assert ratio is not None and not ratio.regressed and ratio.probability < 0.05
    median = parse_check("median:50%").evaluate("s/b", before, after)
    assert median is not None and median.regressed  # why the median check is opt-in


def test_a_small_slowdown_under_the_threshold_passes() -> None:
    verdict = parse_check("ratio:50%").evaluate("s/b", run(1.0, seed=5), run(1.2, seed=6))
    assert verdict is not None and not verdict.regressed


def test_too_few_rounds_give_low_confidence_not_a_false_alarm() -> None:
    before = Measured((1.0, 3.0), (1.0, 1.0))
    after = Measured((3.0, 1.0), (1.0, 1.2))
    verdict = parse_check("ratio:50%").evaluate("s/b", before, after)
    assert verdict is not None and not verdict.regressed


def test_the_ratio_check_needs_paired_samples() -> None:
    alone = Measured((1.0, 2.0))
    assert parse_check("ratio:50%").evaluate("s/b", alone, alone) is None
