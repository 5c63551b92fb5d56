"""Counters for a fuzzing session: programs run, per-op coverage, divergences, speed."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from conformance.fuzz.program import Program

EDIT_OPS = ("add_", "sub_", "mul_", "div_")


def _is_edit_label(label: str) -> bool:
    return (
        label in EDIT_OPS
        or label.startswith(("inplace:", "error:inplace"))
        or label
        in (
            "augmented",
            "copy_slices",
            "modified_saved",
        )
    )


# coverage labels of the newer areas, summed over steps: views made under no_grad,
# edits through inline views, backward(inputs=...)
_AREAS = {
    "nograd_view": "no_grad views made",
    "nograd_view:of_view": "views of them",
    "nograd_view:edited": "edits that poison one",
    "error:inplace_nograd_view": "edited under grad mode (error)",
    "error:nograd_view_rebased": "used after an edit (error)",
    "inplace:temp_view": "edits through an inline view",
    "backward(inputs)": "backward(inputs=...)",
    "autograd.backward": "autograd.backward(...)",
    "inputs:leaf": "leaf inputs",
    "inputs:nonleaf": "non-leaf inputs",
    "inputs:unreached": "unreached inputs",
    "error:empty_inputs": "inputs=[] (error)",
    "error:inputs_no_grad": "an input without grad (error)",
}


@dataclass
class Stats:
    started: float = 0.0
    elapsed: float = 0.0
    searched: float = 0.0  # seconds until the first divergence, or the whole session
    programs: int = 0  # generated and run while searching
    shrink_runs: int = 0  # runs spent shrinking a divergence
    steps: int = 0
    divergences: int = 0
    oracle_faults: int = 0  # programs the oracle crashed or hung on, so nothing was judged
    coverage: Counter[str] = field(default_factory=Counter)
    edits: Counter[str] = field(default_factory=Counter)  # in-place edits, by op and target
    areas: Counter[str] = field(default_factory=Counter)  # steps using each `_AREAS` label

    def record(
        self, program: Program, diverged: bool, shrinking: bool, oracle_failed: bool = False
    ) -> None:
        self.oracle_faults += oracle_failed
        if shrinking:
            self.shrink_runs += 1
            return
        self.programs += 1
        self.steps += len(program.steps)
        self.coverage.update(program.ops)
        for step in program.steps:  # a `with` block lists each edit in it
            self.edits.update(label for label in step.ops if _is_edit_label(label))
            self.areas.update(label for label in step.ops if label in _AREAS)

    def finish(self) -> Stats:
        self.elapsed = time.perf_counter() - self.started
        self.searched = self.searched or self.elapsed
        return self

    @property
    def rate(self) -> float:
        """Programs per second while searching (both backends, generation included)."""
        elapsed = self.searched or (time.perf_counter() - self.started)
        return self.programs / elapsed if elapsed > 0 else 0.0

    def summary(self) -> str:
        lines = [
            f"programs run: {self.programs} ({self.steps} steps, {self.rate:.0f} programs/s)",
            f"shrinking runs: {self.shrink_runs}",
            f"elapsed: {self.elapsed:.1f} s",
            f"divergences found: {self.divergences}",
        ]
        if self.oracle_faults:
            lines.append(
                f"oracle faults: {self.oracle_faults} programs crashed or hung the oracle, "
                "so they judged nothing"
            )
        total = sum(self.edits[op] for op in EDIT_OPS)
        if total:
            ops = ", ".join(f"{op} {self.edits[op]}" for op in EDIT_OPS)
            lines.append(
                f"in-place edits: {total} ({ops}; {self.edits['augmented']} as += -= *= /=)"
            )
            kinds = sorted(
                ((label.removeprefix("inplace:"), count) for label, count in self.edits.items()
                 if label.startswith("inplace:") or label.startswith("error:")
                 or label in ("copy_slices", "modified_saved")),
                key=lambda item: (-item[1], item[0]),
            )  # fmt: skip
            lines.append("  " + ", ".join(f"{name} {count}" for name, count in kinds))
        if self.areas:
            shown = ", ".join(f"{text} {self.areas[label]}" for label, text in _AREAS.items())
            lines.append(f"no_grad views, inline-view edits, backward(inputs=): {shown}")
        lines.append("coverage (programs using each op or form):")
        ordered = sorted(self.coverage.items(), key=lambda item: (-item[1], item[0]))
        width = max((len(name) for name, _ in ordered), default=0)
        lines.extend(f"  {name:<{width}}  {count}" for name, count in ordered)
        return "\n".join(lines)
