"""A third opinion on a gradient diff: what central finite differences in float64 say.

When a backend's gradient differs from the expected one (a pinned value or the baseline's),
the scenario is re-run up to the compared step on a trusted engine in float64 (reference, or
torch when reference is the backend under test), once per side of each differing element of
the leaf, and the scalar the backward differentiated is read: `sum(root * gradient)` summed
over every backward call that accumulated into the leaf's `.grad` since it was last None or
zero (`backward(inputs=...)` counts only for the leaves it names), or
`sum(output * grad_output)` of the `autograd.grad` call that gave the compared gradient.
Then the label says which side the central difference agrees with, or that the function is
not differentiable there (the one-sided differences disagree at two step sizes, or the
function is not finite beside the point) and what torch's convention is.

Autograd does not see everything the forward reads, so neither do these re-runs: whatever
the scenario computes under `no_grad` or `inference_mode`, and every `detach()`, `.data`,
`.grad`, `item()`, `tolist()` and `autograd.grad` result, keeps its unperturbed value in
the perturbed runs. A scenario the re-runs cannot follow honestly gets "no finite-difference
opinion: <why>": a gradient of a gradient (`create_graph=True`), a hook other than the
harness's `record` (it may change gradients), `.data` or `.grad` assignment (other than
`.grad = None`), an in-place change of a leaf that requires grad, of a view or a gradient, or
of any tensor under `no_grad` (only `E.grad.zero_()` and `E.grad.data.zero_()` are allowed,
as gradient resets), a gradient of a non-leaf, or a run that goes differently once perturbed.

The cost is bounded: only "values differ" mismatches of gradients are looked at, at most
`MAX_ELEMENTS` differing elements are perturbed, and the re-runs stop after `BUDGET_S`.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

import numpy as np

from conformance.backends.base import Backend
from conformance.run.diff import DEFAULT_TOLERANCES, Mismatch
from conformance.run.interpreter import _STEPS, Interpreter
from conformance.spec import language as L
from conformance.spec.model import Expect, Scenario

MAX_ELEMENTS = 64  # differing elements perturbed, the worst first
BUDGET_S = 3.0  # wall time for one opinion's re-runs
STEP = 1e-6  # relative step; rounding ~eps |f| / STEP, truncation ~STEP² f'''
AGREE_RTOL = 1e-3  # a float32 gradient against a float64 difference quotient
AGREE_ATOL = 1e-5
KINK = 1e-3  # one-sided differences further apart than this (relative) look like a kink
OPINION = "third opinion"
NO_OPINION = "no finite-difference opinion"

_FACTORIES = frozenset({"tensor", "ones", "zeros", "ones_like", "zeros_like"})
_GRAD_MODE = frozenset({"is_grad_enabled", "set_grad_enabled"})
_UNTRACKED_METHODS = frozenset({"detach", "item", "tolist", "numpy"})
_UNTRACKED_ATTRIBUTES = frozenset({"data", "grad"})
_HOOKS = frozenset({"register_hook", "register_post_accumulate_grad_hook", "register_prehook"})
_NOT_IN_PLACE = frozenset({"requires_grad_"})
_CANONICAL = {"float64": "float64", "float32": "float64", "int64": "int64", "int32": "int32"}
_CANONICAL["bool"] = "bool"


class NoOpinion(Exception):
    """Why the re-runs cannot give an honest opinion on this diff."""


# --- the entry point -------------------------------------------------------------------------


def annotate(
    interpreter: Interpreter,
    step: Expect,
    mismatch: Mismatch,
    expected: object,
    observed: object,
) -> Mismatch:
    """`mismatch` with its finite-difference label, when it is a gradient's values that differ."""
    if mismatch.problem != "values differ" or not _mentions_gradient(interpreter.scenario, step):
        return mismatch
    try:
        label = opinion(
            interpreter.scenario,
            step,
            mismatch,
            expected,
            observed,
            tested=interpreter.backend.name,
        )
    except NoOpinion as exc:
        label = f"{NO_OPINION}: {exc}"
    except Exception as exc:  # the opinion is a courtesy: it never hides the diff itself
        label = f"{NO_OPINION}: the re-run failed ({type(exc).__name__}: {exc})"
    return replace(mismatch, finite_difference=label)


