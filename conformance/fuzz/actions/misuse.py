"""Misuses: statements torch rejects, whose error type and message are compared."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from conformance.fuzz import ops
from conformance.fuzz.program import Statement

if TYPE_CHECKING:
    from conformance.fuzz.builder import Builder


def misuse(b: Builder) -> Statement | None:
    """One misuse, drawn by weight from `MISUSES`."""
    chosen = b.weighted(MISUSES)
    if b.has("nograd_views") and b.flip():
        found = misuse_poisoned(b)  # one is rare: give it its chance
        if found is not None:
            return found
    return chosen(b)


def implicit_grad(b: Builder) -> Statement | None:
    """`y.backward()` on more than one element."""
    name = b.pick_tensor(lambda v: v.requires_grad and v.numel > 1)
    return Statement(f"{name}.backward()", ("error:implicit_grad",)) if name else None


def nonleaf_requires_grad(b: Builder) -> Statement | None:
    name = b.pick_tensor(lambda v: not v.leaf) if b.can("requires_grad") else None
    if name is None:
        return None
    return Statement(f"{name}.requires_grad = False", ("error:nonleaf_requires_grad",))


def gradient_shape(b: Builder) -> Statement | None:
    """`y.backward(gradient)` with a gradient of the wrong shape."""
    name = b.pick_tensor(lambda v: v.requires_grad and v.numel > 1)
    if name is None:
        return None
    shape = b.state.values[name].shape
    wrong = (*shape[:-1], shape[-1] + 1)
    return Statement(f"{name}.backward({ops.filled('ones', wrong)})", ("error:gradient_shape",))


def broadcast(b: Builder) -> Statement | None:
    """`y + ones(...)` of a shape that does not broadcast."""
    name = b.pick_tensor(lambda v: len(v.shape) >= 1 and v.shape[-1] > 1)
    if name is None:
        return None
    shape = b.state.values[name].shape
    other = (*shape[:-1], shape[-1] + 1)
    return Statement(f"{name} + {ops.filled('ones', other)}", ("error:broadcast",))


def no_grad_root(b: Builder) -> Statement | None:
    """A backward from a tensor that does not require grad."""
    name = b.pick_tensor(lambda v: not v.requires_grad)
    return Statement(f"{name}.sum().backward()", ("error:no_grad_root",)) if name else None


def misuse_inputs(b: Builder) -> Statement | None:
    """`backward(inputs=[])`, or an input that does not require grad."""
    if not b.has("backward_inputs"):
        return None
    root = b.pick_tensor(lambda v: v.rootable)
    if root is None:
        return None
    expression = root if b.state.values[root].numel == 1 else f"{root}.sum()"
    # any such tensor, not mostly the newest: they are few, as most values require grad
    other = b.pick(b.state.tensors(lambda v: not v.requires_grad and v.is_float))
    if b.flip():
        return Statement(f"{expression}.backward(inputs=[])", ("error:empty_inputs",))
    other = other or ops.filled("ones", (2,))  # most values require grad: a constant then
    return Statement(f"{expression}.backward(inputs=[{other}])", ("error:inputs_no_grad",))


def misuse_poisoned(b: Builder) -> Statement | None:
    """A no_grad view whose memory was edited, used where grad mode records it."""
    if not b.has("nograd_views"):
        return None
    name = b.pick(b.state.tensors(b.state.is_poisoned, poisoned=True))
    if name is None:
        return None
    source = b.one([f"{name} * 2", f"{name}.sum()", f"{name}.exp()"])
    return Statement(source, ("error:nograd_view_rebased",))


MISUSES: tuple[tuple[Callable[[Builder], Statement | None], int], ...] = (
    (implicit_grad, 1),
    (nonleaf_requires_grad, 1),
    (gradient_shape, 1),
    (broadcast, 1),
    (no_grad_root, 1),
    (misuse_inputs, 1),
    (misuse_poisoned, 1),
)
