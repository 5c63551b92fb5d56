"""Actions that bind values: leaves, ops over the op set (`conformance.fuzz.ops`), views,
and `detach`."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from conformance.fuzz import ops
from conformance.fuzz.domain import FLOATS, Interval, span
from conformance.fuzz.program import Statement
from conformance.fuzz.state import Value

if TYPE_CHECKING:
    from conformance.fuzz.builder import Builder

LEAF_KINDS = ("tensor", "randn", "rand", "ones")
DETACH_FORMS = ("detach", "detach().requires_grad_()", "requires_grad_")


# --- leaves -----------------------------------------------------------------------------------


def leaf(b: Builder, first: bool = False) -> Statement:
    shape = b.shape()
    dtype = "float32" if first else b.dtype()
    floating = dtype in FLOATS
    requires_grad = floating and (first or b.flip())
    kind = b.one(LEAF_KINDS if floating else LEAF_KINDS[:1])
    name = b.state.name("x")
    if kind == "tensor":
        source, bound = literal(b, shape, dtype, positive=b.flip())
    else:
        source, bound = ops.filled(kind, shape), ops.FILLED_BOUNDS[kind]
    source = ops.with_options(source, dtype, requires_grad)
    b.state.leaf(name, Value(shape, dtype, bound, requires_grad=requires_grad))
    labels = [f"leaf:{kind}", dtype] + (["requires_grad"] if requires_grad else [])
    return Statement(f"{name} = {source}", tuple(labels))


def literal(b: Builder, shape: tuple[int, ...], dtype: str, positive: bool) -> tuple[str, Interval]:
    """`tensor(...)` data: multiples of 1/4, so + - * are exact on every backend."""
    count = 1
    for dim in shape:
        count *= dim
    low = 2 if positive else -8
    if dtype not in FLOATS:
        low = 1 if positive else -3
    units = [b.between(low, 8) for _ in range(count)]
    data = [u / 4 for u in units] if dtype in FLOATS else units
    bound = span([float(v) for v in data])
    assert bound is not None
    return f"tensor({ops.nested_literal(data, shape)})", bound


def inline_partner(b: Builder, like: Value, shape: tuple[int, ...]) -> tuple[str, Value]:
    """A constant operand written inline: `randn(2, 1)` or `tensor([[0.5], [2.0]])`."""
    dtype = like.dtype if like.is_float else "float32"
    if b.flip():
        source, bound = literal(b, shape, dtype, positive=b.flip())
    else:
        source, bound = ops.filled("randn", shape), ops.FILLED_BOUNDS["randn"]
    source = ops.with_options(source, dtype, False)
    return source, Value(shape, dtype, bound)


def stand_ins(name: str, shape: tuple[int, ...], dtype: str) -> tuple[str, ...]:
    """Fresh leaves that could replace a computed value while shrinking."""
    if dtype not in FLOATS:
        return (f"{name} = {ops.filled('ones', shape)[:-1]}, dtype={dtype})",)
    return tuple(
        f"{name} = {ops.with_options(ops.filled('randn', shape), dtype, requires_grad)}"
        for requires_grad in (False, True)
    )


# --- ops --------------------------------------------------------------------------------------


def bind(b: Builder, op: ops.Applied, inputs: list[Value], view_of: str | None = None) -> Statement:
    name = b.state.name("y")
    b.state.result(
        name,
        inputs,
        op.shape,
        op.dtype,
        op.bound,
        saves=op.saves,
        strides=op.strides,
        view_of=view_of,
        exact=op.exact,
        frees=op.frees,
    )
    return Statement(f"{name} = {op.source}", op.labels, stand_ins(name, op.shape, op.dtype))


def operand(b: Builder) -> str | None:
    """A tensor for an op; now and then a positive one, the only kind the ops with a domain
    (`log`, `sqrt`, a tensor exponent) are offered on, which chains of ops rarely leave."""
    if b.one_in(4):
        name = b.pick_tensor(lambda v: v.bound.positive)
        if name is not None:
            return name
    return b.pick_tensor()


def unary(b: Builder) -> Statement | None:
    name = operand(b)
    if name is None:
        return None
    value = b.state.values[name]
    choices = ops.unary_choices(name, value)
    return bind(b, b.choose(choices), [value]) if choices else None


def scalar(b: Builder) -> Statement | None:
    name = b.pick_tensor()
    if name is None:
        return None
    value = b.state.values[name]
    choices = ops.scalar_choices(name, value)
    return bind(b, b.choose(choices), [value]) if choices else None


def partner_shape(b: Builder, shape: tuple[int, ...]) -> tuple[int, ...]:
    return b.one(ops.broadcast_partners(shape)) if b.has("broadcasting") else shape


def binary(b: Builder) -> Statement | None:
    left_name = operand(b)
    if left_name is None:
        return None
    left = b.state.values[left_name]
    if b.flip():
        partners = b.state.tensors(
            lambda v: ops.can_pair(left, v, broadcasting=b.has("broadcasting"))
        )
        right_name = b.pick(partners)
        if right_name is None:
            return None
        right_source, right = right_name, b.state.values[right_name]
    else:
        right_source, right = inline_partner(b, left, partner_shape(b, left.shape))
    if b.flip():
        left_name, left, right_source, right = right_source, right, left_name, left
    choices = ops.binary_choices(left_name, left, right_source, right)
    return bind(b, b.choose(choices), [left, right]) if choices else None


def matmul(b: Builder) -> Statement | None:
    left_name = b.pick_tensor(lambda v: v.is_float and len(v.shape) in (1, 2))
    if left_name is None:
        return None
    left = b.state.values[left_name]
    inner = left.shape[-1]
    partners = b.state.tensors(
        lambda v: v.dtype == left.dtype and len(v.shape) in (1, 2) and v.shape[0] == inner
    )
    vectors = [name for name in partners if len(b.state.values[name].shape) == 1]
    if vectors and b.flip():  # a matrix-vector product, the vector on either side
        partners = vectors
    if partners and b.flip():
        right_source = b.one(partners)
        right = b.state.values[right_source]
    else:
        shape = b.one([(inner,), (inner, 1), (inner, 2), (inner, 3)])
        right_source, right = inline_partner(b, left, shape)
    op = ops.matmul(left_name, left, right_source, right, b.flip())
    return bind(b, op, [left, right]) if op is not None else None


def reduce(b: Builder) -> Statement | None:
    name = b.pick_tensor()
    if name is None:
        return None
    value = b.state.values[name]
    kind = b.one(["sum", "mean"] if value.is_float else ["sum"])
    dims: tuple[int, ...] | int | None = None
    keepdim = False
    rank = len(value.shape)
    if rank and b.flip():
        dim = b.between(-rank, rank - 1)
        dims = dim
        if rank >= 2 and b.flip():
            other = b.between(0, rank - 1)
            if other != dim % rank:
                dims = (dim, other)
        keepdim = b.flip()
    op = ops.reduction(name, value, kind, dims, keepdim, b.flip())
    return bind(b, op, [value]) if op is not None else None


# --- views ------------------------------------------------------------------------------------


def view(b: Builder, requiring_grad: bool = False) -> Statement | None:
    name = b.pick_tensor(lambda v: v.requires_grad) if requiring_grad else None
    name = name or b.pick_tensor()
    if name is None:
        return None
    value = b.state.values[name]
    choices = ops.view_choices(name, value)
    if not choices:
        return None
    op = b.choose(choices)
    step = bind(b, op, [value], view_of=name if op.view else None)
    made = b.state.values[next(reversed(b.state.values))]
    if made.nograd and op.view:
        label = "nograd_view" if not b.state.grad_enabled else "nograd_view:of_view"
        step = replace(step, ops=(*step.ops, label))
    return step


def temporary_view(b: Builder, target: str) -> tuple[str, list[str]] | None:
    """A view of `target` written inline and edited at once (`b[0].mul_(2)`,
    `b.view(-1)[2:].add_(t)`): bound in the model under hidden names for the edit only.
    Only views torch surely makes (a `reshape` of unknown strides may copy)."""
    state = b.state
    made: list[str] = []
    source = target
    for _ in range(1 if b.between(0, 2) else 2):
        of = made[-1] if made else target
        value = state.values[of]
        choices = [
            c
            for c in ops.view_choices(source, value)
            if c.view and (value.exact or c.labels[0] != "reshape")
        ]
        if not choices:
            break
        op = b.choose(choices)
        name = state.name("t")
        b.hidden.add(name)
        state.result(
            name,
            [value],
            op.shape,
            op.dtype,
            op.bound,
            strides=op.strides,
            view_of=of,
            exact=op.exact,
        )
        made.append(name)
        source = op.source
    return (source, made) if made else None


# --- detach -----------------------------------------------------------------------------------


def detach(b: Builder) -> Statement | None:
    """`d = x.detach()`, `d = x.detach().requires_grad_()`, or a leaf that did not require
    grad starting to (`x.requires_grad_()`, `x.requires_grad = True`)."""
    form = b.one(DETACH_FORMS if b.can("requires_grad") else DETACH_FORMS[:1])
    if form == "requires_grad_":
        name = b.pick_tensor(
            lambda v: v.leaf and v.is_float and not v.requires_grad and v.base is None
        )
        if name is not None:
            b.state.requires_grad_(name)
            source = b.one([f"{name}.requires_grad_()", f"{name}.requires_grad = True"])
            return Statement(source, ("requires_grad_",))
    name = b.pick_tensor(lambda v: v.is_float)
    if name is None:
        return None
    value = b.state.values[name]
    new = b.state.name("d")
    requires_grad = form == "detach().requires_grad_()"
    b.state.leaf(new, replace(value, requires_grad=requires_grad), shares=True)
    suffix = ".requires_grad_()" if requires_grad else ""
    source = f"{new} = {name}.detach(){suffix}"
    return Statement(source, ("detach",), stand_ins(new, value.shape, value.dtype))
