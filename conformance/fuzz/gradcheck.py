"""`conformance gradcheck`: every differentiable op's analytic gradient against central finite
differences, in float64, on one backend.

Each case is a spec-language expression over `x0`, `x1`, evaluated through the harness's
interpreter, so any backend can be checked and no engine is trusted. The scalar checked is
`(expr * w).sum()` with a random `w`, which tests the whole vector-Jacobian product and not
only its sum. The cases, with their tolerances and the reason each is what it is, are the
op table's (`conformance.optable`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from conformance import optable
from conformance.backends.base import Backend
from conformance.errors import Location
from conformance.isolation import Executor, executor_for
from conformance.run.interpreter import Interpreter
from conformance.run.results import Fault
from conformance.spec.compiler import Scope, compile_expression
from conformance.spec.model import Scenario

STEP = 1e-6  # central differences: truncation ~STEP² f''', rounding ~eps |f| / STEP; both ≲ 1e-9

Shape = tuple[int, ...]
Range = tuple[float, float]


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


def cases() -> tuple[Case, ...]:
    """Every check of every op in `conformance.optable`, in table order."""
    return tuple(
        Case(op.name, c.expression, c.shapes, c.input_ranges, *c.tolerance, c.reason, c.signed)
        for op in optable.OPS
        for c in op.checks
    )


CASES = cases()


@dataclass(frozen=True, slots=True)
class Outcome:
    """One case on one backend: the worst difference and whether it is within tolerance."""

    case: Case
    passed: bool
    worst: float  # the largest |analytic - numeric| - atol - rtol * |numeric|, if positive
    detail: str


def gradcheck(backend: Backend | Executor, seed: int = 0) -> list[Outcome]:
    """Check every case on `backend`, one call to its executor each: in a worker, a case that
    crashes or hangs the engine fails as such, and the other cases still run."""
    executor = executor_for(backend)
    outcomes = []
    for index, case in enumerate(CASES):
        found = executor.call(check_case, index, seed)
        if isinstance(found, Fault):
            found = Outcome(case, False, float("inf"), f"{found.status.value}: {found.reason}")
        outcomes.append(found)
    return outcomes


def check_case(backend: Backend, index: int, seed: int = 0) -> Outcome:
    """Check `CASES[index]` at points drawn from (seed, index) alone, so a case gives the same
    result whether it runs alone, after the others, or in a worker restarted after a crash.
    Grad mode is restored afterwards."""
    previous = backend.grad_enabled()
    try:
        return _Checker(backend).check(CASES[index], np.random.default_rng([seed, index]))
    finally:
        backend.set_grad_enabled(previous)


def uncovered() -> set[str]:
    """Differentiable ops with no case: kept empty by a test."""
    return set(optable.names()) - {case.op for case in cases()}


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


def as_function(backend: Backend, expression: str, arity: int) -> Callable[..., Any]:
    """A case's `expression` as a function of `arity` backend tensors (`x0`, `x1`, ...),
    evaluated by the harness's interpreter as `gradcheck` evaluates it: for a test that
    checks the same cases some other way (tests/reference/test_gradcheck.py)."""
    checker = _Checker(backend)
    names = [f"x{k}" for k in range(arity)]
    expr = compile_expression(expression, checker.where, Scope(bound=set(names)))

    def function(*tensors: Any) -> Any:
        checker.interpreter.env = dict(zip(names, tensors))
        return checker.interpreter.eval(expr)

    return function


def _sample(shape: Shape, bounds: Range, signed: bool, rng: np.random.Generator) -> np.ndarray:
    data = rng.uniform(bounds[0], bounds[1], shape)
    if signed:
        data = data * rng.choice([-1.0, 1.0], shape)
    return np.asarray(data, dtype=np.float64)
