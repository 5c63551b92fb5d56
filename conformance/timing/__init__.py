"""Timing: interleaved measurement, robust statistics, and regression checks parsed from strings.

Every comparison is a ratio to a baseline backend timed in the same rounds of the same run,
so machine drift and load that hit all backends alike cancel out.
"""

from conformance.timing.checks import DEFAULT_CHECK, TimingCheck, Verdict, parse_check
from conformance.timing.stats import Interval, Paired, Summary

__all__ = [
    "DEFAULT_CHECK",
    "Interval",
    "Paired",
    "Summary",
    "TimingCheck",
    "Verdict",
    "parse_check",
]
