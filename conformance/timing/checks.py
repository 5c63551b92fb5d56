"""Timing regression checks: small objects parsed from strings such as `ratio:50%` or
`median:2x@99`, each judging one scenario x backend between a baseline run and a current run.

A check flags a regression only when the slowdown exceeds its threshold with its confidence,
estimated by bootstrap over the recorded rounds of both runs: a noisy pair of runs widens the
interval instead of raising a false alarm.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from conformance.errors import UsageError
from conformance.timing.stats import RESAMPLES, Paired, rng_for, row_medians

DEFAULT_CHECK = "ratio:50%@95"
_CHECK = re.compile(
    r"^(?P<kind>[a-z]+):(?P<amount>[0-9.]+)(?P<unit>%|x)(?:@(?P<confidence>[0-9.]+)%?)?$"
)


@dataclass(frozen=True, slots=True)
class Measured:
    """One scenario x backend in one run: its samples, and the timing baseline's samples from
    the same rounds when the run had a timing baseline."""

    samples: tuple[float, ...]
    baseline: tuple[float, ...] | None = None
    period: int = 1

    @property
    def paired(self) -> Paired | None:
        if self.baseline is None or len(self.baseline) != len(self.samples):
            return None
        return Paired(self.samples, self.baseline, self.period)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a check found: the slowdown factor (after / before), its bootstrap bounds, and
    the probability that it exceeds the threshold."""

    check: str
    what: str  # "ratio to torch-cpu" or "median"
    before: float
    after: float
    change: float
    lower: float
    upper: float
    probability: float
    threshold: float
    confidence: float

    @property
    def regressed(self) -> bool:
        return self.change > self.threshold and self.probability >= self.confidence

    def describe(self, against: str | None = None) -> str:
        """One line a reviewer can act on: by how much, and how sure. `against` names the
        timing baseline a ratio is relative to."""
        level = round(100 * (2 * self.confidence - 1))
        relative = f" relative to {against}" if against and self.what == "ratio" else ""
        # "0.50x faster" reads as a slowdown; a speed-up is said as its own factor
        factor, direction = (
            (self.change, "slower") if self.change >= 1 else (1 / self.change, "faster")
        )
        return (
            f"{factor:.2f}x {direction}{relative} "
            f"({self.what} {_number(self.before)} -> {_number(self.after)}; "
            f"{level}% interval {self.lower:.2f}x-{self.upper:.2f}x); "
            f"P(slowdown > {self.threshold:g}x) = {self.probability:.0%} "
            f"[check {self.check}]"
        )


class TimingCheck(Protocol):
    @property
    def text(self) -> str:
        """The string the check was parsed from, to name it in reports."""
        ...

    def evaluate(self, key: str, before: Measured, after: Measured) -> Verdict | None:
        """Judge one scenario x backend; None when this check cannot apply to it."""
        ...


@dataclass(frozen=True, slots=True)
class RatioCheck:
    """The ratio to the timing baseline backend grew by more than `threshold` (a factor)."""

    text: str
    threshold: float
    confidence: float

    def evaluate(self, key: str, before: Measured, after: Measured) -> Verdict | None:
        old, new = before.paired, after.paired
        if old is None or new is None:
            return None
        rng = rng_for(key)
        replicates = new.resampled_ratios(rng) / old.resampled_ratios(rng)
        return _verdict(self, "ratio", old.ratio, new.ratio, replicates)


@dataclass(frozen=True, slots=True)
class MedianCheck:
    """The median itself grew by more than `threshold`: only meaningful when both runs used
    the same quiet machine, since nothing cancels load or a different CPU."""

    text: str
    threshold: float
    confidence: float

    def evaluate(self, key: str, before: Measured, after: Measured) -> Verdict | None:
        rng = rng_for(key)
        old = np.asarray(before.samples, dtype=float)
        new = np.asarray(after.samples, dtype=float)
        replicates = _resampled_medians(new, rng) / _resampled_medians(old, rng)
        return _verdict(self, "median", float(np.median(old)), float(np.median(new)), replicates)


def parse_check(text: str) -> TimingCheck:
    """`ratio:50%`, `ratio:1.5x@99`, `median:100%`: kind, threshold, optional confidence."""
    match = _CHECK.match(text.strip())
    if match is None:
        raise UsageError(
            f"timing check {text!r}: expected KIND:THRESHOLD[@CONFIDENCE], e.g. ratio:50% "
            f"or median:2x@99"
        )
    amount = float(match["amount"])
    threshold = 1 + amount / 100 if match["unit"] == "%" else amount
    if threshold <= 1:
        raise UsageError(f"timing check {text!r}: the threshold must mean a slowdown (> 1x)")
    confidence = float(match["confidence"] or 95)
    confidence = confidence / 100 if confidence > 1 else confidence
    if not 0.5 <= confidence < 1:
        raise UsageError(f"timing check {text!r}: confidence must be between 50 and 100 (%)")
    kinds: dict[str, type[RatioCheck] | type[MedianCheck]] = {
        "ratio": RatioCheck,
        "median": MedianCheck,
    }
    kind = kinds.get(match["kind"])
    if kind is None:
        raise UsageError(f"timing check {text!r}: unknown kind; expected one of {', '.join(kinds)}")
    return kind(text.strip(), threshold, confidence)


def _resampled_medians(samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    rounds = rng.integers(0, len(samples), size=(RESAMPLES, len(samples)))
    return row_medians(samples[rounds])


def _verdict(
    check: RatioCheck | MedianCheck,
    what: str,
    before: float,
    after: float,
    replicates: np.ndarray,
) -> Verdict:
    lower, upper = np.quantile(replicates, [1 - check.confidence, check.confidence])
    return Verdict(
        check=check.text,
        what=what,
        before=before,
        after=after,
        change=after / before,
        lower=float(lower),
        upper=float(upper),
        probability=float(np.mean(replicates > check.threshold)),
        threshold=check.threshold,
        confidence=check.confidence,
    )


def _number(value: float) -> str:
    return f"{value:#.3g}".rstrip(".")
