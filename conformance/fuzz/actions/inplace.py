"""In-place edits: `t.mul_(c)`, `t += u`, ... on non-leaves, constants, views, bases of views,
detached aliases and memory saved for backward, in and out of grad mode; a leaf that requires
grad (an error) now and then."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conformance.fuzz import ops
from conformance.fuzz.actions.values import inline_partner, temporary_view
from conformance.fuzz.domain import Interval, span
from conformance.fuzz.program import Statement
from conformance.fuzz.state import Edit, Value

if TYPE_CHECKING:
    from conformance.fuzz.builder import Builder

# Which names an edit aims at, by weight: any name, a view, memory other names share (a base
# of views, or a detached alias that is neither view nor base), memory a node saved for
# backward (the version counter's case).
TARGETS = (("any", 1), ("view", 1), ("shared", 1), ("alias", 1), ("saved", 1))


def inplace(b: Builder, quiet: bool = False) -> Statement | None:
    """An edit of a drawn target, directly or through a view written inline. `quiet`:
    inside a `with` block, where an error would skip the block's other lines."""
    state = b.state
    misuse = not quiet and b.has("errors") and b.one_in(8)

    def editable(name: str) -> bool:
        edit = state.classify(name, None)
        copy_slices = edit.recorded and edit.through_view and edit.error is None
        if copy_slices and not b.has("copy_slices"):
            return False
        return (edit.error is not None) == misuse

    aim = b.weighted(TARGETS)
    if aim == "view":
        names = [n for n in state.tensors() if state.values[n].base is not None]
    elif aim == "saved":
        names = [n for n in state.tensors() if state.savers.get(state.values[n].storage)]
    elif aim == "shared":
        names = [n for n in state.tensors() if len(state.aliases(n)) > 1]
    elif aim == "alias":
        bases = {value.base for value in state.values.values()}
        names = [
            n
            for n in state.tensors()
            if len(state.aliases(n)) > 1 and state.values[n].base is None and n not in bases
        ]
    else:
        names = state.tensors()
    names = [n for n in names if editable(n)] or [n for n in state.tensors() if editable(n)]
    if misuse and b.flip():  # editing a no_grad view under grad mode, if there is one
        names = [n for n in names if state.values[n].nograd] or names
    target = b.pick(names if b.flip() else names[-2:])
    if target is None:
        return None
    temporary = temporary_view(b, target) if b.has("views") and b.one_in(4) else None
    if temporary is None:
        return edit_through(b, target, target, misuse, quiet)
    source, made = temporary
    try:
        return edit_through(b, made[-1], source, misuse, quiet, temporary=True)
    finally:
        for name in made:
            del state.values[name]


# Edits whose outcome is an engine's own business, which the fuzzer does not draw:
# - of an inference tensor outside inference mode: torch raises only after the kernel wrote
#   the tensor (at the version bump), which no engine should have to copy; the specs check
#   the error alone;
# - of memory a node saved, once a gradient with a graph of its own exists: whether a backward
#   through that graph finds the edit depends on which tensors the engine's nodes for the
#   backward formulas saved (torch's TanhBackwardBackward0 saves tanh's result; an engine
#   that records `g * (1 - y * y)` saves a product instead).
UNSPECIFIED = "error:inference_inplace"


def quiet_inplace(b: Builder) -> Statement | None:
    return inplace(b, quiet=True)


