"""The suite's op set, in one table: each differentiable op's spellings, its reference
`Function`, how the fuzzer draws it and bounds its result, its gradcheck cases and the
capability it needs. Everything else reads the op set from here:

- `conformance.spec.language`: the op names in `FUNCTIONS`, `METHODS`, `ATTRIBUTES` and
  `BINARY_OPERATORS`;
- `conformance.fuzz.ops` (`DIFFERENTIABLE`, the unary, power, scalar and tensor-tensor
  choices) and `conformance.fuzz.features` (which `--tag` group an op's label belongs to);
- `conformance gradcheck` (`CASES` in `conformance.fuzz.gradcheck`) and
  `tests/reference/test_gradcheck.py`, which check the same cases;
- `tests/reference/test_optable.py`, which checks that reference exports every op as spelled
  here, that each `Function` named here exists, and that specs/README.md lists these names.

The table is data: it names reference's `Function` classes by dotted path, so the harness
imports without reference.

Add an op
---------
1. Write its `Function` (forward, backward, `node_name`) in `reference/ops/` and export it
   as spelled: a `Tensor` method in `reference/tensor_ops.py`, a function in
   `reference/functional.py` and `reference/__init__.py`, or an operator's dunder.
2. Add one `Op` to `OPS` below: its name (the fuzzer's coverage label), its spellings, its
   `Function`'s dotted path, a `Fuzz` record (the draw families, the interval rule that keeps
   its result well conditioned, the dtype rule, what it saves), at least one `Check` (an
   expression over `x0`, `x1`, its input shapes and ranges, a tolerance and the reason for
   it) and the capability a spec using it needs (None: every backend has it).
3. Run `tests/reference/test_optable.py`, `tests/reference/test_gradcheck.py`,
   `tests/conformance/test_gradcheck.py`, the `test_fuzz_*` tests and
   `tests/reference/test_differential.py`: they check the export, the gradient, that the
   fuzzer draws it, and reference against torch in the programs the fuzzer draws. Add the
   name to the lists in specs/README.md (a test says where), and write a spec for what
   torch does with it.
Ops the fuzzer builds from the shape of its operands (matmul, reductions, views) are drawn by
their own code in `conformance.fuzz.ops`; a new one of those needs that code too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from conformance.fuzz.domain import EXP_LIMIT, FLOATS, Interval, bounded, power, product, span

Shape = tuple[int, ...]
Range = tuple[float, float]
UnaryRule = Callable[[Interval], "Interval | None"]
BinaryRule = Callable[[Interval, Interval], "Interval | None"]

# --- gradcheck ----------------------------------------------------------------------------------

SMOOTH = "smooth on the sampled range: central differences are accurate to ~1e-9"
LINEAR = "linear in its input: the difference quotient is exact up to rounding"
AWAY = "inputs sampled in [0.5, 2], away from the pole at 0, so curvature stays below ~16"
KINK = "inputs sampled at least 0.25 away from the kink at 0, far beyond the step"
BILINEAR = "bilinear: exact up to rounding"

ANY: Range = (-2.0, 2.0)
POSITIVE: Range = (0.5, 2.0)
OFF_ZERO: Range = (0.25, 2.0)  # sampled with a random sign

EXACT = (1e-7, 1e-8)
CLOSE = (1e-6, 1e-8)
NEAR_POLE = (1e-6, 1e-7)


@dataclass(frozen=True, slots=True)
class Check:
    """One gradcheck case: `expression` over `x0`, `x1`, ... of these shapes, each drawn
    uniformly from its range (`signed`: |x| from the range, with a random sign); the analytic
    gradient must match finite differences within `rtol` and `atol`, for `reason`."""

    expression: str
    shapes: tuple[Shape, ...]
    ranges: tuple[Range, ...] = ()  # ANY for each input when empty
    tolerance: tuple[float, float] = CLOSE  # (rtol, atol)
    reason: str = SMOOTH
    signed: bool = False

    @property
    def input_ranges(self) -> tuple[Range, ...]:
        return self.ranges or tuple(ANY for _ in self.shapes)


def _linear(expression: str, *shapes: Shape) -> Check:
    return Check(expression, shapes, tolerance=EXACT, reason=LINEAR)


# --- the fuzzer's interval rules ----------------------------------------------------------------


def _monotone(fn: Callable[[float], float]) -> UnaryRule:
    def rule(b: Interval) -> Interval | None:
        if not (math.isfinite(b.lo) and math.isfinite(b.hi)):
            return None  # an edge value: it may hold nan, which no bound holds
        return bounded(fn(b.lo), fn(b.hi))

    return rule


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def _exp(b: Interval) -> Interval | None:
    return bounded(math.exp(b.lo), math.exp(b.hi)) if b.hi <= EXP_LIMIT else None


def _log(b: Interval) -> Interval | None:
    return bounded(math.log(b.lo), math.log(b.hi)) if b.positive else None


def _add(a: Interval, b: Interval) -> Interval | None:
    return bounded(a.lo + b.lo, a.hi + b.hi)


def _sub(a: Interval, b: Interval) -> Interval | None:
    return bounded(a.lo - b.hi, a.hi - b.lo)


def _div(a: Interval, b: Interval) -> Interval | None:
    return product(a, Interval(1 / b.hi, 1 / b.lo)) if b.away_from_zero else None


def _pow(a: Interval, k: Interval) -> Interval | None:
    return power(a, k.lo)  # a constant exponent


def _rpow(base: Interval, b: Interval) -> Interval | None:
    return span([base.lo**b.lo, base.lo**b.hi]) if b.magnitude <= 5 else None


def _pow_tensor(a: Interval, b: Interval) -> Interval | None:
    if not (a.positive and b.magnitude <= 2):
        return None
    return span([base**e for base in (a.lo, a.hi) for e in (b.lo, b.hi)])


SCALARS: tuple[float | int, ...] = (2, 0.5, -1.5, 3)  # the numbers beside a tensor
EXPONENTS: tuple[float | int, ...] = (2, 3, 0.5, -1, 1.5, -2)
BASES: tuple[float | int, ...] = (2.0, 0.5)


@dataclass(frozen=True, slots=True)
class Fuzz:
    """How the fuzzer draws an op and what it knows of the result.

    `draws` names the generator's families that offer it: "unary" (one tensor, each of its
    spellings), "power" (one tensor and a number from `constants`, the number on the right),
    "scalar" (one tensor and a number from `constants`, or `SCALARS` when empty, in each of
    `forms`), "tensor" (two tensors with its operator), and "matmul", "reduction", "view",
    drawn by their own code. `rule` bounds the result from its operands' bounds, or says
    None where the op would be ill conditioned: a `UnaryRule` for "unary", else a
    `BinaryRule` over the left and right operands (a number as a point interval).
    `dtype`: "keep" (the promoted dtype, integers too), "float" (integers give float32),
    "floats" (offered on floats only). `saves`: backward saves a tensor; `number_saves` the
    same beside a number, where None means it saves only the number (backward frees it)."""

    draws: tuple[str, ...]
    feature: str = "ops"  # the fuzzer's --tag group its coverage label belongs to
    rule: Callable[..., Interval | None] | None = None
    dtype: str = "keep"
    saves: bool = False
    forms: tuple[str, ...] = ()  # with a number: "{x} - {c}", "{c} - {x}"
    constants: tuple[float | int, ...] = ()
    number_saves: bool | None = False


# --- the table --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Op:
    """One op of the suite. `syntax` holds its operator spellings with `x`, `y` for tensors
    and `c` for a number (`"x + y"`, `"c - x"`, `"-x"`, `"x[i]"`)."""

    name: str
    functions: tuple[str, ...] = ()  # module-level: exp(x)
    methods: tuple[str, ...] = ()  # x.exp()
    attributes: tuple[str, ...] = ()  # x.T
    syntax: tuple[str, ...] = ()
    nodes: tuple[str, ...] = ()  # reference's Function classes, by dotted path
    fuzz: Fuzz = field(default_factory=lambda: Fuzz(()))
    checks: tuple[Check, ...] = ()
    capability: str | None = None  # what a spec using it needs, beside the core

    @property
    def operators(self) -> tuple[str, ...]:
        """The binary operators among its spellings (`+` of `x + y`)."""
        return tuple(text.split()[1] for text in self.syntax if len(text.split()) == 3)


def _unary(
    name: str, node: str, rule: UnaryRule, check: Check, dtype: str = "float", saves: bool = True
) -> Op:
    return Op(
        name,
        functions=(name,),
        methods=(name,),
        nodes=(f"reference.ops.unary.{node}",),
        fuzz=Fuzz(("unary",), rule=rule, dtype=dtype, saves=saves),
        checks=(check,),
    )


_AR = "reference.ops.arithmetic."
_SHAPE = "reference.ops.shape."
_RED = "reference.ops.reduction."

OPS: tuple[Op, ...] = (
    Op(
        "neg",
        syntax=("-x",),
        nodes=("reference.ops.unary.Neg",),
        fuzz=Fuzz(("unary",), rule=lambda b: Interval(-b.hi, -b.lo)),
        checks=(_linear("-x0", (2, 3)),),
    ),
    _unary("exp", "Exp", _exp, Check("exp(x0)", ((2, 3),))),
    _unary("log", "Log", _log, Check("x0.log()", ((2, 3),), (POSITIVE,), NEAR_POLE, AWAY)),
    _unary("tanh", "Tanh", _monotone(math.tanh), Check("tanh(x0)", ((2, 3),))),
    _unary("sigmoid", "Sigmoid", _monotone(_sigmoid), Check("x0.sigmoid()", ((2, 3),))),
    _unary(
        "relu",
        "Relu",
        lambda b: Interval(max(b.lo, 0.0), max(b.hi, 0.0)),
        Check("relu(x0)", ((2, 3),), (OFF_ZERO,), EXACT, KINK, signed=True),
        dtype="keep",
    ),
    Op(
        "pow",
        methods=("pow",),
        syntax=("x ** c",),
        nodes=(_AR + "Pow",),
        fuzz=Fuzz(
            ("power",),
            rule=_pow,
            saves=True,
            forms=("{x} ** {c}", "{x}.pow({c})"),
            constants=EXPONENTS,
        ),  # fmt: skip
        checks=(
            Check("x0 ** 3", ((2, 3),)),
            Check("x0.pow(0.5)", ((2, 3),), (POSITIVE,), NEAR_POLE, AWAY),
            Check("x0 ** -2", ((2, 3),), (POSITIVE,), NEAR_POLE, AWAY),
        ),
    ),
    Op(
        "rpow",
        syntax=("c ** x",),
        nodes=(_AR + "RPow",),
        fuzz=Fuzz(
            ("scalar",), rule=_rpow, forms=("{c} ** {x}",), constants=BASES, number_saves=True
        ),
        checks=(Check("2.0 ** x0", ((2, 3),)),),
    ),
    Op(
        "add",
        syntax=("x + y",),
        nodes=(_AR + "Add", _AR + "AddScalar"),
        fuzz=Fuzz(("scalar", "tensor"), rule=_add, forms=("{x} + {c}", "{c} + {x}")),
        checks=(Check("x0 + x1", ((2, 3), (3,)), tolerance=EXACT, reason=LINEAR),),
    ),
    Op(
        "sub",
        syntax=("x - y",),
        nodes=(_AR + "Sub", _AR + "SubScalar"),
        fuzz=Fuzz(("scalar", "tensor"), rule=_sub, forms=("{x} - {c}",)),
        checks=(Check("x0 - x1", ((2, 1), (1, 3)), tolerance=EXACT, reason=LINEAR),),
    ),
    Op(
        "rsub",
        syntax=("c - x",),
        nodes=(_AR + "Rsub",),
        fuzz=Fuzz(("scalar",), rule=_sub, forms=("{c} - {x}",)),
        checks=(_linear("2.0 - x0", (2, 3)),),
    ),
    Op(
        "mul",
        syntax=("x * y",),
        nodes=(_AR + "Mul", _AR + "MulScalar"),
        fuzz=Fuzz(
            ("scalar", "tensor"),
            rule=product,
            saves=True,
            forms=("{x} * {c}", "{c} * {x}"),
            number_saves=None,
        ),  # fmt: skip
        checks=(Check("x0 * x1", ((2, 3), (2, 1)), reason=BILINEAR),),
    ),
    Op(
        "div",
        syntax=("x / y",),
        nodes=(_AR + "Div", _AR + "DivScalar"),
        fuzz=Fuzz(
            ("scalar", "tensor"),
            rule=_div,
            dtype="float",
            saves=True,
            forms=("{x} / {c}",),
            number_saves=None,
        ),  # fmt: skip
        checks=(Check("x0 / x1", ((2, 3), (3,)), (ANY, POSITIVE), NEAR_POLE, AWAY),),
    ),
    Op(
        "rdiv",
        syntax=("c / x",),
        nodes=("reference.ops.unary.Reciprocal", _AR + "MulScalar"),
        fuzz=Fuzz(("scalar",), rule=_div, dtype="float", forms=("{c} / {x}",), number_saves=True),
        checks=(Check("2.0 / x0", ((2, 3),), (POSITIVE,), NEAR_POLE, AWAY),),
    ),
    Op(
        "pow_tensor",
        syntax=("x ** y",),
        nodes=(_AR + "PowTensor",),
        fuzz=Fuzz(("tensor",), rule=_pow_tensor, dtype="floats", saves=True),
        checks=(
            Check(
                "x0 ** x1",
                ((2, 3), (3,)),
                (POSITIVE, ANY),
                NEAR_POLE,
                "positive bases in [0.5, 2] and exponents in [-2, 2]: smooth, values below 4",
            ),
        ),
    ),
    Op(
        "matmul",
        functions=("matmul",),
        syntax=("x @ y",),
        nodes=tuple(f"reference.ops.linalg.{name}" for name in ("Mm", "Mv", "Dot")),
        fuzz=Fuzz(("matmul",), feature="matmul"),
        checks=(
            Check("x0 @ x1", ((2, 3), (3, 4)), reason=BILINEAR),
            Check("matmul(x0, x1)", ((2, 3), (3,)), reason=BILINEAR),
            Check("x0 @ x1", ((3,), (3,)), reason=BILINEAR),
            Check("x0 @ x1", ((3,), (3, 2)), reason=BILINEAR),
        ),
    ),
    Op(
        "sum",
        functions=("sum",),
        methods=("sum",),
        nodes=(_RED + "Sum",),
        fuzz=Fuzz(("reduction",), feature="reductions"),
        checks=(_linear("x0.sum()", (2, 3)),),
    ),
    Op(
        "sum(dim)",
        functions=("sum",),
        methods=("sum",),
        nodes=(_RED + "SumDim",),
        fuzz=Fuzz(("reduction",), feature="reductions"),
        checks=(
            _linear("x0.sum(dim=1, keepdim=True)", (2, 3)),
            _linear("sum(x0, dim=(0, 2))", (2, 3, 2)),
        ),
    ),
    Op(
        "mean",
        functions=("mean",),
        methods=("mean",),
        nodes=(_RED + "Mean",),
        fuzz=Fuzz(("reduction",), feature="reductions", dtype="floats"),
        checks=(_linear("mean(x0)", (2, 3)),),
    ),
    Op(
        "mean(dim)",
        functions=("mean",),
        methods=("mean",),
        nodes=(_RED + "MeanDim",),
        fuzz=Fuzz(("reduction",), feature="reductions", dtype="floats"),
        checks=(
            _linear("x0.mean(dim=0)", (2, 3)),
            _linear("x0.mean(-1, keepdim=True)", (3, 2)),
        ),
    ),
    Op(
        "view",
        methods=("view",),
        nodes=(_SHAPE + "View",),
        fuzz=Fuzz(("view",), feature="views"),
        checks=(_linear("x0.view(3, 2)", (2, 3)),),
    ),
    Op(
        "reshape",
        methods=("reshape",),
        nodes=(_SHAPE + "ReshapeAlias", _SHAPE + "UnsafeView"),
        fuzz=Fuzz(("view",), feature="views"),
        checks=(_linear("x0.t().reshape(6)", (2, 3)),),
    ),
    Op(
        "t",
        methods=("t",),
        nodes=(_SHAPE + "T",),
        fuzz=Fuzz(("view",), feature="views"),
        checks=(_linear("x0.t()", (2, 3)),),
    ),
    Op(
        "T",
        attributes=("T",),
        nodes=(_SHAPE + "Permute",),
        fuzz=Fuzz(("view",), feature="views"),
        checks=(_linear("x0.T", (2, 3)),),
    ),
    Op(
        "transpose",
        methods=("transpose",),
        nodes=(_SHAPE + "Transpose",),
        fuzz=Fuzz(("view",), feature="views"),
        checks=(_linear("x0.transpose(0, 2)", (2, 3, 2)),),
    ),
    Op(
        "select",
        syntax=("x[i]",),
        nodes=(_SHAPE + "Select",),
        fuzz=Fuzz(("view",), feature="views"),
        checks=(_linear("x0[1]", (2, 3)), _linear("x0[:, -1]", (2, 3))),
    ),
    Op(
        "slice",
        syntax=("x[i]",),
        nodes=(_SHAPE + "Index",),
        fuzz=Fuzz(("view",), feature="views"),
        checks=(_linear("x0[1:]", (3, 2)),),
    ),
)


def ops() -> tuple[Op, ...]:
    """The table as it stands now (a test may patch `OPS`)."""
    return OPS


def drawn_by(family: str) -> list[Op]:
    """The ops the fuzzer's `family` offers, in table order."""
    return [op for op in OPS if family in op.fuzz.draws]


def names() -> tuple[str, ...]:
    return tuple(op.name for op in OPS)


def spelled_functions() -> frozenset[str]:
    return frozenset(name for op in OPS for name in op.functions)


def spelled_methods() -> frozenset[str]:
    return frozenset(name for op in OPS for name in op.methods)


def spelled_attributes() -> frozenset[str]:
    return frozenset(name for op in OPS for name in op.attributes)


def binary_operators() -> frozenset[str]:
    return frozenset(symbol for op in OPS for symbol in op.operators)


def result_dtype(op: Op, dtype: str) -> str | None:
    """The result's dtype from the promoted operand dtype, or None where it is not offered."""
    if op.fuzz.dtype == "floats":
        return dtype if dtype in FLOATS else None
    if op.fuzz.dtype == "float":
        return dtype if dtype in FLOATS else "float32"
    return dtype
