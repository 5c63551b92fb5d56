"""The op set the fuzzer draws from, as spec-language source with the result's shape, dtype
and bound. An op is offered only where its inputs keep it well conditioned (see `domain`).

The unary, power, scalar and tensor-tensor ops, their spellings and their interval rules come
from `conformance.optable`, as does `DIFFERENTIABLE`, every differentiable op, which
`conformance.fuzz.gradcheck` checks against finite differences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from conformance import optable
from conformance.fuzz.domain import (
    Interval,
    bounded,
    broadcast,
    numel,
    product,
    promote,
    with_scalar,
)
from conformance.fuzz.layout import contiguous, dropped, swapped, view_strides
from conformance.fuzz.state import Value

# Every differentiable op, by its coverage label: `conformance.optable` is the one list.
DIFFERENTIABLE = optable.names()

FILLED_BOUNDS = {
    "randn": Interval(-4.0, 4.0),  # normal draws of a few dozen elements stay inside
    "rand": Interval(0.0, 1.0),
    "ones": Interval(1.0, 1.0),
}
SCALARS = optable.SCALARS
EXPONENTS = optable.EXPONENTS


@dataclass(frozen=True, slots=True)
class Applied:
    """An op applied to named operands: its source and what the model expects of its result."""

    source: str
    shape: tuple[int, ...]
    dtype: str
    bound: Interval
    labels: tuple[str, ...]
    saves: bool = False
    strides: tuple[int, ...] | None = None  # None: a fresh contiguous tensor
    view: bool = False  # shares its input's memory
    exact: bool = True  # the strides are torch's (see `conformance.fuzz.state.Value`)
    frees: bool = False  # saves only a number (`x * 2`): backward frees it, no edit changes it


# --- source helpers -----------------------------------------------------------------------------


def filled(kind: str, shape: Sequence[int]) -> str:
    """`randn(2, 3)`, or `randn(())` for a 0-d tensor."""
    sizes = ", ".join(str(size) for size in shape) if shape else "()"
    return f"{kind}({sizes})"


def with_options(source: str, dtype: str, requires_grad: bool) -> str:
    """Add `dtype=` (float64 only: float32 and int64 are the defaults) and `requires_grad=`."""
    options = []
    if dtype == "float64":
        options.append("dtype=float64")
    if requires_grad:
        options.append("requires_grad=True")
    if not options:
        return source
    return f"{source[:-1]}, {', '.join(options)})"


def nested_literal(data: Sequence[float | int], shape: Sequence[int]) -> str:
    if not shape:
        return repr(data[0])
    step = len(data) // shape[0]
    items = [nested_literal(data[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]
    return "[" + ", ".join(items) + "]"


# --- unary and scalar ops -----------------------------------------------------------------------


def _unary_forms(op: optable.Op) -> tuple[str, ...]:
    """`-{x}`, `exp({x})`, `{x}.exp()`: an op's one-tensor spellings, as the table gives them."""
    prefix = tuple(text.replace("x", "{x}") for text in op.syntax if text.startswith("-"))
    functions = tuple(f"{name}({{x}})" for name in op.functions)
    return prefix + functions + tuple(f"{{x}}.{name}()" for name in op.methods)


def unary_choices(name: str, value: Value) -> list[Applied]:
    """Each unary op of the table in each spelling, then `x ** k` and its kin with a number
    on the right (the table's "power" ops)."""
    found = []
    for op in optable.drawn_by("unary"):
        assert op.fuzz.rule is not None
        bound = op.fuzz.rule(value.bound)
        dtype = optable.result_dtype(op, value.dtype)
        if bound is None or dtype is None:
            continue
        for form in _unary_forms(op):
            found.append(
                Applied(form.format(x=name), value.shape, dtype, bound, (op.name,), op.fuzz.saves)
            )
    for op in optable.drawn_by("power"):
        assert op.fuzz.rule is not None
        for exponent in op.fuzz.constants:
            bound = op.fuzz.rule(value.bound, _point(exponent))
            if bound is None:
                continue
            dtype = with_scalar(value.dtype, exponent)
            for form in op.fuzz.forms:
                source = form.format(x=name, c=exponent)
                found.append(Applied(source, value.shape, dtype, bound, (op.name,), op.fuzz.saves))
    return found


def _point(c: float | int) -> Interval:
    return Interval(float(c), float(c))


