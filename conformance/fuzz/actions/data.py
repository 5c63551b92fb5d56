"""`.data`: assigning a new tensor (`x.data = randn(2, 3)`: `x` takes new memory, its old
aliases keep the old values) and editing through it (`x.data.mul_(2)`: no version moves, no
error for a leaf, and a node that saved the memory uses the new values)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from conformance.fuzz import ops
from conformance.fuzz.actions.values import inline_partner
from conformance.fuzz.domain import Interval
from conformance.fuzz.program import Statement

if TYPE_CHECKING:
    from conformance.fuzz.builder import Builder

EDITS = ("mul", "add", "sub")


def _finite(b: Builder, name: str) -> bool:
    """Every name sharing the memory has a finite bound (edge values may hold nan)."""
    return all(
        math.isfinite(b.state.values[n].bound.lo) and math.isfinite(b.state.values[n].bound.hi)
        for n in b.state.aliases(name)
    )


def assign_data(b: Builder) -> Statement | None:
    """`x.data = t`, `t` a new tensor of `x`'s shape and dtype, on a tensor that is not a view
    and has none (their history would follow memory `x` no longer has). Not on an inference
    tensor: torch 2.13 leaves one that took a normal tensor's data half of each (a later view
    of it raises "Inference tensors do not track version counter")."""
    state = b.state

    def fits(name: str) -> bool:
        value = state.values[name]
        if not value.is_float or value.base is not None or value.nograd or value.inference:
            return False
        return not any(v.base == name for v in state.values.values()) and _finite(b, name)

    target = b.pick([n for n in state.tensors() if fits(n) and n not in b.hidden])
    if target is None:
        return None
    value = state.values[target]
    source, new = inline_partner(b, value, value.shape)
    aliases = [n for n in state.aliases(target) if n != target]
    state.assign_data(target, new.bound)
    b.touched = [target, *aliases]
    b.edited.update(dict.fromkeys(b.touched))
    labels = ("data=",) + (("data=:aliased",) if aliases else ())
    return Statement(f"{target}.data = {source}", labels)


def edit_data(b: Builder) -> Statement | None:
    """`x.data.mul_(c)`: an edit no version counter sees."""
    state = b.state
    target = b.pick_tensor(lambda v: v.is_float)
    if target is None or target in b.hidden or not _finite(b, target):
        return None
    value = state.values[target]
    op = b.one(EDITS)
    scalar = b.one(ops.INPLACE_SCALARS[op])
    choices = [
        c for c in ops.inplace_choices(value, Interval(scalar, scalar), scalar) if c.op == op
    ]
    if not choices:
        return None
    aliases = state.write(target, choices[0].bound)
    b.touched = aliases
    b.edited.update(dict.fromkeys(aliases))
    saved = ("data:saved",) if state.savers.get(value.storage) else ()
    return Statement(f"{target}.data.{op}_({scalar})", ("data:edit", *saved))
