"""What the generator knows about a value without running it: shape, dtype and a bound.

Each op's result bound is computed from its inputs' bounds (interval arithmetic), and an op is
only offered where it is well conditioned (positive `log` inputs, bounded exponents, divisors
away from zero, magnitudes within `BOUND`). So a divergence the fuzzer finds is semantic, not
float noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

BOUND = 64.0  # |value| cap: float32 rounding error stays far below the fuzz tolerances
AWAY_FROM_ZERO = 0.5  # divisors, log inputs and negative powers stay at least this far from 0
EXP_LIMIT = math.log(BOUND)

FLOATS = ("float32", "float64")
_CATEGORY = {"bool": 0, "int32": 1, "int64": 1, "float32": 2, "float64": 2}
_SIZE = {"bool": 0, "int32": 1, "int64": 2, "float32": 1, "float64": 2}


@dataclass(frozen=True, slots=True)
class Interval:
    """Every element lies in [lo, hi]."""

    lo: float
    hi: float

    @property
    def magnitude(self) -> float:
        return max(abs(self.lo), abs(self.hi))

    @property
    def away_from_zero(self) -> bool:
        return self.lo >= AWAY_FROM_ZERO or self.hi <= -AWAY_FROM_ZERO

    @property
    def positive(self) -> bool:
        return self.lo >= AWAY_FROM_ZERO


def bounded(lo: float, hi: float) -> Interval | None:
    """The interval, or None when it leaves the well-conditioned range."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or max(abs(lo), abs(hi)) > BOUND:
        return None
    return Interval(lo, hi)


def span(values: list[float]) -> Interval | None:
    return bounded(min(values), max(values)) if values else Interval(0.0, 0.0)


def product(a: Interval, b: Interval) -> Interval | None:
    return span([a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi])


def power(base: Interval, exponent: float) -> Interval | None:
    """`base ** exponent` for a constant exponent; fractional or negative ones need a positive
    base, away from zero."""
    integral = float(exponent).is_integer() and exponent > 0
    if not integral and not base.positive:
        return None
    ends = [base.lo**exponent, base.hi**exponent]
    if integral and int(exponent) % 2 == 0 and base.lo < 0 < base.hi:
        ends.append(0.0)
    return span(ends)


def numel(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    """The broadcast shape, or None when the shapes do not broadcast."""
    out = []
    for x, y in zip(reversed((1,) * (len(b) - len(a)) + a), reversed((1,) * (len(a) - len(b)) + b)):
        if x != y and 1 not in (x, y):
            return None
        out.append(max(x, y))
    return tuple(reversed(out))


def promote(a: str, a_dims: bool, b: str, b_dims: bool) -> str:
    """torch's result dtype for two tensors: a higher category wins; within the winning category
    a tensor with dims outranks a 0-d one."""
    ca, cb = _CATEGORY[a], _CATEGORY[b]
    if ca != cb:
        return a if ca > cb else b
    if a_dims != b_dims:
        return a if a_dims else b
    return a if _SIZE[a] >= _SIZE[b] else b


def with_scalar(dtype: str, scalar: float | int) -> str:
    """torch's result dtype for a tensor and a Python number."""
    if isinstance(scalar, float) and _CATEGORY[dtype] < 2:
        return "float32"
    return dtype