def _with_number(op: optable.Op, name: str, value: Value, c: float | int) -> list[Applied]:
    """`op` between `value` and the number `c`, in each of its forms."""
    assert op.fuzz.rule is not None
    dtype = optable.result_dtype(op, with_scalar(value.dtype, c))
    if dtype is None:
        return []
    found = []
    saves = (
        op.fuzz.number_saves
    )  # None: torch saves the number, so a second backward finds it freed
    for form in op.fuzz.forms:
        left, right = (
            (_point(c), value.bound) if form.startswith("{c}") else (value.bound, _point(c))
        )
        bound = op.fuzz.rule(left, right)
        if bound is not None:
            text = form.format(x=name, c=c)
            found.append(
                Applied(
                    text, value.shape, dtype, bound, (op.name,), bool(saves), frees=saves is None
                )
            )
    return found


def scalar_choices(name: str, value: Value) -> list[Applied]:
    """`x + c`, `c - x`, `c / x`, `c ** x`, ... with a Python number `c`: each of the table's
    "scalar" ops with each number of `SCALARS`, then those with numbers of their own."""
    found = []
    drawn = optable.drawn_by("scalar")
    for c in SCALARS:
        for op in drawn:
            if not op.fuzz.constants:
                found.extend(_with_number(op, name, value, c))
    for op in drawn:
        for c in op.fuzz.constants:
            found.extend(_with_number(op, name, value, c))
    return found


# --- binary ops -----------------------------------------------------------------------------


