"""A generated program: spec steps as data, rendered as the spec YAML the fuzzer runs.

Each step maps to exactly one spec step, so whatever a backend did at step i of the rendered
spec belongs to `steps[i]`. While fuzzing, every statement is wrapped in a probe (see
`PROBE_EXCEPTION`) so that an error is observed, compared and stepped over rather than ending
the run; `conformance.fuzz.regression` later writes the plain, pinned form.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TypeAlias

from conformance.fuzz import emit

# While fuzzing, statements run as `raises: GeneratorExit`: no tensor library raises it, so the
# interpreter reports every outcome (nothing, or `Type: message`) as a mismatch of that step,
# and goes on. Likewise `warns: BytesWarning` on checks that read `.grad` reports what warned.
PROBE_EXCEPTION = "GeneratorExit"
PROBE_WARNING = "BytesWarning"

FLAGS = ("requires_grad", "is_leaf", "grad_fn", "retains_grad")

# (rtol, atol) for float32 checks. Backends round differently (numpy vs. SLEEF kernels, summation
# order); across a chain of ~20 ops on values bounded by domain.BOUND that stays below 1e-5
# relative. A semantic bug is off by far more. float64 checks keep the harness defaults.
FLOAT32_TOLERANCE = (1e-4, 1e-4)


@dataclass(frozen=True, slots=True)
class Statement:
    """Statements run for their effect (one line, or a `with` block).

    `stand_ins` bind the same name to a fresh leaf of the same shape and dtype instead: the
    shrinker tries them to cut a divergence loose from the steps that computed the value."""

    source: str
    ops: tuple[str, ...] = ()
    stand_ins: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Check:
    """An `expect` step: the subject's value, and optionally flags read from it.

    `dtype` is the generator's guess, used only to choose the tolerance."""

    subject: str
    flags: tuple[str, ...] = ()
    dtype: str | None = None
    reads_grad: bool = False

    @property
    def expression(self) -> str:
        if not self.flags:
            return self.subject
        return "(" + ", ".join([self.subject, *(f"{self.subject}.{f}" for f in self.flags)]) + ")"

    @property
    def ops(self) -> tuple[str, ...]:
        return ("check", *(f"check:{f}" for f in self.flags))


Step: TypeAlias = "Statement | Check"


@dataclass(frozen=True, slots=True)
class Program:
    steps: tuple[Step, ...]

    @property
    def ops(self) -> frozenset[str]:
        """Coverage labels: the ops and forms this program exercises."""
        return frozenset(op for step in self.steps for op in step.ops)

    @property
    def digest(self) -> str:
        """A short stable name for the program, from its steps."""
        listing = "\n".join(repr(step) for step in self.steps)
        return hashlib.sha256(listing.encode()).hexdigest()[:10]

    def without(self, index: int) -> Program:
        return Program(self.steps[:index] + self.steps[index + 1 :])

    def replace(self, index: int, step: Step) -> Program:
        return Program(self.steps[:index] + (step,) + self.steps[index + 1 :])

    def listing(self) -> str:
        """The program as plain lines, for messages."""
        lines = []
        for step in self.steps:
            if isinstance(step, Statement):
                lines.append(step.source.rstrip())
            else:
                lines.append(f"expect {step.expression}")
        return "\n".join(lines)


def tolerance_fields(dtype: str | None) -> list[emit.Field]:
    if dtype != "float32":
        return []
    rtol, atol = FLOAT32_TOLERANCE
    return [("rtol", emit.number(rtol)), ("atol", emit.number(atol))]


def fuzz_yaml(program: Program, scenario_id: str = "fuzz.program") -> str:
    """The probing spec the fuzzer runs on both backends (never written to disk)."""
    steps = []
    for step in program.steps:
        if isinstance(step, Statement):
            fields = [("raises", PROBE_EXCEPTION), ("run", emit.run_value(step.source))]
            steps.append(emit.mapping_step(fields))
            continue
        fields = [("expect", emit.text(step.expression)), *tolerance_fields(step.dtype)]
        if step.reads_grad:
            fields.append(("warns", PROBE_WARNING))
        steps.append(emit.mapping_step(fields))
    header = [
        ("spec", "1"),
        ("id", scenario_id),
        ("title", "A generated program"),
        ("tags", "[fuzz]"),
        ("requires", "[]"),
        ("source", "conformance fuzz"),
        ("rationale", "differential fuzzing"),
    ]
    return emit.document(header, steps)
