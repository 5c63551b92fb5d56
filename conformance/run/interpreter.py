"""Run a scenario's compiled steps on one backend, once, and collect what differs.

One `Interpreter` is one run in fresh state: its own variables, its own seeded generator, grad
mode enabled at the start and restored at the end whatever happens. With `checking` off it
only replays the steps, for timing.
"""

from __future__ import annotations

import builtins
import re
import time
import traceback
import warnings
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from conformance.backends.base import Backend
from conformance.errors import Location
from conformance.run.diff import Mismatch, Where, diff
from conformance.run.results import ErrorInfo, Fault
from conformance.run.values import DTypeValue, observe, show
from conformance.spec import language as L
from conformance.spec.limits import power_problem
from conformance.spec.model import (
    Expect,
    MetaCheck,
    NoWarning,
    Pattern,
    Raises,
    Run,
    Scenario,
    WarningCheck,
    Warns,
)

_HARNESS = str(Path(__file__).parent)
_DRAWN: dict[tuple[Any, ...], np.ndarray] = {}  # see Interpreter._draw
_DRAWN_MAX = 256
_TRACE_FRAMES = 4  # the innermost backend frames: enough to find the bug, short enough to read


class ScenarioError(Exception):
    """A step could not run for a reason of the scenario's own (an unbound name, say)."""


@dataclass
class Outcome:
    """What one run saw: failed checks, the error that stopped it, and the values that
    unpinned expectations observed (by step index) for comparison with the baseline."""

    mismatches: list[Mismatch] = field(default_factory=list)
    error: ErrorInfo | None = None
    observations: dict[int, object] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    fault: Fault | None = None  # the run never finished: its worker crashed or timed out