def broadcast_partners(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Shapes that broadcast with `shape`: itself, smaller ones (size-1 dims, fewer leading
    dims) and larger ones (size-1 dims grown, a new leading dim), so either side broadcasts."""
    found = [shape]
    for index, size in enumerate(shape):
        if size > 1:
            found.append(shape[:index] + (1,) + shape[index + 1 :])
        else:
            found.append(shape[:index] + (3,) + shape[index + 1 :])
    found.append(tuple(1 for _ in shape))
    found.extend(shape[drop:] for drop in range(1, len(shape) + 1))
    if len(shape) < 3:
        found.append((2, *shape))
        found.append((3, *(1 for _ in shape)))
    return list(dict.fromkeys(found))


def can_pair(left: Value, right: Value, broadcasting: bool) -> bool:
    if broadcast(left.shape, right.shape) is None:
        return False
    return broadcasting or left.shape == right.shape


def binary_choices(left_source: str, left: Value, right_source: str, right: Value) -> list[Applied]:
    shape = broadcast(left.shape, right.shape)
    if shape is None:
        return []
    dtype = promote(left.dtype, bool(left.shape), right.dtype, bool(right.shape))
    labels = ("broadcast",) if left.shape != right.shape else ()
    found = []
    for op in optable.drawn_by("tensor"):
        assert op.fuzz.rule is not None
        bound = op.fuzz.rule(left.bound, right.bound)
        result_dtype = optable.result_dtype(op, dtype)
        if bound is not None and result_dtype is not None:
            source = f"{left_source} {op.operators[0]} {right_source}"
            found.append(
                Applied(source, shape, result_dtype, bound, (op.name, *labels), op.fuzz.saves)
            )
    return found


def matmul(
    left_source: str, left: Value, right_source: str, right: Value, function_form: bool
) -> Applied | None:
    """`a @ b` for 1-D and 2-D operands of one dtype."""
    if left.dtype != right.dtype or left.shape[-1] != right.shape[0]:
        return None
    shape = left.shape[:-1] + right.shape[1:]
    extent = left.shape[-1] * left.bound.magnitude * right.bound.magnitude
    bound = bounded(-extent, extent)
    if bound is None:
        return None
    source = (
        f"matmul({left_source}, {right_source})"
        if function_form
        else f"{left_source} @ {right_source}"
    )
    return Applied(source, shape, left.dtype, bound, ("matmul",), True)


# --- reductions -----------------------------------------------------------------------------


def reduction(
    name: str,
    value: Value,
    kind: str,
    dims: int | tuple[int, ...] | None,
    keepdim: bool,
    function_form: bool,
) -> Applied | None:
    """`x.sum()`, `x.mean(dim=1, keepdim=True)`, `sum(x, (0, 1))`, ..."""
    rank = len(value.shape)
    if dims is None:
        reduced = set(range(rank))
    else:
        listed = (dims,) if isinstance(dims, int) else dims
        reduced = {d % rank for d in listed}
    count = numel(tuple(value.shape[d] for d in reduced))
    if dims is None:
        shape: tuple[int, ...] = ()
    else:
        shape = tuple(
            1 if d in reduced else size
            for d, size in enumerate(value.shape)
            if keepdim or d not in reduced
        )
    b = value.bound
    bound = bounded(b.lo * count, b.hi * count) if kind == "sum" else b
    if bound is None:
        return None
    dtype = value.dtype if value.is_float else "int64"
    arguments = [] if dims is None else [f"dim={dims}"]
    if dims is not None and keepdim:
        arguments.append("keepdim=True")
    if function_form:
        source = f"{kind}({', '.join([name, *arguments])})"
    else:
        source = f"{name}.{kind}({', '.join(arguments)})"
    labels = [kind if dims is None else f"{kind}(dim)"]
    if keepdim and dims is not None:
        labels.append("keepdim")
    if isinstance(dims, tuple):
        labels.append("dims")
    return Applied(source, shape, dtype, bound, tuple(labels))


# --- views ----------------------------------------------------------------------------------


def factorizations(size: int, rank: int) -> list[tuple[int, ...]]:
    """Every shape of `rank` dims whose sizes multiply to `size`."""
    if rank == 1:
        return [(size,)]
    found: list[tuple[int, ...]] = []
    for first in range(1, size + 1):
        if size % first == 0:
            found.extend((first, *rest) for rest in factorizations(size // first, rank - 1))
    return found


def view_choices(name: str, value: Value) -> list[Applied]:
    """Views, and `reshape` (a view where torch's `view` would succeed, else a copy; where the
    model does not know the strides for sure, it counts as a view: sharing memory is the
    assumption that keeps bounds sound after an in-place edit)."""
    shape, rank, strides = value.shape, len(value.shape), value.layout
    found = []
    # `view` where torch's strides are known, or where any layout would do (one dim of size
    # above 1): ops on non-contiguous inputs lay out their results in ways of their own
    known = value.exact or sum(1 for size in shape if size > 1) <= 1

    def add(source: str, new_shape: tuple[int, ...], label: str, new: tuple[int, ...]) -> None:
        found.append(
            Applied(
                source.format(x=name),
                new_shape,
                value.dtype,
                value.bound,
                (label,),
                strides=new,
                view=True,
                exact=value.exact,
            )
        )

    targets = [s for r in (1, 2, 3) for s in factorizations(value.numel, r)]
    targets += [s for s in factorizations(value.numel, 4) if sum(d == 1 for d in s) <= 1]
    for target in targets:
        sizes = ", ".join(str(s) for s in target)
        viewed = view_strides(shape, strides, target)
        if viewed is not None:
            if known:
                add(f"{{x}}.view({sizes})", target, "view", viewed)
            add(f"{{x}}.reshape({sizes})", target, "reshape", viewed)
        elif value.exact:  # a copy
            source = f"{name}.reshape({sizes})"
            found.append(Applied(source, target, value.dtype, value.bound, ("reshape",)))
        else:
            add(f"{{x}}.reshape({sizes})", target, "reshape", contiguous(target))
    flat = view_strides(shape, strides, (value.numel,))
    if flat is not None and known:
        add("{x}.view(-1)", (value.numel,), "view", flat)
    if rank <= 2:
        add("{x}.t()", shape[::-1], "t", strides[::-1])
    if rank == 2:
        add("{x}.T", shape[::-1], "T", strides[::-1])
    if rank >= 2:
        pairs = ((0, 1), (-1, -2), (0, rank - 1)) + (((1, 2),) if rank >= 4 else ())
        for d0, d1 in pairs:
            if d0 % rank == d1 % rank:
                continue
            new = list(shape)
            new[d0], new[d1] = new[d1], new[d0]
            add(f"{{x}}.transpose({d0}, {d1})", tuple(new), "transpose", swapped(strides, d0, d1))
    if rank >= 1:
        for index in (0, shape[0] - 1, -1):
            add(f"{{x}}[{index}]", shape[1:], "select", dropped(strides, 0))
        if shape[0] >= 2:
            add("{x}[1:]", (shape[0] - 1, *shape[1:]), "slice", strides)
            add("{x}[:1]", (1, *shape[1:]), "slice", strides)
            stepped = (strides[0] * 2, *strides[1:])
            add("{x}[::2]", ((shape[0] + 1) // 2, *shape[1:]), "slice:step", stepped)
            add("{x}[1::2]", (shape[0] // 2, *shape[1:]), "slice:step", stepped)
    if rank >= 2:
        add("{x}[:, 0]", (shape[0], *shape[2:]), "select", dropped(strides, 1))
        if shape[1] >= 2:
            stepped = (strides[0], strides[1] * 2, *strides[2:])
            add("{x}[:, ::2]", (shape[0], (shape[1] + 1) // 2, *shape[2:]), "slice:step", stepped)
    return found


# --- in-place edits ---------------------------------------------------------------------------

INPLACE_SCALARS: dict[str, tuple[float | int, ...]] = {
    # bounded factors keep repeated edits from running away: |c| in [0.5, 2]
    "add": (1, 0.5, -1.5, 2),
    "sub": (1, 0.5, -1.5, 2),
    "mul": (2, 0.5, -1, 1.5),
    "div": (2, 0.5, -2, 1.5),
}
INT_SCALARS: dict[str, tuple[int, ...]] = {"add": (1, 2, -1), "sub": (1, 2, -1), "mul": (2, -1)}
AUGMENTED = {"add": "+=", "sub": "-=", "mul": "*=", "div": "/="}


@dataclass(frozen=True, slots=True)
class InPlace:
    """`target.op_(operand)` or `target op= operand`: the target's bound afterwards."""

    op: str
    bound: Interval
    saves: bool  # mul_ and div_ by a tensor save it for backward

    def source(self, target: str, operand: str, augmented: bool) -> str:
        if augmented:
            return f"{target} {AUGMENTED[self.op]} {operand}"
        return f"{target}.{self.op}_({operand})"


def broadcasts_to(operand: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """Whether an in-place op on `target` accepts `operand`: it may broadcast, never grow."""
    return broadcast(target, operand) == target


def inplace_choices(target: Value, operand: Interval, scalar: float | int | None) -> list[InPlace]:
    """The in-place ops that keep the target well conditioned, given the operand's bound."""
    a, b = target.bound, operand
    tensor = scalar is None
    candidates = [
        ("add", bounded(a.lo + b.lo, a.hi + b.hi), False),
        ("sub", bounded(a.lo - b.hi, a.hi - b.lo), False),
        ("mul", product(a, b), tensor),
    ]
    if b.away_from_zero and target.is_float:
        candidates.append(("div", product(a, Interval(1 / b.hi, 1 / b.lo)), tensor))
    return [InPlace(op, bound, saves) for op, bound, saves in candidates if bound is not None]


# --- backward -------------------------------------------------------------------------------


# How a backward starts from a root of more than one element: through its sum or its mean, or
# with a gradient of its shape and dtype (ones, or random). One element: the first two start
# from the root itself.
ROOT_FORMS = ("sum", "mean", "ones", "randn")


def backward_call(
    root: str,
    value: Value,
    form: str,
    retain_graph: bool,
    keyword: bool,
    inputs: str | None = None,
    function_form: bool = False,
) -> tuple[str, tuple[str, ...]]:
    """A backward from `root`: implicit for one element, else through a sum or mean, or with a
    gradient of the root's shape and dtype; `inputs`, rendered (`[x1, y3]`), limits it to
    those tensors; `function_form` writes `autograd.backward(root, ...)`."""
    expression, gradient, labels = _root(root, value, form)
    arguments = []
    if gradient is not None:
        name = "grad_tensors" if function_form else "gradient"
        arguments.append(f"{name}={gradient}" if keyword else gradient)
    if retain_graph:
        arguments.append("retain_graph=True")
        labels.append("retain_graph")
    if inputs is not None:
        arguments.append(f"inputs={inputs}")
        labels.append("backward(inputs)")
    if function_form:
        labels.append("autograd.backward")
        return f"autograd.backward({', '.join([expression, *arguments])})", tuple(labels)
    return f"{expression}.backward({', '.join(arguments)})", tuple(labels)


def grad_call(
    root: str,
    value: Value,
    form: str,
    retain_graph: bool,
    inputs: str,
    allow_unused: bool,
    create_graph: bool = False,
) -> tuple[str, tuple[str, ...]]:
    """`autograd.grad(root, inputs, ...)`, the root as `backward_call` makes it."""
    expression, gradient, labels = _root(root, value, form)
    labels[0] = "autograd.grad"
    arguments = [expression, inputs]
    if gradient is not None:
        arguments.append(f"grad_outputs={gradient}")
    if retain_graph:
        arguments.append("retain_graph=True")
        labels.append("retain_graph")
    if allow_unused:
        arguments.append("allow_unused=True")
    if create_graph:
        arguments.append("create_graph=True")
        labels.append("create_graph")
    return f"autograd.grad({', '.join(arguments)})", tuple(labels)


def _root(root: str, value: Value, form: str) -> tuple[str, str | None, list[str]]:
    """What a backward starts from (see `ROOT_FORMS`)."""
    labels = ["backward"]
    gradient = None
    if value.numel == 1 and form in ("sum", "mean"):
        expression = root
    elif form == "sum":
        expression, labels = f"{root}.sum()", labels + ["backward(sum)"]
    elif form == "mean":
        expression, labels = f"{root}.mean()", labels + ["backward(mean)"]
    else:
        expression = root
        labels.append("backward(gradient)")
        gradient = f"ones_like({root})" if form == "ones" else filled("randn", value.shape)
        if form == "randn" and value.dtype == "float64":
            gradient = with_options(gradient, "float64", False)
    return expression, gradient, labels
