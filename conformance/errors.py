"""The two kinds of user mistake the harness reports without a traceback."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Location:
    """A file and a 1-based line: where a spec says something."""

    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


class SpecError(Exception):
    """A mistake in a spec file. The message starts with `file:line:`."""

    def __init__(self, where: Location | None, problem: str) -> None:
        self.where = where
        self.problem = problem
        super().__init__(f"{where}: {problem}" if where else problem)


class SpecErrors(SpecError):
    """Mistakes in several spec files, reported together so one run shows them all."""

    def __init__(self, errors: Sequence[SpecError]) -> None:
        self.errors = tuple(errors)
        lines = [str(error) for error in self.errors]
        if len(lines) > 1:
            lines.append(f"{len(lines)} spec errors")
        SpecError.__init__(self, None, "\n".join(lines))


class UsageError(Exception):
    """A bad command line or backend name: the CLI prints it and exits with 2."""
