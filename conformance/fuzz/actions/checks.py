"""Checks of what can be observed: values and their flags, `.grad`s, grad mode, the
gradients someone holds, and the sweep that ends a program."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conformance.fuzz.program import FLAGS, Check, Statement, Step

if TYPE_CHECKING:
    from conformance.fuzz.builder import Builder

FLAG_CAPABILITIES = {
    "requires_grad": "requires_grad",
    "is_leaf": "grad_fn",
    "grad_fn": "grad_fn",
    "retains_grad": "retain_grad",
}
HELD_EDITS = ("check", "zero_()", "mul_(2)", "add_(1)")


def check(b: Builder) -> Check | None:
    mode = b.has("grad_mode") and b.can("grad_mode")
    kinds = ("value", "grad", "grad_mode") if mode else ("value", "grad")
    kind = b.one(kinds)
    if kind == "grad_mode":
        return Check("is_grad_enabled()")
    name = b.pick_tensor()
    if b.touched and b.flip():  # what the last in-place edit changed
        name = b.one(b.touched)
    if name is None:
        return None
    value = b.state.values[name]
    if kind == "grad":
        return Check(f"{name}.grad", (), value.dtype, reads_grad=not value.leaf)
    flags = [f for f in FLAGS if b.can(FLAG_CAPABILITIES[f])]
    if b.state.poisoned(name):  # both read grad_fn, which torch refuses
        flags = [f for f in flags if f not in ("is_leaf", "grad_fn")]
    chosen = tuple(f for f in flags if b.flip())
    return Check(name, chosen, value.dtype)


def check_grad(b: Builder) -> Check | None:
    """A `.grad` check, mostly of a leaf that requires grad: where backward bugs show."""
    name = b.pick_tensor(lambda v: v.leaf and v.requires_grad)
    if name is None:
        return None
    return Check(f"{name}.grad", (), b.state.values[name].dtype)


def check_or_edit(b: Builder, subject: str, dtype: str, label: str) -> Step:
    """A gradient someone holds, checked, or edited in place and checked at the end."""
    edit = b.one(HELD_EDITS)
    if edit == "check":
        return Check(subject, (), dtype)
    b.held.edited[subject] = dtype
    return Statement(f"{subject}.{edit}", (label,))


def sweep(b: Builder) -> None:
    """Check every leaf's `.grad` at the end, the value of every name whose memory an
    in-place edit changed (a view that missed its base's edit shows here), and the last
    gradient each record hook kept."""
    held = b.held
    for name in b.edited:
        b.steps.append(Check(name, (), b.state.values[name].dtype))
    for subject, dtype in held.edited.items():
        b.steps.append(Check(subject, (), dtype))
    for name, dtype in held.references.items():  # `.grad`s the caller kept
        if name not in held.edited:
            b.steps.append(Check(name, (), dtype))
    for name, dtypes in held.results.items():  # what autograd.grad returned
        for index, dtype in enumerate(dtypes):
            if f"{name}[{index}]" not in held.edited:
                b.steps.append(Check(f"{name}[{index}]", (), dtype))
    for name in held.filled:  # what the last call of each record hook was shown
        kept = held.kept[name]
        if held.edited_list(name):
            continue
        # one tensor per check, which a regression spec can pin (a tuple it cannot)
        for which in kept.shown:
            b.steps.append(Check(kept.gradient(f"{name}[-1]", which), (), kept.dtype))
    for name, value in b.state.values.items():
        if value.leaf and value.is_float:
            b.steps.append(Check(f"{name}.grad", (), value.dtype))