class Interpreter:
    """One run of one scenario on one backend; `run()` may be called once."""

    def __init__(
        self,
        scenario: Scenario,
        backend: Backend,
        *,
        checking: bool = True,
        baseline: Mapping[int, object] | None = None,
        baseline_name: str | None = None,
        finite_differences: bool = True,
    ) -> None:
        self.scenario = scenario
        self.finite_differences = finite_differences  # label gradient diffs (a re-run each)
        self.backend = backend
        self.checking = checking
        self.baseline = baseline
        self.baseline_name = baseline_name
        self.env: dict[str, Any] = {}
        self.rng: np.random.Generator | None = None  # made on a first draw _DRAWN lacks
        self.draws: list[tuple[str, tuple[int, ...], str]] = []  # randn/rand so far
        self.drawn = 0  # how many of them `rng` has made (the rest came from _DRAWN)
        self.outcome = Outcome()
        self.path = scenario.where.path
        self.line = scenario.where.line
        self.caught: list[warnings.WarningMessage] = []
        self.consumed: set[int] = set()

    # --- the run ---------------------------------------------------------------------------

    def run(self) -> Outcome:
        backend, outcome = self.backend, self.outcome
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self.caught = caught
            try:
                previous = backend.grad_enabled()
            except Exception as exc:
                outcome.error = self._error_info(exc)
                return outcome
            try:
                backend.reset(self.scenario.seed)
                backend.synchronize()
                start = time.perf_counter()
                for step in self.scenario.steps:
                    self.path, self.line = step.where.path, step.where.line
                    _STEPS[type(step)](self, step)
                backend.synchronize()
                outcome.elapsed = time.perf_counter() - start
            except Exception as exc:
                outcome.error = self._error_info(exc)
            finally:
                try:
                    backend.set_grad_enabled(previous)
                except Exception as exc:
                    outcome.error = outcome.error or self._error_info(exc)
        outcome.warnings = sorted(
            {_warning_text(w) for i, w in enumerate(caught) if i not in self.consumed}
        )
        return outcome

    def _where(self) -> Where:
        return Where(self.scenario.id, self.backend.name, Location(self.path, self.line))

    def _error_info(self, exc: BaseException) -> ErrorInfo:
        frames = [
            f"{frame.filename}:{frame.lineno} in {frame.name}"
            for frame in traceback.extract_tb(exc.__traceback__)
            if not frame.filename.startswith(_HARNESS)
        ]
        trace = "\n".join(frames[-_TRACE_FRAMES:])
        message = str(exc).strip() or repr(exc)
        return ErrorInfo(Location(self.path, self.line), type(exc).__name__, message, trace)

    # --- steps -----------------------------------------------------------------------------

    def _run(self, step: Run) -> None:
        self.body(step.body)

    def _expect(self, step: Expect) -> None:
        mark = len(self.caught)
        value = self.eval(step.expr)
        if not self.checking:
            return
        if step.warns is not None:
            self._check_warning(step.where, step.warns, mark, step.source)
        where = self._where()
        if step.pinned or step.cross_backend:
            self._compare(step, observe(self.backend, value), where)
        for check in step.meta:
            self._check_meta(check, value, step.source, where)

    def _compare(self, step: Expect, observed: object, where: Where) -> None:
        """Diff a value with the pinned one, or with the baseline's value for this step."""
        expected_from = None
        if step.pinned:
            expected = step.value
        else:
            self.outcome.observations[step.index] = observed
            if self.baseline is None:
                return  # this is the baseline, or the runner noted why there is none
            if step.index not in self.baseline:
                self.outcome.notes.append(
                    f"{step.where}: nothing to compare {step.source} with: "
                    f"{self.baseline_name} did not reach this step"
                )
                return
            expected, expected_from = self.baseline[step.index], self.baseline_name
        mismatch = diff(
            expected,
            observed,
            where=where,
            path=step.source,
            rtol=step.rtol,
            atol=step.atol,
            expected_from=expected_from,
        )
        if mismatch is not None and self.finite_differences:
            from conformance.run.finite_difference import annotate  # it builds on this module

            mismatch = annotate(self, step, mismatch, expected, observed)
        self._report(mismatch)

    def _check_meta(self, check: MetaCheck, value: Any, source: str, where: Where) -> None:
        key, expected = check.key, check.expected
        if key == "is_none":
            self._report(diff(expected, value is None, where=where, path=f"{source} is None"))
            return
        if value is None:
            self.outcome.mismatches.append(
                Mismatch(
                    where,
                    source,
                    f"cannot check {key}",
                    f"a tensor with {key}={expected!r}",
                    "None",
                )
            )
            return
        backend = self.backend
        got: object
        path = f"{source}.{key}"
        if key == "dtype":
            dtype = backend.get_attr(value, "dtype")
            got = DTypeValue(backend.dtype_name(dtype) or str(dtype))
            expected = DTypeValue(str(expected))
        elif key == "shape":
            got = tuple(observe(backend, backend.get_attr(value, "shape")))  # type: ignore[arg-type]
        elif key == "stride":  # in elements, as torch's stride() gives them
            got = tuple(observe(backend, backend.call_method(value, "stride", (), {})))  # type: ignore[arg-type]
        elif key == "is_contiguous":
            got = backend.call_method(value, "is_contiguous", (), {})
        elif key == "grad_fn":
            node = backend.get_attr(value, "grad_fn")
            got = None if node is None else str(backend.call_method(node, "name", (), {}))
            path = f"{source}.grad_fn" if node is None or expected is None else f"{path}.name()"
        else:
            got = backend.get_attr(value, key)
        self._report(diff(expected, got, where=where, path=path))

    def _raises(self, step: Raises) -> None:
        try:
            self.body(step.body)
        except Exception as exc:
            if self.checking and not _matches(step.expected, type(exc), str(exc)):
                self._fail(
                    step.where,
                    "raised the wrong exception",
                    step.source,
                    step.expected.describe(),
                    f"{type(exc).__name__}: {str(exc).strip()}",
                )
            return
        if self.checking:
            self._fail(
                step.where, "raised nothing", step.source, step.expected.describe(), "no exception"
            )

    def _warns(self, step: Warns) -> None:
        mark = len(self.caught)
        self.body(step.body)
        if self.checking:
            self._check_warning(step.where, step.expected, mark, step.source)

    def _check_warning(
        self, where: Location, expected: WarningCheck, mark: int, source: str
    ) -> None:
        seen = list(enumerate(self.caught))[mark:]
        if isinstance(expected, NoWarning):
            if seen:
                self.consumed.update(index for index, _ in seen)  # reported here, not again
                got = "; ".join(_warning_text(w) for _, w in seen)
                self._fail(where, "warned unexpectedly", source, expected.describe(), got)
            return
        for index, warning in seen:
            if _matches(expected, warning.category, str(warning.message)):
                self.consumed.add(index)
                return
        got = "; ".join(_warning_text(w) for _, w in seen) or "no warning"
        self._fail(where, "did not warn as expected", source, expected.describe(), got)

    def _fail(self, step: Location, problem: str, source: str, expected: str, got: str) -> None:
        """A failed raises/warns check, reported at its step with the first line of `run`."""
        lines = source.strip().splitlines()
        path = lines[0] + (" ..." if len(lines) > 1 else "")
        where = Where(self.scenario.id, self.backend.name, step)
        self.outcome.mismatches.append(Mismatch(where, path, problem, expected, got))

    def _report(self, mismatch: Mismatch | None) -> None:
        if mismatch is not None:
            self.outcome.mismatches.append(mismatch)

    # --- statements ------------------------------------------------------------------------

    def body(self, body: tuple[L.Stmt, ...]) -> None:
        for stmt in body:
            self.line = stmt.line
            _STATEMENTS[type(stmt)](self, stmt)

    def _assign(self, stmt: L.Assign) -> None:
        value = self.eval(stmt.value)
        for target in stmt.targets:
            self._bind(target, value)

    def _bind(self, target: L.Target, value: Any) -> None:
        if isinstance(target, L.Var):
            self.env[target.name] = value
        elif isinstance(target, L.GetAttr):
            self.backend.set_attr(self.eval(target.obj), target.name, value)
        else:
            items = tuple(value)
            if len(items) != len(target.targets):
                raise ScenarioError(
                    f"expected {len(target.targets)} values to unpack, got {len(items)}"
                )
            for item_target, item in zip(target.targets, items):
                self._bind(item_target, item)

    def _in_place(self, stmt: L.InPlace) -> None:
        """`x += v` as Python runs it: the backend applies the augmented operator (the
        tensor's `__iadd__`, or `__add__` where it has none) and the target is rebound to
        what it gives, so a tensor without in-place operators shows it."""
        operand = self.eval(stmt.value)
        target = stmt.target
        if isinstance(target, L.Var):
            self.env[target.name] = self._augmented(stmt.op, self._lookup(target), operand)
            return
        holder = self.eval(target.obj)
        current = self.backend.get_attr(holder, target.name)
        result = self._augmented(stmt.op, current, operand)
        self.backend.set_attr(holder, target.name, result)

    def _augmented(self, op: str, left: Any, right: Any) -> Any:
        if op == "**=":
            problem = power_problem(left, right)
            if problem is not None:
                raise ScenarioError(problem)
        return self.backend.binary(op, left, right)

    def _evaluate(self, stmt: L.Evaluate) -> None:
        self.eval(stmt.expr)

    def _with_modes(self, stmt: L.WithModes) -> None:
        with ExitStack() as stack:
            for mode in stmt.modes:
                args = [self.eval(arg) for arg in mode.args]
                stack.enter_context(self.backend.grad_mode(mode.kind, args))
            self.body(stmt.body)

    # --- expressions -----------------------------------------------------------------------

    def eval(self, expr: L.Expr) -> Any:
        return _EXPRESSIONS[type(expr)](self, expr)

    def _lookup(self, expr: L.Var) -> Any:
        try:
            return self.env[expr.name]
        except KeyError:
            raise ScenarioError(
                f"{expr.name} is not bound: the step that binds it raised before binding it"
            ) from None

    def _kwargs(self, kwargs: L.Kwargs) -> dict[str, Any]:
        return {name: self.eval(value) for name, value in kwargs}

    def _call(self, expr: L.Call) -> Any:
        args = [self.eval(arg) for arg in expr.args]
        return self.backend.call(expr.func, args, self._kwargs(expr.kwargs))

    def _call_method(self, expr: L.CallMethod) -> Any:
        obj = self.eval(expr.obj)
        args = [self.eval(arg) for arg in expr.args]
        return self.backend.call_method(obj, expr.name, args, self._kwargs(expr.kwargs))

    def _random(self, expr: L.Random) -> Any:
        shape = [self.eval(dim) for dim in expr.shape]
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = list(shape[0])
        if not all(isinstance(dim, int) and not isinstance(dim, bool) for dim in shape):
            raise ScenarioError(f"{expr.kind}() expects integer sizes, got {shape}")
        data = self._draw((expr.kind, tuple(shape), expr.dtype))
        return self.backend.tensor(data, expr.dtype, bool(self.eval(expr.requires_grad)))

    def _draw(self, request: tuple[str, tuple[int, ...], str]) -> np.ndarray:
        """The next array from the scenario's seeded generator: (kind, shape, dtype).

        Every run of a scenario draws the same arrays, so each is drawn once per process and
        copied after (a bench-sized randn costs more than the autograd work being timed). The
        key is the seed and every draw so far, which is the generator's state.
        """
        self.draws.append(request)
        key = (self.scenario.seed, tuple(self.draws))
        cached = _DRAWN.get(key)
        if cached is not None:
            return cached.copy()
        if self.rng is None:  # seeding costs more than many a scenario's whole run
            self.rng = np.random.default_rng(self.scenario.seed)
        while True:  # catch up on any earlier draws the cache answered, then draw this one
            kind, shape, dtype = self.draws[self.drawn]
            sample = self.rng.standard_normal if kind == "randn" else self.rng.random
            data = np.asarray(sample(shape), dtype=dtype)
            self.drawn += 1
            if self.drawn == len(self.draws):
                break
        if len(_DRAWN) >= _DRAWN_MAX:
            del _DRAWN[next(iter(_DRAWN))]  # the oldest: fuzzing draws without end
        _DRAWN[key] = data
        return data.copy()

    def _hook(self, expr: L.Hook) -> Callable[[Any], Any]:
        backend = self.backend
        if expr.kind == "scale":
            factor = self.eval(expr.arg)

            def scale(grad: Any) -> Any:
                return backend.binary("*", grad, factor)

            return scale
        name = str(self.eval(expr.arg))
        seen = self.env.setdefault(name, [])
        if not isinstance(seen, list):
            raise ScenarioError(f"record({name}): {name} is bound to {show(seen)}, not a list")

        def record(*args: Any) -> None:
            # a tensor hook is given a gradient (or a post-accumulate hook the leaf); a node's
            # pre-hook its incoming gradients, a tuple; its post-hook two tuples, kept as a pair
            seen.append(args[0] if len(args) == 1 else args)

        return record


