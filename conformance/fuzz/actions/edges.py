"""Values at the edges of ops' domains, where torch's results and gradients are inf and nan:
division by zero, `log` at 0 and below, `pow` with a zero base and a tensor exponent, `x ** 0`
and `0.0 ** x`. They are compared exactly (nan with nan, inf with its sign).

An edge leaf is a literal with a zero and negatives; an edge op's result has no bound (`EDGE`),
so no op that needs one (arithmetic, reductions' sums, in-place edits) takes it further.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from conformance.fuzz import ops
from conformance.fuzz.actions.values import bind, inline_partner
from conformance.fuzz.domain import Interval, promote, span
from conformance.fuzz.program import Statement
from conformance.fuzz.state import Value

if TYPE_CHECKING:
    from conformance.fuzz.builder import Builder

EDGE = Interval(float("-inf"), float("inf"))
FORMS = ("div", "rdiv", "log", "pow_tensor", "pow_zero", "rpow_zero")


def edge_leaf(b: Builder) -> Statement:
    """`x = tensor([[0.0, -1.5], [2.0, 0.25]], requires_grad=True)`: one element 0 at least."""
    shape = b.shape()
    dtype = "float64" if b.can("float64") and b.has("dtypes") and b.flip() else "float32"
    count = 1
    for size in shape:
        count *= size
    units = [b.between(-8, 8) for _ in range(count)]
    units[b.between(0, count - 1)] = 0
    data = [u / 4 for u in units]
    bound = span(data)
    assert bound is not None
    requires_grad = not b.one_in(4)
    source = ops.with_options(f"tensor({ops.nested_literal(data, shape)})", dtype, requires_grad)
    name = b.state.name("x")
    b.state.leaf(name, Value(shape, dtype, bound, requires_grad=requires_grad))
    b.zeros.append(name)
    return Statement(f"{name} = {source}", ("leaf:zeros", dtype))


def edge_op(b: Builder) -> Statement | None:
    """An op at its edge on a leaf that holds a zero."""
    name = b.pick([n for n in b.zeros if n in b.state.values])
    if name is None:
        return None
    x = b.state.values[name]
    form = b.one(FORMS)
    inputs = [x]
    if form == "div":  # tensor by tensor, as `a / b` with both tensors
        source, partner = _partner(b, x)
        text = f"{source} / {name}"
        inputs.append(partner)
    elif form == "rdiv":
        text = f"{b.one(ops.SCALARS)} / {name}"
    elif form == "log":
        text = b.one([f"log({name})", f"{name}.log()"])
    elif form == "pow_tensor":  # a zero base: the exponent's gradient is torch's masked 0
        source, partner = _partner(b, x, exponent=True)
        text = f"{name} ** {source}"
        inputs.append(partner)
    elif form == "pow_zero":
        text = b.one([f"{name} ** 0", f"{name}.pow(0)"])
    else:
        text = f"0.0 ** {name}"
    shape = x.shape
    dtype = x.dtype
    if len(inputs) == 2:
        other = inputs[1]
        shape = max(x.shape, other.shape, key=len)
        dtype = promote(x.dtype, bool(x.shape), other.dtype, bool(other.shape))
    applied = ops.Applied(text, shape, dtype, EDGE, (f"edge:{form}",), saves=True)
    return bind(b, applied, inputs)


def _partner(b: Builder, x: Value, exponent: bool = False) -> tuple[str, Value]:
    """The other operand, of `x`'s shape and dtype: a tensor that requires grad (so its
    gradient is checked), or a constant written inline (non-negative for an exponent)."""
    names = b.state.tensors(
        lambda v: v.shape == x.shape and v.dtype == x.dtype and v.requires_grad
        and v.bound.lo > float("-inf") and (not exponent or v.bound.lo >= 0)
    )  # fmt: skip
    if names and b.flip():
        name = b.one(names)
        return name, b.state.values[name]
    if exponent:
        units = [b.between(0, 8) for _ in range(x.numel)]
        data = [u / 4 for u in units]
        literal = ops.with_options(f"tensor({ops.nested_literal(data, x.shape)})", x.dtype, False)
        bound = span(data)
        assert bound is not None
        return literal, Value(x.shape, x.dtype, bound)
    return inline_partner(b, x, x.shape)
