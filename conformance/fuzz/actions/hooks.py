"""Hooks: `scale(k)` on a tensor changes the gradient that flows on; `record(kept)` on a
tensor or its `grad_fn` node keeps the gradients it is shown, which are then checked and
edited in place; handles remove them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conformance.fuzz.actions.checks import check_or_edit
from conformance.fuzz.held import Kept
from conformance.fuzz.program import Statement, Step

if TYPE_CHECKING:
    from conformance.fuzz.builder import Builder

SCALES = ("2", "0.5", "-1")
NODE_HOOKS = ("pre", "post")


def hook(b: Builder) -> Statement | None:
    """A tensor hook: `scale(k)`, or `record(kept)`, which keeps the gradient as the engine
    hands it out (its own tensor, or a view such as a sum's expanded one)."""
    names = [
        name
        for name in b.state.tensors(lambda v: v.requires_grad and v.is_float and not v.detached)
        if not stale_view(b, name)
    ]
    name = b.pick(names if b.flip() else names[-2:])
    if name is None:
        return None
    value = b.state.values[name]
    handle = b.state.name("h")
    where = "hook:leaf" if value.leaf else "hook:nonleaf"
    if b.flip():
        source = f"{handle} = {name}.register_hook(scale({b.one(SCALES)}))"
        return Statement(source, ("hook:scale", where))
    kept = b.state.name("kept")
    on = "tensor"
    if value.node is not None and b.can("node_hooks") and b.flip():
        on = b.one(NODE_HOOKS)
    b.held.kept[kept] = Kept(name, value.node, value.dtype, handle, on)
    if on == "tensor":
        source = f"{handle} = {name}.register_hook(record({kept}))"
        return Statement(source, ("hook:record", where))
    method = "register_prehook" if on == "pre" else "register_hook"
    source = f"{handle} = {name}.grad_fn.{method}(record({kept}))"
    return Statement(source, (f"hook:node_{on}",))


def stale_view(b: Builder, name: str) -> bool:
    """A view whose memory an in-place edit changed: torch 2.13 and 2.14 crash (SIGSEGV)
    registering a hook on a view whose history an edit through an alias left to be
    refreshed (pytorch/pytorch#196459), so no hook goes on one."""
    return b.state.values[name].base is not None and name in b.edited


def remove_hook(b: Builder) -> Statement | None:
    name = b.pick(b.held.live())
    if name is None:
        return None
    kept = b.held.kept[name]
    kept.removed = True
    return Statement(f"{kept.handle}.remove()", ("hook:remove",))


def kept_gradient(b: Builder) -> Step | None:
    """A kept gradient, checked or edited in place. Which edits succeed, and what else
    they change (a `.grad` that shares its memory, a later gradient), is the engine's
    layout of gradients, compared with torch's."""
    name = b.pick(list(b.held.filled))
    if name is None:
        return None
    kept = b.held.kept[name]
    subject = kept.gradient(f"{name}[{b.one(['0', '-1'])}]", b.one(["0", "1"]))
    return check_or_edit(b, subject, kept.dtype, "hook:edit_kept")
