"""Loaded scenarios: frozen dataclasses, so nothing downstream can change a spec by accident."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeAlias

from conformance.errors import Location
from conformance.spec.language import Expr, Stmt


@dataclass(frozen=True, slots=True)
class Run:
    """A string step: statements run for their effect."""

    where: Location
    source: str
    body: tuple[Stmt, ...]


@dataclass(frozen=True, slots=True)
class MetaCheck:
    """One metadata key of an `expect` step (`requires_grad: false`, `grad_fn: null`, ...)."""

    key: str
    expected: object


@dataclass(frozen=True, slots=True)
class Pattern:
    """A warning category or exception type, by name, and an optional message regex."""

    name: str
    match: re.Pattern[str] | None

    def describe(self) -> str:
        return self.name + (f" matching {self.match.pattern!r}" if self.match else "")


@dataclass(frozen=True, slots=True)
class NoWarning:
    """`warns: none` — the step must emit no warning at all, so a backend that warns where
    torch stays silent is caught."""

    def describe(self) -> str:
        return "no warning"


WarningCheck: TypeAlias = "Pattern | NoWarning"


@dataclass(frozen=True, slots=True)
class Expect:
    """An `expect` step. With `pinned` False the value is compared with the baseline backend's."""

    where: Location
    index: int
    source: str
    expr: Expr
    pinned: bool
    value: object
    meta: tuple[MetaCheck, ...]
    rtol: float | None
    atol: float | None
    warns: WarningCheck | None

    @property
    def cross_backend(self) -> bool:
        return not self.pinned and not any(
            check.key == "is_none" and check.expected is True for check in self.meta
        )


@dataclass(frozen=True, slots=True)
class Raises:
    """`raises:` — `run` must raise this exception type (or a subclass) with a matching message."""

    where: Location
    source: str
    body: tuple[Stmt, ...]
    expected: Pattern


@dataclass(frozen=True, slots=True)
class Warns:
    """`warns:` without `expect` — `run` must emit this warning (or, with `warns: none`,
    none at all)."""

    where: Location
    source: str
    body: tuple[Stmt, ...]
    expected: WarningCheck


Step: TypeAlias = "Run | Expect | Raises | Warns"


@dataclass(frozen=True, slots=True)
class Scenario:
    """One spec file. `uses` holds the capabilities its steps need, found by the compiler.
    `torch_versions` is the spec's `torch:` range (checked PEP 440 text), or None for all."""

    id: str
    title: str
    tags: tuple[str, ...]
    requires: frozenset[str]
    uses: frozenset[str]
    source: str
    rationale: str
    seed: int
    steps: tuple[Step, ...]
    where: Location
    torch_versions: str | None = None

    @property
    def needs(self) -> frozenset[str]:
        """Every capability a backend must have to run this scenario meaningfully."""
        return self.requires | self.uses

    @property
    def has_cross_checks(self) -> bool:
        return any(isinstance(step, Expect) and step.cross_backend for step in self.steps)
