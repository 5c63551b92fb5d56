"""The stats objects timing checks work on: quartiles of samples, and ratios to a baseline
backend with bootstrap intervals.

Medians and quartiles, not means: a shared machine throws in the odd slow sample, and one
outlier must not move the answer. Intervals come from resampling rounds, which assumes nothing
about how timings are distributed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RESAMPLES = 2000


@dataclass(frozen=True, slots=True)
class Summary:
    """Median and quartiles of timing samples, in seconds."""

    n: int
    median: float
    q1: float
    q3: float

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    @classmethod
    def of(cls, samples: Sequence[float]) -> Summary:
        if not samples:
            raise ValueError("no timing samples to summarize")
        q1, median, q3 = np.percentile(np.asarray(samples, dtype=float), [25, 50, 75])
        return cls(len(samples), float(median), float(q1), float(q3))


@dataclass(frozen=True, slots=True)
class Interval:
    """An estimate and its two-sided bootstrap interval at `confidence`."""

    value: float
    low: float
    high: float
    confidence: float


@dataclass(frozen=True, slots=True)
class Paired:
    """One backend's samples beside the timing baseline's, round by round in one run.

    The ratio is the median of per-block ratios, a block being `period` rounds: one full
    rotation of the backends' order, so each backend ran once in every position and the
    advantage of running second (warm caches) cancels. Samples in a block ran moments apart,
    so load that slows all of them cancels too, and the median shrugs off the blocks where a
    burst of load hit only one backend. It is what the gate compares between runs.
    """

    samples: tuple[float, ...]
    baseline: tuple[float, ...]
    period: int = 1

    def __post_init__(self) -> None:
        if not self.samples or len(self.samples) != len(self.baseline):
            raise ValueError(
                f"paired timing needs equal, non-empty sample lists; got {len(self.samples)} "
                f"and {len(self.baseline)}"
            )

    @property
    def per_block(self) -> np.ndarray:
        """Each block's total time over the baseline's; a last, incomplete block is dropped
        unless it is the only one."""
        size = max(1, min(self.period, len(self.samples)))
        blocks = len(self.samples) // size
        samples = np.asarray(self.samples[: blocks * size], dtype=float).reshape(blocks, size)
        baseline = np.asarray(self.baseline[: blocks * size], dtype=float).reshape(blocks, size)
        return samples.sum(axis=1) / baseline.sum(axis=1)

    @property
    def ratio(self) -> float:
        """How many times slower than the baseline backend, typically."""
        return float(np.median(self.per_block))

    def resampled_ratios(self, rng: np.random.Generator, count: int = RESAMPLES) -> np.ndarray:
        """Bootstrap replicates of `ratio`, resampling whole blocks so pairs stay together."""
        ratios = self.per_block
        rounds = rng.integers(0, len(ratios), size=(count, len(ratios)))
        return row_medians(ratios[rounds])

    def ratio_interval(self, confidence: float = 0.95, *, key: str = "") -> Interval:
        replicates = self.resampled_ratios(rng_for(key))
        low, high = np.quantile(replicates, [(1 - confidence) / 2, (1 + confidence) / 2])
        return Interval(self.ratio, float(low), float(high), confidence)


def row_medians(values: np.ndarray) -> np.ndarray:
    """The median of each row of a 2-D array, as `np.median(values, axis=1)` gives it for
    finite values, at a fraction of its cost on a bootstrap's thousands of short rows."""
    width = values.shape[1]
    half = width // 2
    if width % 2:
        return np.partition(values, half, axis=1)[:, half]
    middle = np.partition(values, (half - 1, half), axis=1)
    return (middle[:, half - 1] + middle[:, half]) / 2


def rng_for(key: str) -> np.random.Generator:
    """A generator seeded from `key`, so the same data always gives the same interval."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))