def opinion(
    scenario: Scenario,
    step: Expect,
    mismatch: Mismatch,
    expected: object,
    observed: object,
    *,
    tested: str,
    engine: Backend | None = None,
    budget_s: float = BUDGET_S,
    max_elements: int = MAX_ELEMENTS,
) -> str:
    """The label for a "values differ" mismatch of `step`; raises `NoOpinion` with the reason
    when there is none to give."""
    start = time.perf_counter()
    want, got = _compared_arrays(step, mismatch, expected, observed)
    engine = engine or _engine(tested)
    base = _Trace()
    value, evaluate = _rerun(scenario, step, engine, base)
    if base.hazard:
        raise NoOpinion(base.hazard)
    once = time.perf_counter() - start
    if 3 * once > budget_s:  # an element needs two re-runs, and the first must fit
        raise NoOpinion(f"one re-run takes {once:.2g} s, over a third of the {budget_s:g} s budget")
    target = _resolve(step, mismatch, _Base(base, engine, evaluate), value)
    if target.index_map.shape != got.shape:
        raise NoOpinion(
            f"{mismatch.path} has shape {tuple(got.shape)} here but "
            f"{tuple(target.index_map.shape)} on {engine.name} in float64"
        )
    differing = _differing(want, got, step)
    checked: list[_Element] = []
    f0 = base.loss(target.events)
    for position in differing[:max_elements]:
        if checked and time.perf_counter() - start > budget_s:
            break
        leaf_index = int(target.index_map[position])
        x0 = float(target.leaf_values.flat[leaf_index])

        def at(delta: float, leaf_index: int = leaf_index) -> float:
            trace = _Trace(base, (target.producer, leaf_index, delta))
            _rerun(scenario, step, engine, trace)
            if trace.hazard:
                raise NoOpinion(trace.hazard)
            if len(trace.events) != len(base.events):
                raise NoOpinion(f"with {mismatch.path} perturbed the scenario ran differently")
            return trace.loss(target.events)

        checked.append(_Element(position, _slope(at, x0, f0)))
    if not checked:
        raise NoOpinion(f"out of time ({budget_s:g} s) before the first element")
    return _label(
        checked,
        len(differing),
        want,
        got,
        path=mismatch.path,
        expected_from=mismatch.expected_from,
        engine=engine.name,
    )


def _mentions_gradient(scenario: Scenario, step: Expect) -> bool:
    """Whether the compared expression reads a `.grad` or a name bound to an
    `autograd.grad` result: the cheap test that keeps forward-value diffs out."""
    names = {
        target.name
        for stmt in _statements(scenario.steps[: step.index])
        if isinstance(stmt, L.Assign)
        and isinstance(stmt.value, L.Call)
        and stmt.value.func == "autograd.grad"
        for target in stmt.targets
        if isinstance(target, L.Var)
    }
    for node in _walk(step.expr):
        if isinstance(node, L.GetAttr) and node.name == "grad":
            return True
        if isinstance(node, L.Var) and node.name in names:
            return True
        if isinstance(node, L.Call) and node.func == "autograd.grad":
            return True
    return False


# --- the re-runs ------------------------------------------------------------------------------


@dataclass
class _Event:
    """A backward (`accumulates`) or `autograd.grad` call: the scalar it differentiated, and
    in the unperturbed run what it needs to be matched with the compared gradient."""

    accumulates: bool
    value: float
    inputs: tuple[Any, ...] | None = None  # backward(inputs=...) or autograd.grad's inputs
    result: Any = None  # autograd.grad's result
    fresh: frozenset[int] = frozenset()  # producers whose leaf had no gradient before it


