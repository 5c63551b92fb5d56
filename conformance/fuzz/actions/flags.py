"""A tensor's autograd state changed in place: `y.detach_()` (a non-leaf becomes a leaf that
does not require grad), `x.requires_grad_(False)` on a leaf, and `x.grad = g` with a gradient
of the right shape and dtype, or (a misuse) of another shape or dtype."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conformance.fuzz import ops
from conformance.fuzz.program import Statement

if TYPE_CHECKING:
    from conformance.fuzz.builder import Builder


def detach_(b: Builder) -> Statement | None:
    """`y.detach_()`. Not on a tensor that retains its grad (torch 2.13 trips an internal
    assert when an edit recorded on it later moves its hooks); on a view, torch refuses.
    No hook goes on it afterwards: torch shares its hooks between the node it had and the
    accumulator it gets, so a later hook would also run on the old graph, which reference
    does not copy."""
    state = b.state
    name = b.pick_tensor(lambda v: v.is_float and not v.retains and not v.inference)
    if name is None:
        return None
    value = state.values[name]
    if value.base is not None:
        return Statement(f"{name}.detach_()", ("error:detach_view",)) if b.has("errors") else None
    state.requires_grad_(name, False, detached=True)
    return Statement(f"{name}.detach_()", ("detach_",))


def no_requires_grad(b: Builder) -> Statement | None:
    """`x.requires_grad_(False)` on a leaf that requires grad: the views that follow it stop
    requiring grad too, while graphs already recorded still reach its accumulator."""
    state = b.state
    name = b.pick_tensor(lambda v: v.leaf and v.requires_grad and v.base is None)
    if name is None:
        return None
    state.requires_grad_(name, False)
    return Statement(f"{name}.requires_grad_(False)", ("requires_grad_(False)",))


GRAD_FORMS = ("fits", "fits", "shape", "dtype")


def assign_grad(b: Builder) -> Statement | None:
    """`x.grad = g`: then a backward accumulates into `g`'s values (a misuse raises)."""
    state = b.state
    name = b.pick_tensor(lambda v: v.is_float and not v.inference)
    if name is None:
        return None
    value = state.values[name]
    forms = GRAD_FORMS if b.has("errors") else GRAD_FORMS[:2]
    form = b.one(forms if b.can("float64") else [f for f in forms if f != "dtype"])
    shape, dtype = value.shape, value.dtype
    if form == "shape":
        shape = (*shape[:-1], shape[-1] + 1) if shape else (2,)
    elif form == "dtype":
        dtype = "float64" if dtype == "float32" else "float32"
    source = ops.with_options(ops.filled("randn", shape), dtype, False)
    if form != "fits":
        return Statement(f"{name}.grad = {source}", (f"error:grad_{form}",))
    state.grads.add(name)
    return Statement(f"{name}.grad = {source}", ("grad=",))
