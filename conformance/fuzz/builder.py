"""What an action draws with and writes into: the program so far, the model of its state, and
the choices hypothesis makes.

Every choice goes through `between`, over cached integer strategies, so hypothesis shrinks
each one towards its first option: the simplest action, form or operand.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hypothesis import strategies as st

from conformance.fuzz import ops
from conformance.fuzz.features import ALL_FEATURES
from conformance.fuzz.held import Held
from conformance.fuzz.program import Step
from conformance.fuzz.state import State, Value

Draw = Callable[[st.SearchStrategy[Any]], Any]
T = TypeVar("T")
_BOOLEANS = st.booleans()
_integers = functools.lru_cache(maxsize=None)(st.integers)


@dataclass(frozen=True, slots=True)
class Config:
    """What to generate: feature groups, the capabilities both backends share, and size."""

    features: frozenset[str] = ALL_FEATURES
    capabilities: frozenset[str] = frozenset(
        {"float64", "int_dtypes", "retain_grad", "inplace", "version_counter", "hooks"}
        | {"node_hooks", "grad_mode", "requires_grad", "grad_fn"}
    )
    max_actions: int = 16


@dataclass
class Builder:
    """A program being drawn: its steps, the model of its state (`State`), the model of the
    gradients someone holds (`Held`), and what in-place edits changed."""

    draw: Draw
    config: Config
    state: State = field(default_factory=State)
    held: Held = field(default_factory=Held)
    steps: list[Step] = field(default_factory=list)
    touched: list[str] = field(default_factory=list)  # names the last in-place edit changed
    edited: dict[str, None] = field(default_factory=dict)  # names any edit changed, in order
    hidden: set[str] = field(default_factory=set)  # the model's names for inline views
    zeros: list[str] = field(default_factory=list)  # leaves that hold a 0 (edge values)

    def has(self, feature: str) -> bool:
        return feature in self.config.features

    def can(self, capability: str) -> bool:
        return capability in self.config.capabilities

    def sweep(self) -> None:
        """The checks that end a program (see `conformance.fuzz.actions.checks.sweep`)."""
        from conformance.fuzz.actions.checks import sweep

        sweep(self)

    # --- choosing ---------------------------------------------------------------------------

    def flip(self) -> bool:
        return bool(self.draw(_BOOLEANS))

    def between(self, low: int, high: int) -> int:
        return int(self.draw(_integers(low, high)))

    def one_in(self, count: int) -> bool:
        """True with chance 1/count (shrinks to True: the rarer branch is the simpler one)."""
        return self.between(0, count - 1) == 0

    def one(self, items: Sequence[T]) -> T:
        """An item; hypothesis shrinks towards the first. (An index into a cached strategy:
        building a `sampled_from` for each draw costs more than running the program.)"""
        return items[self.between(0, len(items) - 1)]

    def weighted(self, items: Sequence[tuple[T, int]]) -> T:
        """An item, drawn in proportion to its weight; shrinks towards the first."""
        index = self.between(0, sum(weight for _, weight in items) - 1)
        for item, weight in items:
            if index < weight:
                return item
            index -= weight
        raise AssertionError("unreachable: the index lies below the total weight")

    def choose(self, choices: list[ops.Applied]) -> ops.Applied:
        """One op, then one of its forms, so an op with many forms is not drawn more often."""
        groups: dict[str, list[ops.Applied]] = {}
        for choice in choices:
            groups.setdefault(choice.labels[0], []).append(choice)
        return self.one(groups[self.one(list(groups))])

    def retain(self) -> bool:
        """Whether a backward keeps its graph. Always, once a gradient with a graph of its own
        exists: an engine records its own nodes for a backward formula (torch's double
        backward), so which of them a backward frees, and which freed node a later one meets
        first, is the engine's business."""
        if self.state.higher:
            return True
        return self.has("retain_graph") and self.flip()

    def pick(self, names: list[str]) -> str | None:
        return self.one(names) if names else None

    def pick_tensor(self, predicate: Callable[[Value], bool] | None = None) -> str | None:
        """A bound tensor; half the time one of the two newest, so ops form chains."""
        names = self.state.tensors(predicate)
        return self.pick(names if self.flip() else names[-2:])

    def dtype(self) -> str:
        choices = ["float32"]
        if self.has("dtypes") and self.can("float64"):
            choices.append("float64")
        if self.has("dtypes") and self.can("int_dtypes"):
            choices.append("int64")
        return self.one(choices)

    def shape(self) -> tuple[int, ...]:
        return tuple(self.between(1, 3) for _ in range(self.between(0, 3)))
