"""Run one program on the backend under test and on the oracle, and diff what each observed.

Both runs go through the harness's own `Interpreter` on the program's probing spec, on each
backend's executor: in this process, or in a worker, where an engine's crash, exit or hang is
the run's ending and so a divergence like any other. Checks are
unpinned expectations, so the backend under test is compared with the oracle's observed values
by the harness's `diff`. What the probes saw (each statement's error, each `.grad` read's
warning) and any error that ended a run are compared through the same `diff`. A program the
oracle itself did not finish (its worker crashed or timed out) judges nothing: the tested
backend is not run on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from conformance.backends.base import Backend
from conformance.fuzz.program import Program, fuzz_yaml
from conformance.isolation import Executor, executor_for
from conformance.run.diff import Mismatch, Where, diff
from conformance.run.interpreter import Outcome
from conformance.spec.model import Expect, Raises, Scenario
from conformance.spec.schema import build_scenario
from conformance.spec.yamlnodes import read_yaml

NOTHING = "no exception"
NO_WARNING = "no warning"
SPEC_PATH = "<fuzz>"
_INTERNAL = re.compile(r"\s*\(Triggered internally at [^)]*\)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")
_LONGEST = 160


@dataclass(frozen=True, slots=True)
class Observed:
    """One backend's run: its outcome, and what each probe saw, by step index."""

    outcome: Outcome
    probes: dict[int, str]


@dataclass(frozen=True, slots=True)
class Verdict:
    """Both runs of a program, and the mismatches of the backend under test."""

    program: Program
    scenario: Scenario
    oracle: Observed
    tested: Observed
    mismatches: tuple[Mismatch, ...]

    @property
    def diverged(self) -> bool:
        return bool(self.mismatches)

    @property
    def oracle_failed(self) -> bool:
        return self.oracle.outcome.fault is not None


def compile_program(program: Program, scenario_id: str = "fuzz.program") -> Scenario:
    """The program's probing spec, loaded as any spec file is."""
    return build_scenario(read_yaml(fuzz_yaml(program, scenario_id), SPEC_PATH))


class Differential:
    """Runs programs on `tested` and `oracle` and reports where `tested` differs."""

    def __init__(self, tested: Backend | Executor, oracle: Backend | Executor) -> None:
        self.tested = executor_for(tested)
        self.oracle = executor_for(oracle)

    def run(self, program: Program) -> Verdict:
        scenario = compile_program(program)
        # No finite-difference opinions while searching: the shrunk spec's run gives them.
        oracle_run = self.oracle.check(scenario, None, None, finite_differences=False)
        oracle = _observe(scenario, oracle_run)
        if oracle_run.fault is not None:
            return Verdict(program, scenario, oracle, oracle, ())
        observations = oracle.outcome.observations
        tested_outcome = self.tested.check(
            scenario, observations, self.oracle.name, finite_differences=False
        )
        tested = _observe(scenario, tested_outcome)
        mismatches = [m for m in tested_outcome.mismatches if m.expected_from is not None]
        mismatches.extend(self._probe_mismatches(scenario, oracle, tested))
        mismatches.extend(self._run_mismatches(scenario, oracle.outcome, tested.outcome))
        mismatches.sort(key=lambda m: m.where.step.line)
        return Verdict(program, scenario, oracle, tested, tuple(mismatches))

    def _where(self, scenario: Scenario, index: int | None) -> Where:
        step = scenario.steps[index].where if index is not None else scenario.where
        return Where(scenario.id, self.tested.name, step)

    def _probe_mismatches(
        self, scenario: Scenario, oracle: Observed, tested: Observed
    ) -> list[Mismatch]:
        found = []
        for index, expected in oracle.probes.items():
            step = scenario.steps[index]
            got = tested.probes.get(index)
            if got is None:
                continue  # the tested run ended before this step: reported as a run mismatch
            path = step.source.strip().splitlines()[0]
            what = "raised" if isinstance(step, Raises) else "warned"
            mismatch = diff(
                expected,
                got,
                where=self._where(scenario, index),
                path=f"{path} ({what})",
                expected_from=self.oracle.name,
            )
            if mismatch is not None:
                found.append(mismatch)
        return found

    def _run_mismatches(
        self, scenario: Scenario, oracle: Outcome, tested: Outcome
    ) -> list[Mismatch]:
        """The error that ended a run, and warnings no probe accounted for."""
        found = []
        where = self._where(scenario, None)
        ended = diff(
            _ending(oracle),
            _ending(tested),
            where=where,
            path="the run",
            expected_from=self.oracle.name,
        )
        if ended is not None:
            found.append(ended)
        warned = diff(
            tuple(sorted({signature(w) for w in oracle.warnings})),
            tuple(sorted({signature(w) for w in tested.warnings})),
            where=where,
            path="warnings",
            expected_from=self.oracle.name,
        )
        if warned is not None:
            found.append(warned)
        return found


def _observe(scenario: Scenario, outcome: Outcome) -> Observed:
    """Read the probes' reports out of the outcome's mismatches (see `program.PROBE_EXCEPTION`)."""
    lines = {step.where.line: index for index, step in enumerate(scenario.steps)}
    probes: dict[int, str] = {}
    for mismatch in outcome.mismatches:
        if mismatch.expected_from is not None:
            continue
        index = lines.get(mismatch.where.step.line)
        if index is None:
            continue
        step = scenario.steps[index]
        if isinstance(step, Raises):
            probes[index] = signature(mismatch.got)
        elif isinstance(step, Expect) and mismatch.problem == "did not warn as expected":
            probes[index] = signature(mismatch.got.split("; ")[0])
    return Observed(outcome, probes)


def _ending(outcome: Outcome) -> str:
    if outcome.fault is not None:  # the worker died or outran its limit
        return f"{outcome.fault.status.value}: {outcome.fault.reason}"
    error = outcome.error
    if error is None:
        return "completed"
    return f"ended at line {error.where.line}: {signature(f'{error.type}: {error.message}')}"


def signature(report: str) -> str:
    """`Type: first sentence` of an error or warning report, the part compared and pinned.

    The rest of a message is where libraries add detail of their own (torch's "(Triggered
    internally at ...)" for one), which is not behaviour."""
    kind, separator, message = report.strip().partition(": ")
    if not separator:
        return kind
    message = _INTERNAL.sub("", message.strip())
    sentence = _SENTENCE_END.split(message, maxsplit=1)[0]
    return f"{kind}: {sentence[:_LONGEST]}"
