"""The action catalogue: what a program can do next, by area (`values`, `inplace`,
`backward`, `higher`, `flags`, `hooks`, `misuse`, `checks`, `modes`), drawn from one
weighted table.

A row offers its action when the session has its feature groups (`--tag`, `--skip`) and
both backends have its capability, and when the program so far gives it something to work
on (`ready`). Among the rows on offer, an action is drawn in proportion to its weight; rows
come simplest first, which is where hypothesis shrinks to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from conformance.fuzz.actions import (
    backward,
    checks,
    data,
    edges,
    flags,
    higher,
    hooks,
    inplace,
    misuse,
    modes,
    values,
)
from conformance.fuzz.program import Step

if TYPE_CHECKING:
    from conformance.fuzz.builder import Builder

Action = Callable[["Builder"], "Step | None"]


@dataclass(frozen=True, slots=True)
class Row:
    """An action, its weight, the feature groups and capability it needs, and when it has
    something to work on."""

    action: Action
    weight: int
    features: tuple[str, ...] = ()
    capability: str | None = None
    ready: Callable[[Builder], bool] | None = None

    def offered(self, b: Builder) -> bool:
        if not all(b.has(feature) for feature in self.features):
            return False
        if self.capability is not None and not b.can(self.capability):
            return False
        return self.ready is None or self.ready(b)


def _poisoned(b: Builder) -> bool:
    return bool(b.state.tensors(b.state.is_poisoned, poisoned=True))


TABLE = (
    Row(checks.check, 2),
    Row(values.leaf, 1),
    Row(backward.backward, 3),
    Row(checks.check_grad, 2),
    Row(values.unary, 2, ("ops",)),
    Row(values.scalar, 2, ("ops",)),
    Row(values.binary, 2, ("ops",)),
    Row(values.matmul, 1, ("matmul",)),
    Row(values.reduce, 2, ("reductions",)),
    Row(values.view, 1, ("views",)),
    Row(values.view, 2, ("views", "inplace"), "inplace"),  # more views to edit through
    Row(modes.grad_mode, 1, ("grad_mode",), "grad_mode"),
    Row(modes.nograd_view, 1, ("grad_mode", "views", "nograd_views"), "grad_mode"),
    Row(backward.grad_result, 2, (), None, lambda b: bool(b.held.results)),
    Row(backward.backward_again, 1, ("retain_graph",), None, lambda b: bool(b.state.roots)),
    Row(backward.zero_grad, 1, ("zero_grad",), None, lambda b: bool(b.state.grads)),
    Row(backward.retain_grad, 1, ("retain_grad",), "retain_grad"),
    Row(values.detach, 1, ("detach",)),
    Row(inplace.inplace, 3, ("inplace",), "inplace"),
    Row(hooks.hook, 2, ("hooks",), "hooks"),
    Row(hooks.kept_gradient, 3, ("hooks",), "hooks", lambda b: bool(b.held.filled)),
    Row(hooks.remove_hook, 1, ("hooks",), "hooks", lambda b: bool(b.held.live())),
    Row(edges.edge_leaf, 1, ("edges",)),
    Row(edges.edge_op, 2, ("edges",), None, lambda b: any(n in b.state.values for n in b.zeros)),
    Row(data.assign_data, 1, ("data",)),
    Row(data.edit_data, 1, ("data",), "inplace"),
    Row(backward.multi_root, 1, ("backward_inputs",), "autograd_grad"),
    Row(backward.hold_grad, 1, ("held_grads",), None, lambda b: bool(b.state.grads)),
    Row(backward.named_gradient, 1, ("held_grads",)),
    Row(misuse.misuse, 1, ("errors",)),
    Row(misuse.misuse_poisoned, 1, ("errors", "nograd_views"), None, _poisoned),
    Row(higher.higher_grad, 2, ("higher_order",), "create_graph"),
    Row(flags.detach_, 1, ("detach",)),
    Row(flags.no_requires_grad, 1, ("detach",), "requires_grad"),
    Row(flags.assign_grad, 1, ("zero_grad",)),
)

# What a grad-mode block holds: ops, quiet in-place edits, and (under no_grad) views.
BLOCK = (
    Row(values.unary, 1),
    Row(values.scalar, 1),
    Row(values.binary, 1),
    Row(inplace.quiet_inplace, 2, ("inplace",), "inplace"),
    Row(values.view, 1, ("views", "nograd_views")),
)

# What an inference_mode block holds: ops, and in-place edits (torch records neither).
INFERENCE_BLOCK = BLOCK[:4]


def draw_action(b: Builder, table: tuple[Row, ...] = TABLE) -> Step | None:
    """Draw an action from the rows on offer and run it."""
    action = b.weighted([(row.action, row.weight) for row in table if row.offered(b)])
    return action(b)
