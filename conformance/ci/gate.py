"""`conformance gate`: compare a run with a committed baseline and say what regressed.

It fails on a scenario x backend that passed in the baseline and does not now (or is new and
fails), a strict xpass, a timing regression that a noise-aware check is confident of, and on
anything that would make a pass meaningless: a run marked incomplete, a run with no results,
or results of the baseline missing from the run (unless missing ones are allowed). Everything
else it finds (fixes, speed-ups, scenarios not compared) is reported but never fails it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from conformance.report.runfile import ResultRecord, RunRecord
from conformance.run.results import Status
from conformance.timing.checks import Measured, TimingCheck, Verdict

DEFAULT_TIMING_TAGS = ("bench",)


class Kind(str, Enum):
    INCOMPLETE = "incomplete"  # the run stopped early, or holds no results at all
    REGRESSION = "regression"  # passed before, does not now
    NEW_FAILURE = "new failure"  # not in the baseline, and fails
    XPASS = "strict xpass"
    TIMING = "timing regression"
    MISSING = "missing"  # results of the baseline that the run lacks
    FIXED = "fixed"
    NOTE = "note"


FAILING = {
    Kind.INCOMPLETE,
    Kind.REGRESSION,
    Kind.NEW_FAILURE,
    Kind.XPASS,
    Kind.TIMING,
    Kind.MISSING,
}
NOUNS = {Kind.INCOMPLETE: "incomplete run", Kind.MISSING: "missing result"}
MISSING_SHOWN = 8  # scenarios named on the missing line before "... and N more"
# Timings outside this range (seconds) are damage, not measurements; they would overflow or
# divide by zero in the checks, so such a result's timing is not compared.
PLAUSIBLE_S = (1e-12, 1e6)


@dataclass(frozen=True, slots=True)
class Finding:
    kind: Kind
    subject: str  # "scenario [backend]", or "" for the run as a whole
    message: str
    verdict: Verdict | None = None
    count: int = 1  # how many results it stands for (one line names all missing results)

    def line(self) -> str:
        subject = f"{self.subject}: " if self.subject else ""
        return f"{self.kind.value.upper()} {subject}{self.message}"


@dataclass
class GateResult:
    findings: list[Finding] = field(default_factory=list)
    timings: list[tuple[str, Verdict]] = field(default_factory=list)
    against: str | None = None  # the timing baseline the ratios are relative to
    enforce_timing: bool = True

    def failures(self) -> list[Finding]:
        return [
            f
            for f in self.findings
            if f.kind in FAILING and (f.kind is not Kind.TIMING or self.enforce_timing)
        ]

    @property
    def passed(self) -> bool:
        return not self.failures()

    def lines(self) -> list[str]:
        """The gate's report: failures first, then the rest, then every timing compared."""
        order = list(Kind)
        lines = []
        for finding in sorted(self.findings, key=lambda f: order.index(f.kind)):
            tolerated = finding.kind is Kind.TIMING and not self.enforce_timing
            lines.append(("ADVISORY " if tolerated else "") + finding.line())
        if self.timings:
            lines.append("timing compared:")
            lines.extend(f"  {subject}: {v.describe(self.against)}" for subject, v in self.timings)
        counts = [(kind, sum(f.count for f in self.findings if f.kind is kind)) for kind in order]
        found = ", ".join(
            _count(n, NOUNS.get(kind, kind.value)) for kind, n in counts if n and kind in FAILING
        )
        outcome = "PASS" if self.passed else "FAIL"
        note = "" if self.enforce_timing else " (timing advisory)"
        lines.append(f"gate: {outcome}{note}" + (f": {found}" if found else ""))
        return lines


def _count(n: int, noun: str) -> str:
    plural = noun + ("es" if noun.endswith("s") else "s")
    return f"{n} {noun if n == 1 else plural}"


def run_gate(
    baseline: RunRecord,
    current: RunRecord,
    checks: Sequence[TimingCheck],
    *,
    timing_tags: Iterable[str] = DEFAULT_TIMING_TAGS,
    enforce_timing: bool = True,
    allow_missing: bool = False,
) -> GateResult:
    """Judge `current` against `baseline`. `allow_missing` turns results of the baseline that
    the run lacks from a failure into a note, for runs that are knowingly partial."""
    result = GateResult(enforce_timing=enforce_timing)
    _completeness(baseline, current, result, allow_missing)
    _correctness(baseline, current, result)
    _timing(baseline, current, checks, set(timing_tags), result)
    return result


def _subject(record: ResultRecord) -> str:
    return f"{record.scenario} [{record.backend}]"


def _correctness(baseline: RunRecord, current: RunRecord, gate: GateResult) -> None:
    before = baseline.by_key()
    if baseline.spec_hash != current.spec_hash:
        gate.findings.append(
            Finding(Kind.NOTE, "", "the spec sets differ; only scenarios in both are compared")
        )
    for record in current.results:
        old = before.get(record.key)
        if record.status is Status.XPASS and not record.ok:
            source = (record.expected or {}).get("source", "its manifest")
            gate.findings.append(
                Finding(
                    Kind.XPASS,
                    _subject(record),
                    f"passes, but {source} expects it to fail; remove the entry",
                )
            )
        elif old is None:
            if record.status in (Status.FAIL, Status.ERROR, Status.CRASH, Status.TIMEOUT):
                gate.findings.append(
                    Finding(
                        Kind.NEW_FAILURE,
                        _subject(record),
                        f"{record.status.value}: {record.headline()} (not in the baseline)",
                    )
                )
        elif old.status is Status.PASS and record.status is not Status.PASS:
            gate.findings.append(
                Finding(
                    Kind.REGRESSION,
                    _subject(record),
                    f"pass -> {record.status.value}: {record.headline()}",
                )
            )
        elif old.status is not Status.PASS and record.status is Status.PASS:
            gate.findings.append(
                Finding(
                    Kind.FIXED,
                    _subject(record),
                    f"{old.status.value} -> pass; `conformance gate --update` locks it in",
                )
            )