@dataclass
class _Trace:
    """One re-run's record. The unperturbed run (`base` None) keeps every untracked value and
    every leaf; a perturbed run replays the former and perturbs one leaf element."""

    base: _Trace | None = None
    perturb: tuple[int, int, float] | None = None  # (producer, flat index, delta)
    sequence: int = 0
    frozen: dict[int, Any] = field(default_factory=dict)
    leaves: dict[int, Any] = field(default_factory=dict)  # producer -> the leaf it made
    factory_made: list[Any] = field(default_factory=list)
    events: list[_Event] = field(default_factory=list)
    hazard: str = ""
    resetting: bool = False  # inside `E.grad.zero_()` / `E.grad.data.zero_()`

    def loss(self, events: Sequence[int]) -> float:
        return math.fsum(self.events[index].value for index in events)

    def refuse(self, why: str) -> None:
        self.hazard = self.hazard or why


class _Shadow:
    """The trusted engine seen through the `Backend` interface, in float64, recording (or
    replaying) what a re-run needs. Anything not intercepted goes straight to the engine."""

    def __init__(self, engine: Backend, trace: _Trace) -> None:
        self.engine = engine
        self.trace = trace
        self.name = engine.name

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)

    # --- values made -----------------------------------------------------------------------

    def dtype(self, name: str) -> Any:
        return self.engine.dtype("float64" if name == "float32" else name)

    def tensor(self, data: np.ndarray, dtype: str, requires_grad: bool) -> Any:
        if dtype == "float32":
            dtype, data = "float64", data.astype(np.float64)
        return self._made(lambda: self.engine.tensor(data, dtype, requires_grad), factory=True)

    def call(self, func: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        engine = self.engine
        if func in _FACTORIES:

            def make() -> Any:
                made = engine.call(func, args, kwargs)
                if "dtype" not in kwargs and self._dtype(made) == "float32":
                    made = engine.call(func, args, {**kwargs, "dtype": self.dtype("float64")})
                return made

            return self._made(make, factory=True)
        if func in _GRAD_MODE:
            return engine.call(func, args, kwargs)
        if func in ("autograd.grad", "autograd.backward"):
            grad = func == "autograd.grad"
            names = ("outputs", "inputs", "grad_outputs") if grad else ("tensors", "grad_tensors")
            roots = _argument(args, kwargs, 0, names[0])
            weights = _argument(args, kwargs, 2 if grad else 1, names[-1])
            inputs = _argument(args, kwargs, 1, "inputs") if grad else kwargs.get("inputs")
            return self._event(
                lambda: engine.call(func, args, kwargs), roots, weights, inputs, kwargs, not grad
            )
        return self._op(lambda: engine.call(func, args, kwargs))

    def call_method(
        self, obj: Any, name: str, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> Any:
        engine = self.engine
        if name == "backward":
            weights = _argument(args, kwargs, 0, "gradient")
            return self._event(
                lambda: engine.call_method(obj, name, args, kwargs),
                obj,
                weights,
                kwargs.get("inputs"),
                kwargs,
                True,
            )
        if name in _HOOKS:
            hook = args[0] if args else kwargs.get("hook")
            if getattr(hook, "__name__", "") != "record":
                self.trace.refuse(f"a hook that may change gradients ({name})")
        if name.endswith("_") and not name.startswith("_") and name not in _NOT_IN_PLACE:
            self.check_in_place(obj, f".{name}()")
        untracked = name in _UNTRACKED_METHODS
        return self._op(lambda: engine.call_method(obj, name, args, kwargs), untracked)

    def get_attr(self, obj: Any, name: str) -> Any:
        untracked = name in _UNTRACKED_ATTRIBUTES
        return self._op(lambda: self.engine.get_attr(obj, name), untracked)

    def set_attr(self, obj: Any, name: str, value: Any) -> None:
        if name == "data":
            self.trace.refuse("the scenario assigns .data")
        elif name == "grad" and value is not None:
            self.trace.refuse("the scenario sets a .grad to a tensor")
        self.engine.set_attr(obj, name, value)

    def binary(self, op: str, left: Any, right: Any) -> Any:
        return self._op(lambda: self.engine.binary(op, left, right))

    def unary(self, op: str, value: Any) -> Any:
        return self._op(lambda: self.engine.unary(op, value))

    def index(self, obj: Any, key: Any) -> Any:
        return self._op(lambda: self.engine.index(obj, key))

    # --- bookkeeping -----------------------------------------------------------------------

    def check_in_place(self, obj: Any, what: str) -> None:
        """Refuse an in-place change autograd does not follow as part of the forward."""
        engine, trace = self.engine, self.trace
        if trace.resetting or not engine.is_tensor(obj):
            return
        leaf = bool(engine.get_attr(obj, "is_leaf"))
        if leaf:
            constant = not engine.get_attr(obj, "requires_grad")
            if constant and any(obj is made for made in self._base().factory_made):
                return  # a constant the scenario made, changed before use: part of the forward
            trace.refuse(f"{what} changes a leaf, a view of one or a gradient in place")
        elif not engine.grad_enabled():
            trace.refuse(f"{what} changes a tensor in place where autograd does not record it")

    def _base(self) -> _Trace:
        return self.trace.base or self.trace

    def _dtype(self, value: Any) -> str | None:
        engine = self.engine
        if not engine.is_tensor(value):
            return None
        return engine.dtype_name(engine.get_attr(value, "dtype"))

    def _made(self, make: Callable[[], Any], factory: bool) -> Any:
        value = self._op(make)
        if factory and self.trace.base is None:
            self.trace.factory_made.append(value)
        return value

    def _op(self, run: Callable[[], Any], untracked: bool = False) -> Any:
        """Run one operation; a value autograd does not track keeps its unperturbed value in
        a perturbed run; the perturbed leaf is swapped in where it was first made."""
        trace, engine = self.trace, self.engine
        number = trace.sequence
        trace.sequence += 1
        value = run()
        untracked = untracked or not engine.grad_enabled()
        if trace.base is None:
            if untracked:
                trace.frozen[number] = _plain(engine, value)
            if self._new_leaf(value):
                trace.leaves[number] = value
        else:
            if number in trace.base.frozen:
                value = _rebuilt(engine, trace.base.frozen[number])
            if trace.perturb is not None and trace.perturb[0] == number:
                _, flat, delta = trace.perturb
                data = np.array(engine.to_numpy(value), dtype=np.float64)
                data.flat[flat] += delta
                value = engine.tensor(
                    data, "float64", bool(engine.get_attr(value, "requires_grad"))
                )
        return value

    def _new_leaf(self, value: Any) -> bool:
        """A float64 leaf tensor not seen before: one the compared gradient may be of."""
        engine = self.engine
        return (
            engine.is_tensor(value)
            and bool(engine.get_attr(value, "is_leaf"))
            and self._dtype(value) == "float64"
            and not any(value is leaf for leaf in self.trace.leaves.values())
        )

    def _event(
        self,
        run: Callable[[], Any],
        roots: Any,
        weights: Any,
        inputs: Any,
        kwargs: Mapping[str, Any],
        accumulates: bool,
    ) -> Any:
        trace, engine = self.trace, self.engine
        if kwargs.get("create_graph"):
            trace.refuse("create_graph=True: the compared gradient may be of a gradient")
        fresh: frozenset[int] = frozenset()
        if trace.base is None and accumulates:
            fresh = frozenset(
                number
                for number, leaf in trace.leaves.items()
                if _no_gradient(engine, engine.get_attr(leaf, "grad"))
            )
        value = _scalar(engine, roots, weights)
        result = self._op(run, untracked=not accumulates)
        kept = tuple(_sequence(inputs)) if inputs is not None else None
        trace.events.append(_Event(accumulates, value, kept, result, fresh))
        return result


class _ShadowInterpreter(Interpreter):
    """The harness's interpreter on the shadow engine, screening each statement first."""

    def __init__(self, scenario: Scenario, shadow: _Shadow) -> None:
        super().__init__(scenario, cast(Backend, shadow), checking=False)
        self.shadow = shadow

    def body(self, body: tuple[L.Stmt, ...]) -> None:
        trace = self.shadow.trace
        for stmt in body:
            if isinstance(stmt, L.InPlace):
                if isinstance(stmt.target, L.GetAttr):
                    trace.refuse(f"the scenario changes .{stmt.target.name} in place")
                else:
                    self.shadow.check_in_place(self._lookup(stmt.target), f"{stmt.target.name} op=")
            trace.resetting = _is_reset(stmt)
            try:
                super().body((stmt,))
            finally:
                trace.resetting = False


def _rerun(
    scenario: Scenario, step: Expect, engine: Backend, trace: _Trace
) -> tuple[Any, Callable[[L.Expr], Any]]:
    """Run the steps before `step` and evaluate its expression on `engine` in float64; the
    value, and a way to evaluate more expressions in the same state."""
    shadow = _Shadow(engine, trace)
    interpreter = _ShadowInterpreter(scenario, shadow)
    with warnings.catch_warnings(record=True), np.errstate(all="ignore"):
        warnings.simplefilter("always")
        previous = engine.grad_enabled()
        try:
            engine.reset(scenario.seed)
            try:
                for earlier in scenario.steps[: step.index]:
                    _STEPS[type(earlier)](interpreter, earlier)
                return interpreter.eval(step.expr), interpreter.eval
            except NoOpinion:
                raise
            except Exception as exc:
                raise NoOpinion(
                    f"the scenario does not run on {engine.name} in float64 "
                    f"({type(exc).__name__}: {str(exc).strip()[:160]})"
                ) from None
        finally:
            engine.set_grad_enabled(previous)


# --- what was compared ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Base:
    """The unperturbed re-run, kept to find what the compared gradient is of."""

    trace: _Trace
    engine: Backend
    evaluate: Callable[[L.Expr], Any]

    def value(self, expr: L.Expr) -> Any:
        with warnings.catch_warnings(record=True), np.errstate(all="ignore"):
            warnings.simplefilter("always")
            return self.evaluate(expr)


@dataclass(frozen=True, slots=True)
class _Target:
    producer: int  # the operation that first made the leaf
    leaf_values: np.ndarray
    index_map: np.ndarray  # the compared value's elements, as flat indices into the leaf
    events: tuple[int, ...]  # the events whose scalars sum to the differentiated function


def _resolve(step: Expect, mismatch: Mismatch, base: _Base, value: Any) -> _Target:
    """Which leaf the compared gradient is of, and which re-run scalars it differentiates."""
    expr: L.Expr = step.expr
    suffix = mismatch.path[len(step.source) :]
    if suffix:  # a sequence's item: `g[1]` of `expect: g`
        position = suffix[1:-1] if suffix.startswith("[") and suffix.endswith("]") else ""
        if not position.isdigit() or not isinstance(value, (tuple, list)):
            raise NoOpinion(f"{mismatch.path} is not a gradient the re-runs can follow")
        expr = L.Index(expr, L.Const(int(position)))
    return _resolve_expr(expr, base, mismatch.path)


def _resolve_expr(expr: L.Expr, base: _Base, path: str) -> _Target:
    if isinstance(expr, L.Index) and isinstance(expr.key, L.Const):
        key = expr.key.value
        if not isinstance(key, int) or isinstance(key, bool):
            raise NoOpinion(f"{path} indexes a gradient in a way the re-runs do not follow")
        if isinstance(expr.obj, (L.Var, L.GetAttr, L.Index)):
            found = _grad_result(base, base.value(expr.obj), key)
            if found is not None:
                return found
        outer = _resolve_expr(expr.obj, base, path)
        try:
            return replace(outer, index_map=np.asarray(outer.index_map[key]))
        except IndexError:
            raise NoOpinion(f"{path} is out of range on {base.engine.name}") from None
    if isinstance(expr, L.GetAttr) and expr.name == "grad":
        return _accumulated(base, base.value(expr.obj), path)
    if isinstance(expr, L.Var):  # `g = x.grad` earlier
        value = base.value(expr)
        if value is not None:
            for leaf in base.trace.leaves.values():
                if base.engine.get_attr(leaf, "grad") is value:
                    return _accumulated(base, leaf, path)
    raise NoOpinion(f"{path} is not a leaf's .grad or an autograd.grad result")


def _grad_result(base: _Base, value: Any, key: int) -> _Target | None:
    """The `key`th input of the `autograd.grad` call that returned `value`, if one did."""
    for number, event in enumerate(base.trace.events):
        if event.accumulates or event.result is not value or event.inputs is None:
            continue
        if not -len(event.inputs) <= key < len(event.inputs):
            return None
        return _target(base, event.inputs[key], (number,), f"autograd.grad's input {key}")
    return None


def _accumulated(base: _Base, leaf: Any, path: str) -> _Target:
    """The backward calls whose scalars' sum `leaf.grad` holds: those that reach the leaf,
    from the last one before which the leaf had no gradient (None or zeros)."""
    producer = _producer(base, leaf, path)
    events = base.trace.events
    reaching = [
        number
        for number, event in enumerate(events)
        if event.accumulates
        and (event.inputs is None or any(leaf is item for item in event.inputs))
    ]
    if not reaching:
        raise NoOpinion(f"no backward call before this step accumulates into {path}")
    starts = [at for at, number in enumerate(reaching) if producer in events[number].fresh]
    if not starts:
        raise NoOpinion(f"{path} held a gradient before the first backward call")
    return _target(base, leaf, tuple(reaching[starts[-1] :]), path)


def _target(base: _Base, leaf: Any, events: tuple[int, ...], what: str) -> _Target:
    producer = _producer(base, leaf, what)
    values = np.array(base.engine.to_numpy(leaf), dtype=np.float64)
    return _Target(producer, values, np.arange(values.size).reshape(values.shape), events)


def _producer(base: _Base, leaf: Any, what: str) -> int:
    if leaf is not None:
        for number, made in base.trace.leaves.items():
            if made is leaf:
                return number
    raise NoOpinion(f"{what} is not the gradient of a floating-point leaf tensor")


def _compared_arrays(
    step: Expect, mismatch: Mismatch, expected: object, observed: object
) -> tuple[np.ndarray, np.ndarray]:
    """The expected and observed arrays the mismatch is about (an item of a sequence too)."""
    suffix = mismatch.path[len(step.source) :]
    for index in _indices(suffix):
        if not isinstance(expected, (tuple, list)) or not isinstance(observed, (tuple, list)):
            raise NoOpinion(f"{mismatch.path} is not a gradient the re-runs can follow")
        expected, observed = expected[index], observed[index]
    if not isinstance(observed, np.ndarray) or observed.dtype.kind != "f":
        raise NoOpinion(f"{mismatch.path} is not a floating-point tensor")
    want = expected if isinstance(expected, np.ndarray) else np.asarray(expected)
    if want.shape != observed.shape:
        raise NoOpinion(f"{mismatch.path}: shapes differ")
    return want.astype(np.float64), observed


def _indices(suffix: str) -> Iterator[int]:
    while suffix:
        head, bracket, suffix = suffix.partition("]")
        if not bracket or not head.startswith("[") or not head[1:].isdigit():
            raise NoOpinion("the compared path is not a gradient the re-runs can follow")
        yield int(head[1:])


def _differing(want: np.ndarray, got: np.ndarray, step: Expect) -> list[tuple[int, ...]]:
    """The elements outside the step's tolerance, the furthest apart first."""
    rtol, atol = DEFAULT_TOLERANCES.get(str(got.dtype), (0.0, 0.0))
    rtol = rtol if step.rtol is None else step.rtol
    atol = atol if step.atol is None else step.atol
    got64 = got.astype(np.float64)
    with np.errstate(invalid="ignore"):
        bad = ~np.isclose(got64, want, rtol=rtol, atol=atol, equal_nan=True)
        distance = np.where(bad, np.abs(got64 - want), 0.0)
    distance = np.where(bad & np.isnan(distance), np.inf, distance)
    flat = [int(i) for i in np.argsort(-distance, axis=None, kind="stable") if bad.flat[i]]
    return [tuple(int(i) for i in np.unravel_index(i, bad.shape)) for i in flat]


# --- the differences --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Slope:
    """What the difference quotients say at one element."""

    central: float
    left: float
    right: float
    smooth: bool
    finite: bool
    slack: float  # how far from the derivative the central difference may be


@dataclass(frozen=True, slots=True)
class _Element:
    position: tuple[int, ...]
    slope: _Slope


def _slope(at: Callable[[float], float], x0: float, f0: float) -> _Slope:
    """Central and one-sided differences at `x0`. One-sided differences that disagree may be
    curvature or a kink: at a step 100 times smaller curvature's share shrinks 100 times and
    a kink's stays, which tells them apart."""
    h = STEP * max(1.0, abs(x0))
    for attempt in range(2):
        plus, minus = at(h), at(-h)
        if not all(math.isfinite(v) for v in (f0, plus, minus)):
            return _Slope(math.nan, (f0 - minus) / h, (plus - f0) / h, False, False, 0.0)
        right, left = (plus - f0) / h, (f0 - minus) / h
        rounding = 8 * np.finfo(np.float64).eps * max(abs(f0), abs(plus), abs(minus)) / h
        jump = abs(right - left)
        central = (plus - minus) / (2 * h)
        if jump <= KINK * max(1.0, abs(right), abs(left)) + rounding:
            return _Slope(central, left, right, True, True, rounding + jump)
        if attempt == 0:
            first_jump = jump
            h /= 100
        elif jump > 0.5 * first_jump:
            return _Slope(central, left, right, False, True, 0.0)
        else:
            return _Slope(central, left, right, True, True, rounding + jump)
    raise AssertionError("unreachable")


def _agrees(value: float, slope: _Slope) -> bool:
    if not math.isfinite(value):
        return False
    allowed = AGREE_ATOL + slope.slack + AGREE_RTOL * abs(slope.central)
    return abs(value - slope.central) <= allowed


def _label(
    checked: Sequence[_Element],
    differing: int,
    want: np.ndarray,
    got: np.ndarray,
    *,
    path: str,
    expected_from: str | None,
    engine: str,
) -> str:
    """One sentence per kind of element found, the most common first, with one example each."""
    expected_name = expected_from or "the pinned value"
    groups: dict[str, list[_Element]] = {}
    for element in checked:
        slope = element.slope
        if not slope.smooth:
            kind = "kink"
        else:
            with_expected = _agrees(float(want[element.position]), slope)
            with_got = _agrees(float(got[element.position]), slope)
            kind = {
                (True, True): "both",
                (True, False): "expected",
                (False, True): "got",
                (False, False): "neither",
            }[(with_expected, with_got)]
        groups.setdefault(kind, []).append(element)
    parts = []
    for kind, elements in sorted(groups.items(), key=lambda item: -len(item[1])):
        example = elements[0]
        at = f"{path}[{', '.join(str(i) for i in example.position)}]" if want.ndim else path
        share = "" if len(elements) == len(checked) else f" at {len(elements)} of {len(checked)}"
        e, g = _number(want[example.position]), _number(got[example.position])
        slope = example.slope
        if kind == "kink":
            convention = _convention(expected_from)
            if slope.finite:
                why = f"one-sided differences give {_number(slope.left)} and {_number(slope.right)}"
            else:
                why = "it is not finite beside the point"
            parts.append(
                f"the function is not differentiable here{share}; {convention} is {e} "
                f"(this backend gives {g}; at {at} {why})"
            )
            continue
        sentence = {
            "both": f"finite differences cannot tell {expected_name} from this backend",
            "expected": f"finite differences agree with {expected_name}",
            "got": "finite differences agree with this backend",
            "neither": "finite differences agree with neither",
        }[kind]
        parts.append(
            f"{sentence}{share} ({at}: {_number(slope.central)} by central differences "
            f"in float64 on {engine}; expected {e}, got {g})"
        )
    text = "; ".join(parts)
    if len(checked) < differing:
        text += f" [{len(checked)} of {differing} differing elements checked]"
    return text


def _convention(expected_from: str | None) -> str:
    if expected_from is None:
        return "torch's convention (the pinned value)"
    if expected_from == "torch" or expected_from.startswith(("torch-", "torch:")):
        return "torch's convention"
    return f"{expected_from}'s convention"


def _number(value: object) -> str:
    text = f"{float(cast(float, value)):.6g}"
    return text + ".0" if text.lstrip("-").isdigit() else text


# --- helpers ----------------------------------------------------------------------------------


_ENGINES: dict[str, Backend] = {}


def _engine(tested: str) -> Backend:
    """The engine the re-runs trust: reference, or torch when reference is under test."""
    order = ("torch", "reference") if tested == "reference" else ("reference", "torch")
    for name in order:
        if name in _ENGINES:
            return _ENGINES[name]
        try:
            module = __import__(name)
        except ImportError:
            continue
        from conformance.backends.torchlike import TorchLike

        engine = _ENGINES[name] = cast(Backend, TorchLike(module, name=name))
        return engine
    raise NoOpinion("neither reference nor torch can be imported here")


def _argument(args: Sequence[Any], kwargs: Mapping[str, Any], position: int, name: str) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[position] if len(args) > position else None


def _sequence(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (tuple, list)) else [value]


def _scalar(engine: Backend, roots: Any, weights: Any) -> float:
    """sum(root * weight) over the roots; a missing weight is 1 (a scalar root)."""
    roots = _sequence(roots)
    weights = _sequence(weights) if weights is not None else [None] * len(roots)
    if len(weights) != len(roots):
        return math.nan  # the engine refuses this call; the re-run then stops on its error
    total = []
    for root, weight in zip(roots, weights):
        value = np.asarray(engine.to_numpy(root), dtype=np.float64)
        if weight is not None:
            if engine.is_tensor(weight):
                weight = engine.to_numpy(weight)
            value = value * np.asarray(weight, dtype=np.float64)
        total.append(float(np.sum(value)))
    return math.fsum(total)


def _no_gradient(engine: Backend, grad: Any) -> bool:
    return grad is None or not np.any(engine.to_numpy(grad))


def _plain(engine: Backend, value: Any) -> Any:
    """A value as plain data, to be rebuilt unchanged in a perturbed run."""
    if engine.is_tensor(value):
        return ("tensor", np.array(engine.to_numpy(value), copy=True))
    if isinstance(value, (tuple, list)):
        return (type(value), [_plain(engine, item) for item in value])
    return ("value", value)


def _rebuilt(engine: Backend, plain: Any) -> Any:
    kind, content = plain
    if kind == "tensor":
        dtype = _CANONICAL.get(str(content.dtype))
        if dtype is None:
            raise NoOpinion(f"cannot rebuild a {content.dtype} tensor on {engine.name}")
        return engine.tensor(content.astype(dtype if dtype != "bool" else np.bool_), dtype, False)
    if kind == "value":
        return content
    return kind(_rebuilt(engine, item) for item in content)


def _statements(steps: Sequence[object]) -> Iterator[L.Stmt]:
    for step in steps:
        for stmt in getattr(step, "body", ()):
            yield from _nested(stmt)


def _nested(stmt: L.Stmt) -> Iterator[L.Stmt]:
    yield stmt
    if isinstance(stmt, L.WithModes):
        for inner in stmt.body:
            yield from _nested(inner)


def _walk(expr: object) -> Iterator[object]:
    """Every node of an expression tree."""
    yield expr
    for name in getattr(expr, "__slots__", ()):
        child = getattr(expr, name)
        children = child if isinstance(child, tuple) else (child,)
        for item in children:
            if isinstance(item, tuple):  # a keyword argument: (name, expr)
                yield from _walk(item[1])
            elif hasattr(item, "__slots__"):
                yield from _walk(item)


def _is_reset(stmt: L.Stmt) -> bool:
    """`E.grad.zero_()` or `E.grad.data.zero_()`: a gradient reset, not a change of data."""
    if not isinstance(stmt, L.Evaluate):
        return False
    call = stmt.expr
    if not isinstance(call, L.CallMethod) or call.name != "zero_" or call.args:
        return False
    obj = call.obj
    if isinstance(obj, L.GetAttr) and obj.name == "data":
        obj = obj.obj
    return isinstance(obj, L.GetAttr) and obj.name == "grad"
