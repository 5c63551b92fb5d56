"""The spec language: its vocabulary and the instruction set that statements compile to.

Instructions are plain frozen data. `conformance.run.interpreter` gives them meaning on a backend;
nothing here can run code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from conformance import optable

# Module-level functions a backend is asked to call by name: the op table's
# (`conformance.optable`) and these.
FUNCTIONS = optable.spelled_functions() | frozenset(
    {
        "tensor",
        "ones",
        "zeros",
        "ones_like",
        "zeros_like",
        "is_grad_enabled",
        "set_grad_enabled",
        "autograd.grad",
        "autograd.backward",
    }
)
# Functions the harness implements itself, so every backend sees the same thing.
RANDOM = frozenset({"randn", "rand"})
HOOKS = frozenset({"scale", "record"})
BUILTINS = frozenset({"len"})
# Context managers; only `with` may use them (set_grad_enabled is also a plain function).
GRAD_MODES = frozenset({"no_grad", "enable_grad", "set_grad_enabled", "inference_mode"})

METHODS = optable.spelled_methods() | frozenset(
    {
        "backward",
        "retain_grad",
        "detach",
        "detach_",
        "requires_grad_",
        "is_inference",
        "register_hook",
        "register_post_accumulate_grad_hook",
        "register_prehook",
        "zero_",
        "add_",
        "sub_",
        "mul_",
        "div_",
        "item",
        "tolist",
        "size",
        "dim",
        "remove",
        "name",
    }
)
ATTRIBUTES = optable.spelled_attributes() | frozenset(
    {
        "grad",
        "data",
        "requires_grad",
        "is_leaf",
        "grad_fn",
        "retains_grad",
        "shape",
        "dtype",
        "next_functions",
    }
)
SETTABLE_ATTRIBUTES = frozenset({"grad", "data", "requires_grad"})

# Spellings a spec may use, mapped to the canonical dtype name.
DTYPES = {
    "float32": "float32",
    "float": "float32",
    "float64": "float64",
    "double": "float64",
    "int64": "int64",
    "long": "int64",
    "int32": "int32",
    "bool": "bool",
}

CAPABILITIES = {
    "float64": "double-precision tensors",
    "int_dtypes": "integer and bool tensors",
    "inference_mode": "inference_mode and inference tensors",
    "hooks": "register_hook on tensors",
    "post_accumulate_hooks": "register_post_accumulate_grad_hook on leaves",
    "node_hooks": "register_prehook and register_hook on grad_fn nodes",
    "retain_grad": "retain_grad() / retains_grad on non-leaves",
    "create_graph": "higher-order gradients through create_graph=True",
    "autograd_grad": "autograd.grad and autograd.backward",
    "inplace": "add_, sub_, mul_, div_, zero_ and += -= *= /= **= @= on tensors",
    "version_counter": "errors for in-place changes to tensors saved for backward",
    "graph_introspection": "grad_fn.next_functions and AccumulateGrad nodes",
    "requires_grad": "the requires_grad flag: read, set, requires_grad_() or requires_grad=False",
    "grad_fn": "grad_fn nodes and is_leaf",
    "grad_mode": "no_grad, enable_grad, set_grad_enabled and is_grad_enabled",
    "strides": "stride() and is_contiguous() on tensors: their memory layout",
}

BINARY_OPERATORS = optable.binary_operators()  # + - * / ** @
# What a spec that spells a table op needs, for the ops that need more than the core.
OP_CAPABILITIES = {
    name: op.capability
    for op in optable.OPS
    if op.capability
    for name in (*op.functions, *op.methods, *op.attributes)
}
# `x += v` and its kin: Python's augmented assignment, run as written (`operator.iadd`).
AUGMENTED_OPERATORS = frozenset(op + "=" for op in BINARY_OPERATORS)


# --- expressions -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Const:
    """A Python literal: a number, a bool, None or a string."""

    value: object


@dataclass(frozen=True, slots=True)
class Var:
    """A name bound by an earlier step."""

    name: str


@dataclass(frozen=True, slots=True)
class DType:
    """A dtype by its canonical name (`float32`, ...)."""

    name: str


@dataclass(frozen=True, slots=True)
class ListOf:
    """A list display; it builds a fresh list each time."""

    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class TupleOf:
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class SliceOf:
    """`a:b:c` inside an index."""

    lower: Expr | None
    upper: Expr | None
    step: Expr | None


@dataclass(frozen=True, slots=True)
class BinOp:
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Neg:
    operand: Expr


@dataclass(frozen=True, slots=True)
class Index:
    obj: Expr
    key: Expr


@dataclass(frozen=True, slots=True)
class GetAttr:
    obj: Expr
    name: str


Kwargs: TypeAlias = "tuple[tuple[str, Expr], ...]"


@dataclass(frozen=True, slots=True)
class Call:
    """A call of a backend's module-level function, by dotted name (`autograd.grad`)."""

    func: str
    args: tuple[Expr, ...]
    kwargs: Kwargs


@dataclass(frozen=True, slots=True)
class CallMethod:
    obj: Expr
    name: str
    args: tuple[Expr, ...]
    kwargs: Kwargs


@dataclass(frozen=True, slots=True)
class Random:
    """`randn`/`rand`: drawn from the harness's seeded numpy generator, then handed over."""

    kind: str
    shape: tuple[Expr, ...]
    dtype: str
    requires_grad: Expr


@dataclass(frozen=True, slots=True)
class Hook:
    """`scale(k)` (the hook returns grad * k) or `record(name)` (it appends to a list)."""

    kind: str
    arg: Expr


@dataclass(frozen=True, slots=True)
class Len:
    arg: Expr


Expr: TypeAlias = (
    "Const | Var | DType | ListOf | TupleOf | SliceOf | BinOp | Neg | Index | GetAttr | Call"
    " | CallMethod | Random | Hook | Len"
)


# --- statements ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Unpack:
    """`a, b = ...`: an assignment target that unpacks."""

    targets: tuple[Target, ...]


Target: TypeAlias = "Var | GetAttr | Unpack"


@dataclass(frozen=True, slots=True)
class Assign:
    line: int
    targets: tuple[Target, ...]
    value: Expr


@dataclass(frozen=True, slots=True)
class InPlace:
    """`x += v` (and `-=`, `*=`, `/=`, `**=`, `@=`), as Python runs it: the tensor's in-place
    operator (`__iadd__`), or where it has none the plain one (`__add__`), and the target is
    rebound to the result. `op` is the augmented operator as written (`+=`). `x.add_(v)` is
    a method call, not this."""

    line: int
    target: Var | GetAttr
    op: str
    value: Expr


@dataclass(frozen=True, slots=True)
class Evaluate:
    """An expression evaluated for its effect (`z.backward()`)."""

    line: int
    expr: Expr


@dataclass(frozen=True, slots=True)
class GradMode:
    kind: str
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class WithModes:
    line: int
    modes: tuple[GradMode, ...]
    body: tuple[Stmt, ...]


Stmt: TypeAlias = "Assign | InPlace | Evaluate | WithModes"
