"""A fuzzing session: hypothesis draws programs, `Differential` runs them, and the first
divergence is shrunk, first by hypothesis and then step by step, to a minimal program.

A session is deterministic for a seed. Hypothesis's example database (a folder) remembers
failing programs, so a later session with the same backends replays them first.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.database import DirectoryBasedExampleDatabase

from conformance.errors import SpecError
from conformance.fuzz.differential import Differential, Verdict
from conformance.fuzz.generator import Config, programs
from conformance.fuzz.program import Program, Statement
from conformance.fuzz.stats import Stats


@dataclass(frozen=True, slots=True)
class Options:
    max_examples: int = 200
    seed: int = 0
    database: Path | None = None
    config: Config = field(default_factory=Config)


@dataclass(frozen=True, slots=True)
class Result:
    stats: Stats
    verdict: Verdict | None  # the minimal diverging program's verdict, if any


class _Diverged(Exception):
    """Raised inside the hypothesis test so that it shrinks the program."""


def fuzz(
    differential: Differential,
    options: Options,
    on_progress: Callable[[Stats], None] | None = None,
) -> Result:
    """Run up to `options.max_examples` programs; shrink the first divergence."""
    stats = Stats(started=time.perf_counter())
    failing: list[Verdict] = []

    def check(program: Program) -> None:
        verdict = differential.run(program)
        if not failing and verdict.diverged:
            stats.searched = time.perf_counter() - stats.started
        stats.record(program, verdict.diverged, bool(failing), verdict.oracle_failed)
        if on_progress is not None:
            on_progress(stats)
        if verdict.diverged:
            failing.append(verdict)
            raise _Diverged()

    # The database keys examples by the test; this keeps each backend pair and config apart.
    config = options.config
    key = "|".join(
        [
            differential.tested.name,
            differential.oracle.name,
            ",".join(sorted(config.features)),
            ",".join(sorted(config.capabilities)),
            str(config.max_actions),
        ]
    )
    check._hypothesis_internal_add_digest = key.encode()  # type: ignore[attr-defined]
    database = DirectoryBasedExampleDatabase(str(options.database)) if options.database else None
    search = settings(
        max_examples=options.max_examples,
        database=database,
        deadline=None,
        derandomize=False,
        phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        verbosity=Verbosity.quiet,
        print_blob=False,
    )(hypothesis_seed(options.seed)(given(programs(options.config))(check)))
    with contextlib.suppress(_Diverged):
        search()
    if not failing:
        return Result(stats.finish(), None)
    # Hypothesis replays the minimal example last; then drop steps it could not.
    minimal = minimize(failing[-1], differential, stats)
    stats.divergences = 1
    return Result(stats.finish(), minimal)


def minimize(verdict: Verdict, differential: Differential, stats: Stats) -> Verdict:
    """Delete single steps, then single lines of `with` blocks, while the program still
    diverges, until none can go."""
    changed = True
    while changed:
        changed = False
        for candidate in _smaller(verdict.program):
            try:
                tried = differential.run(candidate)
            except SpecError:
                continue  # a later step uses a name the deleted one binds
            stats.record(candidate, tried.diverged, True, tried.oracle_failed)
            if tried.diverged:
                verdict, changed = tried, True
                break
    return verdict


def _smaller(program: Program) -> Iterator[Program]:
    """Simpler programs, later steps first: one step fewer, a computed value replaced by a
    fresh leaf (which frees the steps that computed it), one line of a `with` block fewer."""
    steps = program.steps
    for index in reversed(range(len(steps))):
        yield program.without(index)
    for index in reversed(range(len(steps))):
        step = steps[index]
        if isinstance(step, Statement):
            for stand_in in step.stand_ins:
                yield program.replace(index, Statement(stand_in, ("leaf:randn",)))
    for index in reversed(range(len(steps))):
        step = steps[index]
        if not isinstance(step, Statement) or "\n" not in step.source:
            continue
        lines = step.source.splitlines()
        for line in reversed(range(1, len(lines))):
            if lines[line].lstrip().startswith("with ") or _is_last_in_block(lines, line):
                continue
            source = "\n".join(lines[:line] + lines[line + 1 :])
            yield program.replace(index, Statement(source, step.ops))


def _is_last_in_block(lines: list[str], line: int) -> bool:
    """Whether deleting `lines[line]` would leave its `with` block empty."""
    depth = _indent(lines[line])
    before = _indent(lines[line - 1])
    after = _indent(lines[line + 1]) if line + 1 < len(lines) else 0
    return before < depth and after < depth


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())
