"""Turn a diverging program into a regression spec: plain steps, with the oracle's behaviour
pinned, so that `conformance run` reproduces the divergence from the file alone.

A statement the oracle ran becomes a plain step; one it rejected becomes a `raises` step that
matches the oracle's error. Each check pins the oracle's value, dtype, shape and flags, or
`is_none`, and the oracle's warning where it warned. The spec is then run on both backends:
it must pass on the oracle and fail on the backend under test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from conformance.backends.base import Backend
from conformance.fuzz import emit
from conformance.fuzz.differential import NO_WARNING, NOTHING, Verdict
from conformance.fuzz.features import features_of
from conformance.fuzz.program import Check, Statement, tolerance_fields
from conformance.run.results import ScenarioResult, Status
from conformance.run.runner import Runner, TimingOptions
from conformance.run.values import NodeValue
from conformance.spec import display_path
from conformance.spec.schema import build_scenario
from conformance.spec.yamlnodes import read_yaml

DEFAULT_DIR = Path("specs") / "regressions"
_SPECIAL = re.compile(r"[.^$*+?{}\[\]\\|()]")


@dataclass(frozen=True, slots=True)
class Origin:
    """How the program was found, for the spec's header."""

    tested: str
    oracle: str
    command: str


@dataclass(frozen=True, slots=True)
class Regression:
    scenario_id: str
    path: Path
    text: str
    steps: int
    oracle_result: ScenarioResult
    tested_result: ScenarioResult

    @property
    def reproduces(self) -> bool:
        """Passes on the oracle, fails (or errors) on the backend under test."""
        return self.oracle_result.status is Status.PASS and not self.tested_result.status.ok

    def write(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(self.text, encoding="utf-8")
        return self.path


def build(
    verdict: Verdict, origin: Origin, tested: Backend, oracle: Backend, out_dir: Path
) -> Regression:
    """Render the pinned spec for a diverging program and run it on both backends."""
    digest = verdict.program.digest
    scenario_id = f"regressions.fuzz_{digest}"
    path = out_dir / f"fuzz_{digest}.yaml"
    steps = render_steps(verdict)
    tags = ["fuzz", "regression", *sorted(features_of(verdict.program.ops))]
    runner = Runner(None, TimingOptions(warmup=0, repeat=0))

    def run(title: str, opinion: str = "") -> tuple[str, ScenarioResult, ScenarioResult]:
        header = [
            ("spec", "1"),
            ("id", scenario_id),
            ("title", emit.text(title)),
            ("tags", "[" + ", ".join(tags) + "]"),
            ("requires", "[]"),
            ("source", emit.text(origin.command)),
            (
                "rationale",
                emit.text(
                    f"{origin.tested} and {origin.oracle} disagreed on this program, shrunk by "
                    f"conformance fuzz; the pinned behaviour is {origin.oracle}'s.{opinion}"
                ),
            ),
        ]
        text = emit.document(header, steps)
        scenario = build_scenario(read_yaml(text, display_path(path)))
        return text, runner.run(scenario, oracle), runner.run(scenario, tested)

    # The title names the first check the spec fails on, as the spec itself reports it.
    where = f"Fuzzed: {origin.tested} differs from {origin.oracle}"
    text, oracle_result, tested_result = run(where)
    if tested_result.mismatches:
        first = tested_result.mismatches[0]
        text, oracle_result, tested_result = run(
            f"{where} at {first.path}", third_opinion(tested_result)
        )
    elif tested_result.error is not None:
        text, oracle_result, tested_result = run(f"{where}: {tested_result.error.type}")
    return Regression(scenario_id, path, text, len(steps), oracle_result, tested_result)


def third_opinion(result: ScenarioResult) -> str:
    """What finite differences say about the first gradient diff, for the rationale: whether
    the backend has a maths bug or a convention of its own at a non-differentiable point."""
    for mismatch in result.mismatches:
        if mismatch.finite_difference:
            return f" Third opinion at {mismatch.path}: {mismatch.finite_difference}."
    return ""


def render_steps(verdict: Verdict) -> list[str]:
    """The program's steps with the oracle's behaviour pinned, up to where its run ended."""
    observed = verdict.oracle
    steps = []
    for index, step in enumerate(verdict.program.steps):
        if isinstance(step, Statement):
            probe = observed.probes.get(index)
            if probe is None:
                break
            steps.append(_statement(step, probe))
        else:
            if index not in observed.outcome.observations:
                break
            rendered = _check(
                step, observed.outcome.observations[index], observed.probes.get(index)
            )
            if rendered is not None:
                steps.append(rendered)
    return steps


def escape(message: str) -> str:
    """A regex matching `message` literally, escaping only what is special, for readability."""
    return _SPECIAL.sub(r"\\\g<0>", message)


def _statement(step: Statement, probe: str) -> str:
    if probe == NOTHING:
        return emit.statement_step(step.source)
    kind, _, message = probe.partition(": ")
    fields = [("raises", kind)]
    if message:
        fields.append(("match", emit.text(escape(message))))
    fields.append(("run", emit.run_value(step.source)))
    return emit.mapping_step(fields)


def _check(step: Check, observed: object, warning: str | None) -> str | None:
    subject: object = observed
    flags: tuple[object, ...] = ()
    if step.flags and isinstance(observed, tuple):
        subject, flags = observed[0], observed[1:]
    fields: list[emit.Field] = [("expect", emit.text(step.subject))]
    if subject is None:
        fields.append(("is_none", "true"))
    elif isinstance(subject, np.ndarray):
        dtype = str(subject.dtype)
        fields.append(("value", emit.nested(subject.tolist(), dtype)))
        fields.append(("dtype", dtype))
        fields.append(("shape", emit.sizes(subject.shape)))
        fields.extend(tolerance_fields(dtype))
    elif isinstance(subject, (bool, int, float)):
        fields.append(("value", emit.number(subject)))
    else:
        return None  # nothing that can be pinned: leave the check out
    for flag, value in zip(step.flags, flags):
        if flag == "grad_fn":
            name = value.name if isinstance(value, NodeValue) else None
            fields.append(("grad_fn", "null" if name is None else emit.text(name)))
        elif isinstance(value, bool):
            fields.append((flag, emit.flag(value)))
    if warning is not None and warning != NO_WARNING:
        kind, _, message = warning.partition(": ")
        fields.append(("warns", kind))
        if message:
            fields.append(("match", emit.text(escape(message))))
    return emit.mapping_step(fields)
