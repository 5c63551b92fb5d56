"""`conformance gradcheck`: every differentiable op's analytic gradient against central finite
differences, in float64, on one backend.

Each case is a spec-language expression over `x0`, `x1`, evaluated through the harness's
interpreter, so any backend can be checked and no engine is trusted. The scalar checked is
`(expr * w).sum()` with a random `w`, which tests the whole vector-Jacobian product and not
only its sum. Tolerances are per op, each with the reason it is what it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from conformance.backends.base import Backend
from conformance.errors import Location
from conformance.fuzz.ops import DIFFERENTIABLE
from conformance.interpreter import Interpreter
from conformance.spec.compiler import Scope, compile_expression
from conformance.spec.model import Scenario

STEP = 1e-6  # central differences: truncation ~STEP² f''', rounding ~eps |f| / STEP; both ≲ 1e-9

_SMOOTH = "smooth on the sampled range: central differences are accurate to ~1e-9"
_LINEAR = "linear in its input: the difference quotient is exact up to rounding"
_AWAY = "inputs sampled in [0.5, 2], away from the pole at 0, so curvature stays below ~16"
_KINK = "inputs sampled at least 0.25 away from the kink at 0, far beyond the step"

Shape = tuple[int, ...]
Range = tuple[float, float]
_ANY: Range = (-2.0, 2.0)
_POSITIVE: Range = (0.5, 2.0)
_OFF_ZERO: Range = (0.25, 2.0)  # sampled with a random sign


@dataclass(frozen=True, slots=True)
class Case:
    op: str
    expression: str
    shapes: tuple[Shape, ...]
    ranges: tuple[Range, ...]
    rtol: float
    atol: float
    reason: str
    signed: bool = False  # draw |x| from the range and give it a random sign


def _case(
    op: str,
    expression: str,
    shapes: Sequence[Shape],
    ranges: Sequence[Range] | None = None,
    tolerance: tuple[float, float] = (1e-6, 1e-8),
    reason: str = _SMOOTH,
    signed: bool = False,
) -> Case:
    chosen = tuple(ranges) if ranges is not None else tuple(_ANY for _ in shapes)
    return Case(op, expression, tuple(shapes), chosen, *tolerance, reason, signed)


_EXACT = (1e-7, 1e-8)
CASES = (
    _case("neg", "-x0", [(2, 3)], tolerance=_EXACT, reason=_LINEAR),
    _case("exp", "exp(x0)", [(2, 3)]),
    _case("log", "x0.log()", [(2, 3)], [_POSITIVE], (1e-6, 1e-7), _AWAY),
    _case("tanh", "tanh(x0)", [(2, 3)]),
    _case("sigmoid", "x0.sigmoid()", [(2, 3)]),
    _case("relu", "relu(x0)", [(2, 3)], [_OFF_ZERO], _EXACT, _KINK, signed=True),
    _case("pow", "x0 ** 3", [(2, 3)]),
    _case("pow", "x0.pow(0.5)", [(2, 3)], [_POSITIVE], (1e-6, 1e-7), _AWAY),
    _case("pow", "x0 ** -2", [(2, 3)], [_POSITIVE], (1e-6, 1e-7), _AWAY),
    _case("rpow", "2.0 ** x0", [(2, 3)]),
    _case("add", "x0 + x1", [(2, 3), (3,)], tolerance=_EXACT, reason=_LINEAR),
    _case("sub", "x0 - x1", [(2, 1), (1, 3)], tolerance=_EXACT, reason=_LINEAR),
    _case("rsub", "2.0 - x0", [(2, 3)], tolerance=_EXACT, reason=_LINEAR),
    _case("mul", "x0 * x1", [(2, 3), (2, 1)], reason="bilinear: exact up to rounding"),
    _case("div", "x0 / x1", [(2, 3), (3,)], [_ANY, _POSITIVE], (1e-6, 1e-7), _AWAY),
    _case("rdiv", "2.0 / x0", [(2, 3)], [_POSITIVE], (1e-6, 1e-7), _AWAY),
    _case(
        "pow_tensor",
        "x0 ** x1",
        [(2, 3), (3,)],
        [_POSITIVE, _ANY],
        (1e-6, 1e-7),
        "positive bases in [0.5, 2] and exponents in [-2, 2]: smooth, values below 4",
    ),
    _case("matmul", "x0 @ x1", [(2, 3), (3, 4)], reason="bilinear: exact up to rounding"),
    _case("matmul", "matmul(x0, x1)", [(2, 3), (3,)], reason="bilinear: exact up to rounding"),
    _case("matmul", "x0 @ x1", [(3,), (3,)], reason="bilinear: exact up to rounding"),
    _case("matmul", "x0 @ x1", [(3,), (3, 2)], reason="bilinear: exact up to rounding"),
    _case("sum", "x0.sum()", [(2, 3)], tolerance=_EXACT, reason=_LINEAR),
    _case("sum(dim)", "x0.sum(dim=1, keepdim=True)", [(2, 3)], tolerance=_EXACT, reason=_LINEAR),
    _case("sum(dim)", "sum(x0, dim=(0, 2))", [(2, 3, 2)], tolerance=_EXACT, reason=_LINEAR),
    _case("mean", "mean(x0)", [(2, 3)], tolerance=_EXACT, reason=_LINEAR),
    _case("mean(dim)", "x0.mean(dim=0)", [(2, 3)], tolerance=_EXACT, reason=_LINEAR),
    _case("mean(dim)", "x0.mean(-1, keepdim=True)", [(3, 2)], tolerance=_EXACT, reason=_LINEAR),
    _case("view", "x0.view(3, 2)", [(2, 3)], tolerance=_EXACT, reason=_LINEAR),
    _case("reshape", "x0.t().reshape(6)", [(2, 3)], tolerance=_EXACT, reason=_LINEAR),
    _case("t", "x0.t()", [(2, 3)], tolerance=_EXACT, reason=_LINEAR),
    _case("T", "x0.T", [(2, 3)], tolerance=_EXACT, reason=_LINEAR),
    _case("transpose", "x0.transpose(0, 2)", [(2, 3, 2)], tolerance=_EXACT, reason=_LINEAR),
    _case("select", "x0[1]", [(2, 3)], tolerance=_EXACT, reason=_LINEAR),
    _case("select", "x0[:, -1]", [(2, 3)], tolerance=_EXACT, reason=_LINEAR),
    _case("slice", "x0[1:]", [(3, 2)], tolerance=_EXACT, reason=_LINEAR),
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One case on one backend: the worst difference and whether it is within tolerance."""

    case: Case
    passed: bool
    worst: float  # the largest |analytic - numeric| - atol - rtol * |numeric|, if positive
    detail: str