def edit_through(
    b: Builder, target: str, written: str, misuse: bool, quiet: bool, temporary: bool = False
) -> Statement | None:
    """The edit of `inplace` on `target`, written `written` (an inline view when
    `temporary`: the model's hidden name for it is never shown)."""
    state = b.state
    value = state.values[target]
    operand: Value | None = None
    scalar: float | int | None = None
    if b.flip():
        table = ops.INPLACE_SCALARS if value.is_float else ops.INT_SCALARS
        op_name: str | None = b.one(list(table))
        assert op_name is not None
        scalar = b.one(table[op_name])
        operand_source, bound = repr(scalar), Interval(float(scalar), float(scalar))
        operand_name = None
    else:
        op_name = None
        mixed = misuse and not value.is_float and b.flip()
        operand_source, operand, operand_name = inplace_operand(b, target, value, mixed)
        if operand is None:
            return None
        bound = operand.bound
    edit = state.classify(target, operand)
    if edit.error is not None and (quiet or not b.has("errors")):
        return None
    if edit.error == UNSPECIFIED or (edit.saved and state.higher):
        return None
    if temporary and (edit.error is not None) != misuse:
        return None
    copy_slices = edit.recorded and edit.through_view and edit.error is None
    if copy_slices and not b.has("copy_slices"):
        return None
    if (edit.aliased or edit.saved) and not b.can("version_counter"):
        return None
    choices = ops.inplace_choices(value, bound, scalar)
    if op_name is not None:
        choices = [c for c in choices if c.op == op_name]
    if not choices:
        return None
    choice = b.one(choices)
    augmented = not temporary and b.flip()  # `b[0] += 1` would be a __setitem__
    source = choice.source(written, operand_source, augmented)
    labels = [f"{choice.op}_", "augmented" if augmented else "inplace"]
    labels += edit_labels(b, target, value, edit, operand)
    if temporary:
        labels.append("inplace:temp_view")
    if edit.error is not None:
        labels.append(edit.error)
    else:
        poisoned = {n for n in state.aliases(target) if state.values[n].nograd}
        poisoned -= {n for n in poisoned if state.values[n].view_edited} | b.hidden
        aliases = [n for n in state.aliases(target) if n not in b.hidden]
        state.edit(target, operand, operand_name, choice.bound, choice.saves)
        if poisoned:
            labels.append("nograd_view:edited")
        b.touched = aliases
        b.edited.update(dict.fromkeys(aliases))
    return Statement(source, tuple(labels))


def inplace_operand(
    b: Builder, target: str, value: Value, mixed: bool
) -> tuple[str, Value | None, str | None]:
    """A tensor operand that broadcasts to the target's shape: a bound name (one that does
    not share the target's memory, or the target itself), or a constant written inline.
    An integer target takes integers, unless `mixed` (torch refuses a float operand)."""
    state = b.state
    if b.flip():

        def fits(v: Value) -> bool:
            if not ops.broadcasts_to(v.shape, value.shape):
                return False
            if v.storage == value.storage and v is not value:
                return False  # partial overlap (`b.add_(b[0])`): torch refuses it
            if v.requires_grad and not b.has("copy_slices"):
                edit = state.classify(target, v)
                if edit.recorded and edit.through_view:
                    return False
            return mixed or value.is_float or not v.is_float

        name = b.pick([n for n in state.tensors(fits) if n not in b.hidden])
        if name is None:
            return "", None, None
        return name, state.values[name], name
    shapes = [s for s in ops.broadcast_partners(value.shape) if ops.broadcasts_to(s, value.shape)]
    if not b.has("broadcasting"):
        shapes = [value.shape]
    source, operand = inline_partner(b, value, b.one(shapes))
    if not value.is_float and not mixed:
        units = [b.between(-3, 3) for _ in range(operand.numel)]
        literal = f"tensor({ops.nested_literal(units, operand.shape)})"
        bound = span([float(u) for u in units])
        assert bound is not None
        return literal, Value(operand.shape, "int64", bound), None
    return source, operand, None


def edit_labels(
    b: Builder, target: str, value: Value, edit: Edit, operand: Value | None
) -> list[str]:
    labels = ["inplace:tensor" if operand is not None else "inplace:scalar"]
    if value.base is not None:
        labels.append("inplace:view")
    elif any(v.base == target for v in b.state.values.values()):
        labels.append("inplace:base")
    elif edit.aliased:
        labels.append("inplace:alias")
    if value.leaf:
        labels.append("inplace:leaf_rg" if value.requires_grad else "inplace:constant")
    else:
        labels.append("inplace:nonleaf")
    if not b.state.grad_enabled:
        labels.append("inplace:no_grad")
    if edit.recorded and edit.through_view and edit.error is None:
        labels.append("copy_slices")
    if edit.saved:
        labels.append("inplace:saved")
    return labels
