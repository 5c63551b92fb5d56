"""Summaries and paired ratios: the stats objects timing checks work on."""

from __future__ import annotations

import numpy as np
import pytest

from conformance.timing.stats import Paired, Summary, row_medians


def test_a_summary_has_median_quartiles_and_iqr() -> None:
    summary = Summary.of([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (summary.n, summary.median, summary.q1, summary.q3, summary.iqr) == (5, 3, 2, 4, 2)
    with pytest.raises(ValueError, match="no timing samples"):
        Summary.of([])


def test_one_outlier_does_not_move_the_median() -> None:
    assert Summary.of([1.0, 1.0, 1.0, 1.0, 100.0]).median == 1.0


def test_the_ratio_is_median_over_median_and_its_interval_holds_it() -> None:
    rng = np.random.default_rng(0)
    base = tuple(rng.lognormal(np.log(1e-3), 0.1, 30))
    slow = tuple(2 * value for value in base)
    paired = Paired(slow, base)
    assert paired.ratio == pytest.approx(2.0)
    interval = paired.ratio_interval(0.95, key="k")
    assert interval.low <= interval.value <= interval.high
    assert interval.confidence == 0.95


def test_pairs_are_resampled_together_so_shared_drift_cancels() -> None:
    # Both backends slow down together in later rounds: the ratio stays exactly 1.5.
    drift = np.linspace(1.0, 3.0, 25)
    paired = Paired(tuple(1.5 * drift), tuple(drift))
    interval = paired.ratio_interval(key="drift")
    assert interval.low == pytest.approx(1.5) and interval.high == pytest.approx(1.5)


def test_intervals_are_reproducible_for_the_same_key() -> None:
    rng = np.random.default_rng(1)
    paired = Paired(tuple(rng.random(10) + 1), tuple(rng.random(10) + 1))
    assert paired.ratio_interval(key="a") == paired.ratio_interval(key="a")


def test_unpaired_samples_are_refused() -> None:
    with pytest.raises(ValueError, match="equal, non-empty"):
        Paired((1.0, 2.0), (1.0,))


def test_blocks_of_one_rotation_cancel_the_advantage_of_running_second() -> None:
    # Two backends alternate who goes first; going second is 50% faster for both.
    first, second = 1.5, 1.0
    samples = tuple(first if i % 2 == 0 else second for i in range(20))
    baseline = tuple(second if i % 2 == 0 else first for i in range(20))
    per_round = Paired(samples, baseline)
    assert per_round.ratio_interval(key="k").high / per_round.ratio_interval(key="k").low > 2
    per_block = Paired(samples, baseline, period=2)
    assert per_block.ratio == 1.0
    interval = per_block.ratio_interval(key="k")
    assert interval.low == interval.high == 1.0


@pytest.mark.parametrize("width", [1, 2, 3, 4, 25, 26])
def test_row_medians_are_numpys_medians_bit_for_bit(width: int) -> None:
    rng = np.random.default_rng(width)
    values = rng.lognormal(size=(300, width))
    values[::7] = np.round(values[::7], 1)  # ties too
    assert np.array_equal(row_medians(values), np.median(values, axis=1))