def _slice(self: Interpreter, expr: L.SliceOf) -> slice:
    parts = (
        None if part is None else self.eval(part) for part in (expr.lower, expr.upper, expr.step)
    )
    return slice(*parts)


def _binary(self: Interpreter, expr: L.BinOp) -> Any:
    left, right = self.eval(expr.left), self.eval(expr.right)
    if expr.op == "**":  # Python computes 10**10**10 exactly, for ever: refuse it instead
        problem = power_problem(left, right)
        if problem is not None:
            raise ScenarioError(problem)
    return self.backend.binary(expr.op, left, right)


def _matches(expected: Pattern, kind: type[BaseException], message: str) -> bool:
    wanted = getattr(builtins, expected.name)
    if not issubclass(kind, wanted):
        return False
    return expected.match is None or expected.match.search(message) is not None


def _warning_text(warning: warnings.WarningMessage) -> str:
    message = re.sub(r"\s+", " ", str(warning.message)).strip()
    return f"{warning.category.__name__}: {message}"


_STEPS: dict[type, Callable[[Interpreter, Any], None]] = {
    Run: Interpreter._run,
    Expect: Interpreter._expect,
    Raises: Interpreter._raises,
    Warns: Interpreter._warns,
}
_STATEMENTS: dict[type, Callable[[Interpreter, Any], None]] = {
    L.Assign: Interpreter._assign,
    L.InPlace: Interpreter._in_place,
    L.Evaluate: Interpreter._evaluate,
    L.WithModes: Interpreter._with_modes,
}
_EXPRESSIONS: dict[type, Callable[[Interpreter, Any], Any]] = {
    L.Const: lambda self, expr: expr.value,
    L.Var: Interpreter._lookup,
    L.DType: lambda self, expr: self.backend.dtype(expr.name),
    L.ListOf: lambda self, expr: [self.eval(item) for item in expr.items],
    L.TupleOf: lambda self, expr: tuple(self.eval(item) for item in expr.items),
    L.SliceOf: _slice,
    L.BinOp: _binary,
    L.Neg: lambda self, expr: self.backend.unary("-", self.eval(expr.operand)),
    L.Index: lambda self, expr: self.backend.index(self.eval(expr.obj), self.eval(expr.key)),
    L.GetAttr: lambda self, expr: self.backend.get_attr(self.eval(expr.obj), expr.name),
    L.Call: Interpreter._call,
    L.CallMethod: Interpreter._call_method,
    L.Random: Interpreter._random,
    L.Hook: Interpreter._hook,
    L.Len: lambda self, expr: len(self.eval(expr.arg)),
}