def _completeness(
    baseline: RunRecord, current: RunRecord, gate: GateResult, allow_missing: bool
) -> None:
    """A run that stopped early or lacks results proves nothing about what it did not run, so
    either fails the gate: silence about a result must never read as its pass."""
    if current.incomplete is not None:
        gate.findings.append(
            Finding(
                Kind.INCOMPLETE,
                "",
                f"the run did not finish ({current.incomplete}); rerun it to completion",
            )
        )
    if not current.results:
        counted = current.incomplete is None  # one incomplete run, however it shows
        gate.findings.append(
            Finding(
                Kind.INCOMPLETE, "", "the run holds no results; nothing was tested", count=counted
            )
        )
    if baseline.incomplete is not None:
        gate.findings.append(
            Finding(
                Kind.NOTE,
                "",
                f"the baseline run did not finish ({baseline.incomplete}); "
                f"only its results are compared",
            )
        )
    now = current.by_key()
    missing = [record.key for record in baseline.results if record.key not in now]
    if not missing:
        return
    total = len(baseline.results)
    names = _compact(missing)
    if allow_missing:
        gate.findings.append(
            Finding(
                Kind.NOTE,
                "",
                f"{len(missing)} of the baseline's {total} results were not run "
                f"(--allow-missing): {names}",
            )
        )
        return
    gate.findings.append(
        Finding(
            Kind.MISSING,
            "",
            f"{len(missing)} of the baseline's {total} results are not in the run: {names}; "
            f"run them, or pass --allow-missing (shards: `conformance merge` them first)",
            count=len(missing),
        )
    )


def _compact(keys: Sequence[tuple[str, str]]) -> str:
    """`scenario [backend, backend]` per scenario, the first MISSING_SHOWN of them."""
    by_scenario: dict[str, list[str]] = {}
    for scenario, backend in keys:
        by_scenario.setdefault(scenario, []).append(backend)
    shown = [
        f"{scenario} [{', '.join(backends)}]"
        for scenario, backends in list(by_scenario.items())[:MISSING_SHOWN]
    ]
    more = len(by_scenario) - len(shown)
    return ", ".join(shown) + (f" and {more} more scenarios" if more else "")


def _timing(
    baseline: RunRecord,
    current: RunRecord,
    checks: Sequence[TimingCheck],
    tags: set[str],
    gate: GateResult,
) -> None:
    if baseline.timing_baseline != current.timing_baseline:
        gate.findings.append(
            Finding(
                Kind.NOTE,
                "",
                f"timing not compared: the baseline run's ratios are to "
                f"{baseline.timing_baseline}, this run's to {current.timing_baseline}",
            )
        )
        return
    reference = gate.against = current.timing_baseline
    old_runs, new_runs = baseline.by_key(), current.by_key()
    for record in current.results:
        old = old_runs.get(record.key)
        if old is None or record.timing is None or old.timing is None:
            continue
        if tags and not tags & set(record.tags):
            continue
        damaged = _implausible(record, current, reference, new_runs) or _implausible(
            old, baseline, reference, old_runs
        )
        if damaged:
            gate.findings.append(
                Finding(Kind.NOTE, _subject(record), f"timing not compared: {damaged}")
            )
            continue
        before = _measured(old, baseline, reference, old_runs)
        after = _measured(record, current, reference, new_runs)
        for check in checks:
            verdict = check.evaluate(f"{record.scenario}/{record.backend}", before, after)
            if verdict is None:
                continue
            subject = _subject(record)
            gate.timings.append((subject, verdict))
            if verdict.regressed:
                gate.findings.append(
                    Finding(
                        Kind.TIMING,
                        subject,
                        verdict.describe(reference),
                        verdict,
                    )
                )


def _implausible(
    record: ResultRecord,
    run: RunRecord,
    reference: str | None,
    by_key: dict[tuple[str, str], ResultRecord],
) -> str | None:
    """Why this result's timing cannot be compared (damaged samples, or samples that do not
    pair with the timing baseline's), or None when it can."""
    assert record.timing is not None
    low, high = PLAUSIBLE_S
    paired = by_key.get((record.scenario, reference)) if reference else None
    lists = [record.timing.samples]
    if paired is not None and paired.timing is not None and record.backend != reference:
        lists.append(paired.timing.samples)
        if len(paired.timing.samples) != len(record.timing.samples):
            return f"its samples do not pair with {reference}'s in {run.created}"
    if any(not low <= value <= high for samples in lists for value in samples):
        return f"samples outside {low:g}..{high:g} s in {run.created}"
    return None


def _measured(
    record: ResultRecord,
    run: RunRecord,
    reference: str | None,
    by_key: dict[tuple[str, str], ResultRecord],
) -> Measured:
    assert record.timing is not None
    paired = by_key.get((record.scenario, reference)) if reference else None
    if paired is None or paired.timing is None or record.backend == reference:
        return Measured(record.timing.samples)
    return Measured(record.timing.samples, paired.timing.samples, record.timing.period)
