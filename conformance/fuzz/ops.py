"""The op set the fuzzer draws from, as spec-language source with the result's shape, dtype
and bound. An op is offered only where its inputs keep it well conditioned (see `domain`).

`DIFFERENTIABLE` names every differentiable op; `conformance.fuzz.gradcheck` checks each one
against finite differences.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from conformance.fuzz.domain import (
    EXP_LIMIT,
    FLOATS,
    Interval,
    bounded,
    broadcast,
    numel,
    power,
    product,
    promote,
    span,
    with_scalar,
)
from conformance.fuzz.layout import contiguous, dropped, swapped, view_strides
from conformance.fuzz.state import Value

DIFFERENTIABLE = (
    "neg", "exp", "log", "tanh", "sigmoid", "relu", "pow", "rpow", "add", "sub", "rsub", "mul",
    "div", "rdiv", "pow_tensor", "matmul", "sum", "sum(dim)", "mean", "mean(dim)", "view",
    "reshape", "t", "T", "transpose", "select", "slice",
)  # fmt: skip

FILLED_BOUNDS = {
    "randn": Interval(-4.0, 4.0),  # normal draws of a few dozen elements stay inside
    "rand": Interval(0.0, 1.0),
    "ones": Interval(1.0, 1.0),
}
SCALARS: tuple[float | int, ...] = (2, 0.5, -1.5, 3)
EXPONENTS: tuple[float | int, ...] = (2, 3, 0.5, -1, 1.5, -2)


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


Transfer = Callable[[Interval], "Interval | None"]


def _monotone(fn: Callable[[float], float]) -> Transfer:
    def transfer(b: Interval) -> Interval | None:
        if not (math.isfinite(b.lo) and math.isfinite(b.hi)):
            return None  # an edge value (see `EDGE`): it may hold nan, which no bound holds
        return bounded(fn(b.lo), fn(b.hi))

    return transfer


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


_UNARY: dict[str, tuple[tuple[str, ...], Transfer, bool, bool]] = {
    # name: (forms, transfer, saves, keeps integer dtype)
    "neg": (("-{x}",), lambda b: Interval(-b.hi, -b.lo), False, True),
    "exp": (
        ("exp({x})", "{x}.exp()"),
        lambda b: bounded(math.exp(b.lo), math.exp(b.hi)) if b.hi <= EXP_LIMIT else None,
        True,
        False,
    ),
    "log": (
        ("log({x})", "{x}.log()"),
        lambda b: bounded(math.log(b.lo), math.log(b.hi)) if b.positive else None,
        True,
        False,
    ),
    "tanh": (("tanh({x})", "{x}.tanh()"), _monotone(math.tanh), True, False),
    "sigmoid": (("sigmoid({x})", "{x}.sigmoid()"), _monotone(_sigmoid), True, False),
    "relu": (
        ("relu({x})", "{x}.relu()"),
        lambda b: Interval(max(b.lo, 0.0), max(b.hi, 0.0)),
        True,
        True,
    ),
}


def unary_choices(name: str, value: Value) -> list[Applied]:
    found = []
    for op, (forms, transfer, saves, keeps_int) in _UNARY.items():
        bound = transfer(value.bound)
        if bound is None:
            continue
        dtype = value.dtype if value.is_float or keeps_int else "float32"
        for form in forms:
            found.append(Applied(form.format(x=name), value.shape, dtype, bound, (op,), saves))
    for exponent in EXPONENTS:
        bound = power(value.bound, float(exponent))
        if bound is None:
            continue
        dtype = with_scalar(value.dtype, exponent)
        for form in ("{x} ** {k}", "{x}.pow({k})"):
            source = form.format(x=name, k=exponent)
            found.append(Applied(source, value.shape, dtype, bound, ("pow",), True))
    return found


def scalar_choices(name: str, value: Value) -> list[Applied]:
    """`x + c`, `c - x`, `c / x`, `c ** x`, ... with a Python number `c`."""
    found = []
    b = value.bound
    for c in SCALARS:
        dtype = with_scalar(value.dtype, c)
        k = Interval(float(c), float(c))
        candidates = [
            ("{x} + {c}", "add", bounded(b.lo + c, b.hi + c), dtype, False),
            ("{c} + {x}", "add", bounded(b.lo + c, b.hi + c), dtype, False),
            ("{x} - {c}", "sub", bounded(b.lo - c, b.hi - c), dtype, False),
            ("{c} - {x}", "rsub", bounded(c - b.hi, c - b.lo), dtype, False),
            ("{x} * {c}", "mul", product(b, k), dtype, None),
            ("{c} * {x}", "mul", product(b, k), dtype, None),
            ("{x} / {c}", "div", product(b, Interval(1 / c, 1 / c)), _true_div(dtype), None),
        ]  # None: torch saves the number, so a second backward finds it freed
        if b.away_from_zero:
            inverse = Interval(1 / b.hi, 1 / b.lo)
            candidates.append(("{c} / {x}", "rdiv", product(inverse, k), _true_div(dtype), True))
        for source, op, bound, result_dtype, saves in candidates:
            if bound is not None:
                text = source.format(x=name, c=c)
                found.append(
                    Applied(
                        text,
                        value.shape,
                        result_dtype,
                        bound,
                        (op,),
                        bool(saves),
                        frees=saves is None,
                    )
                )
    for base in (2.0, 0.5):
        if value.bound.magnitude <= 5:
            bound = span([base**value.bound.lo, base**value.bound.hi])
            if bound is not None:
                dtype = "float32" if not value.is_float else value.dtype
                source = f"{base} ** {name}"
                found.append(Applied(source, value.shape, dtype, bound, ("rpow",), True))
    return found


def _true_div(dtype: str) -> str:
    return dtype if dtype in FLOATS else "float32"


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
    a, b = left.bound, right.bound
    labels = ("broadcast",) if left.shape != right.shape else ()
    candidates = [
        ("+", "add", bounded(a.lo + b.lo, a.hi + b.hi), dtype, False),
        ("-", "sub", bounded(a.lo - b.hi, a.hi - b.lo), dtype, False),
        ("*", "mul", product(a, b), dtype, True),
    ]
    if b.away_from_zero:
        quotient = product(a, Interval(1 / b.hi, 1 / b.lo))
        candidates.append(("/", "div", quotient, _true_div(dtype), True))
    if a.positive and b.magnitude <= 2 and dtype in FLOATS:
        corners = [base**e for base in (a.lo, a.hi) for e in (b.lo, b.hi)]
        candidates.append(("**", "pow_tensor", span(corners), dtype, True))
    found = []
    for symbol, op, bound, result_dtype, saves in candidates:
        if bound is not None:
            source = f"{left_source} {symbol} {right_source}"
            found.append(Applied(source, shape, result_dtype, bound, (op, *labels), saves))
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
    root: str, value: Value, form: str, retain_graph: bool, inputs: str, allow_unused: bool
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