def gradcheck(backend: Backend, seed: int = 0) -> list[Outcome]:
    """Check every case on `backend`; grad mode is restored afterwards."""
    rng = np.random.default_rng(seed)
    checker = _Checker(backend)
    previous = backend.grad_enabled()
    try:
        return [checker.check(case, rng) for case in CASES]
    finally:
        backend.set_grad_enabled(previous)


def uncovered() -> set[str]:
    """Differentiable ops with no case: kept empty by a test."""
    return set(DIFFERENTIABLE) - {case.op for case in CASES}


class _Checker:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        where = Location("<gradcheck>", 1)
        scenario = Scenario(
            "gradcheck", "gradcheck", (), frozenset(), frozenset(), "", "", 0, (), where
        )
        self.interpreter = Interpreter(scenario, backend)
        self.where = where

    def check(self, case: Case, rng: np.random.Generator) -> Outcome:
        inputs = [
            _sample(shape, bounds, case.signed, rng)
            for shape, bounds in zip(case.shapes, case.ranges)
        ]
        try:
            out_shape = np.asarray(self.backend.to_numpy(self.evaluate(case, inputs, None))).shape
            weight = rng.uniform(-1.0, 1.0, out_shape)
            analytic = self.analytic(case, inputs, weight)
            numeric = [self.numeric(case, inputs, weight, k) for k in range(len(inputs))]
        except Exception as exc:
            return Outcome(case, False, float("inf"), f"raised {type(exc).__name__}: {exc}")
        worst, detail = 0.0, ""
        for k, (got, want) in enumerate(zip(analytic, numeric)):
            if got is None or got.shape != want.shape:
                shown = "None" if got is None else f"shape {got.shape}"
                return Outcome(
                    case, False, float("inf"), f"x{k}.grad is {shown}, expected {want.shape}"
                )
            excess = np.abs(got - want) - case.atol - case.rtol * np.abs(want)
            if excess.size and float(excess.max()) > worst:
                at = np.unravel_index(int(np.argmax(excess)), excess.shape)
                worst = float(excess.max())
                where = ", ".join(str(int(i)) for i in at)
                detail = (
                    f"x{k}.grad[{where}]: analytic {float(got[at]):.9g}, "
                    f"numeric {float(want[at]):.9g}"
                )
        return Outcome(case, worst == 0.0, worst, detail)

    def evaluate(
        self, case: Case, inputs: list[np.ndarray], weight: np.ndarray | None, grad: bool = False
    ) -> Any:
        backend = self.backend
        backend.reset(0)
        env = {f"x{k}": backend.tensor(data, "float64", grad) for k, data in enumerate(inputs)}
        text = case.expression
        if weight is not None:
            env["w"] = backend.tensor(weight, "float64", False)
            text = f"(({case.expression}) * w).sum()"
        self.interpreter.env = env
        expr = compile_expression(text, self.where, Scope(bound=set(env)))
        result = self.interpreter.eval(expr)
        return (result, env) if grad else result

    def analytic(
        self, case: Case, inputs: list[np.ndarray], weight: np.ndarray
    ) -> list[np.ndarray | None]:
        out, env = self.evaluate(case, inputs, weight, grad=True)
        self.backend.call_method(out, "backward", (), {})
        grads = [self.backend.get_attr(env[f"x{k}"], "grad") for k in range(len(inputs))]
        return [None if g is None else self.backend.to_numpy(g) for g in grads]

    def numeric(
        self, case: Case, inputs: list[np.ndarray], weight: np.ndarray, k: int
    ) -> np.ndarray:
        grad = np.zeros_like(inputs[k])
        for index in np.ndindex(inputs[k].shape):
            values = []
            for sign in (1.0, -1.0):
                moved = [x.copy() for x in inputs]
                moved[k][index] += sign * STEP
                out = self.evaluate(case, moved, weight)
                values.append(float(self.backend.to_numpy(out)))
            grad[index] = (values[0] - values[1]) / (2 * STEP)
        return grad


def _sample(shape: Shape, bounds: Range, signed: bool, rng: np.random.Generator) -> np.ndarray:
    data = rng.uniform(bounds[0], bounds[1], shape)
    if signed:
        data = data * rng.choice([-1.0, 1.0], shape)
    return np.asarray(data, dtype=np.float64)
