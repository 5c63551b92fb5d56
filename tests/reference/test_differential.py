"""Differential tests: the same autograd program, run on reference and on real torch, must agree.

A program is data, drawn once by hypothesis: a list of ``Step``s, each one line of torch-style
Python (``v3 = v1 * 2.5``, ``v3.backward(retain_graph=True)``, ...). ``execute(lib, program)``
is the one interpreter: it runs the lines in order with ``torch`` bound to ``lib`` and, after
each line, records what can be seen (values, gradients and whether ``.grad`` is still the same
object, dtypes, shapes, flags, node names, hook calls, warnings, the type of any error). The two
records must match; a failure prints the program, which is also a runnable repro.

The generator tracks each value's shape, dtype and a bound on its elements (interval
arithmetic), so that it only draws well-conditioned programs: ``log`` sees inputs >= 0.25,
divisors stay away from zero, exponents are bounded and every value stays within ``BOUND``.
Inputs are multiples of 1/8, so ``+ - *`` are exact in both libraries and ``relu``'s kink sees
the same zeros; any remaining difference is semantic.

Left out of generation, by design:
- in-place ops on views, or on a tensor that has views: reference raises NotImplementedError
  for the first (out of scope), and torch regenerates the views' ``grad_fn`` after the second;
- ``.T`` on tensors that are not 2-D: torch's deprecation warning is emitted once per process,
  so it cannot be compared example by example (``test_T_warns_once`` checks it apart);
- ``matmul`` above 2-D (reference implements 1-D and 2-D only);
- setting ``requires_grad`` on a tensor that already has views: in torch those views then
  require grad too (a view asks its base), and reference does not track a view's base.
"""

from __future__ import annotations

import functools
import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reference

torch = pytest.importorskip(
    "torch", reason="torch is not installed: the differential tests need it as the oracle"
)

# -- the interpreter --------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One line of the program; ``outputs`` names what it creates, to be described after it."""

    code: str
    outputs: tuple[str, ...] = ()
    higher: bool = False  # a result of create_graph: its backward formulas' node names differ


@dataclass(frozen=True)
class Program:
    steps: tuple[Step, ...]
    names: tuple[str, ...]  # every tensor value the program makes, v0, v1, ...
    precise: bool = False  # no float32 anywhere: float64 results are compared as float64

    def __repr__(self) -> str:
        return "\n" + "\n".join(step.code for step in self.steps)


@dataclass
class Desc:
    """What a test can see of one tensor."""

    value: np.ndarray
    dtype: str
    shape: tuple[int, ...]
    requires_grad: bool
    is_leaf: bool
    grad_fn: str | None
    next_functions: tuple[str | None, ...]


@dataclass
class Observation:
    error: tuple[str, str] | None  # (type name, message)
    warnings: list[tuple[str, str]]
    outputs: list[Any]
    grads: dict[str, Any]  # name -> (Desc | None, same object as at the last observation)
    hooks: list[Any] = field(default_factory=list)


def describe(x: Any) -> Any:
    if isinstance(x, (tuple, list)):
        return tuple(describe(item) for item in x)
    if x is None or not hasattr(x, "grad_fn"):
        return x
    node = x.grad_fn
    return Desc(
        value=np.array(x.detach().numpy(), copy=True),
        dtype=str(x.dtype),
        shape=tuple(x.shape),
        requires_grad=x.requires_grad,
        is_leaf=x.is_leaf,
        grad_fn=None if node is None else node.name(),
        next_functions=()
        if node is None
        else tuple(None if n is None else n.name() for n, _ in node.next_functions),
    )


@functools.lru_cache(maxsize=4096)
def _compiled(code: str) -> Any:
    return compile(code, "<program>", "exec")


def _warning_text(message: str) -> str:
    return message.split(" (Triggered internally at")[0]


def execute(lib: Any, program: Program) -> list[Observation]:
    """Run ``program`` with ``torch`` = ``lib``; one observation per step, up to the first error."""
    hook_log: list[Any] = []

    def observe(grad: Any) -> None:
        hook_log.append(describe(grad))

    namespace: dict[str, Any] = {"torch": lib, "double": lambda g: g * 2, "observe": observe}
    last_grads: dict[str, Any] = {}
    observations = []
    for step in program.steps:
        error = None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                exec(_compiled(step.code), namespace)  # noqa: S102 - code the generator wrote
            except Exception as e:  # noqa: BLE001 - the type is what gets compared
                error = (type(e).__name__, str(e))
        observations.append(
            Observation(
                error=error,
                warnings=[(w.category.__name__, _warning_text(str(w.message))) for w in caught],
                outputs=[describe(namespace.get(name)) for name in step.outputs],
                grads=_grads(namespace, program.names, last_grads),
                hooks=list(hook_log),
            )
        )
        hook_log.clear()
        if error is not None:
            break
    return observations


def _grads(namespace: dict[str, Any], names: tuple[str, ...], last: dict[str, Any]) -> dict:
    """Every visible ``.grad`` (leaves, and non-leaves that retain it), and whether it is the
    same Python object as at the previous step."""
    out = {}
    for name in names:
        t = namespace.get(name)
        if t is None or not (t.is_leaf or t.retains_grad):
            continue
        grad = t.grad
        previous = last.get(name)
        same = None if grad is None or previous is None else grad is previous
        last[name] = grad
        out[name] = (describe(grad), same)
    return out


# -- comparison --------------------------------------------------------------------------------

# Tolerances: values are bounded by BOUND and gradients by a few thousand; a program is at most
# ~25 ops, each adding at most a few ulps of relative error (numpy and torch use different
# exp/tanh/log kernels and summation orders), which cancellation can turn into absolute error of
# about BOUND * 25 ulps. float32: 25 * 6e-8 * 40 ~ 6e-5, hence atol 2e-4 and rtol 1e-4;
# float64: 25 * 1.1e-16 * 40 ~ 1e-13, hence 1e-10 with margin.
TOLERANCES = {"torch.float32": (1e-4, 2e-4), "torch.float64": (1e-10, 1e-10)}


class Mismatch(AssertionError):
    pass


def compare_desc(
    path: str, ours: Any, theirs: Any, names: bool = True, precise: bool = True
) -> None:
    """``ours`` against ``theirs``; a float64 value with float32 in its history (``precise``
    false) is held to float32's tolerance."""
    if isinstance(theirs, tuple) and isinstance(ours, tuple):
        if len(ours) != len(theirs):
            raise Mismatch(f"{path}: {len(ours)} items != torch's {len(theirs)}")
        for i, (a, b) in enumerate(zip(ours, theirs)):
            compare_desc(f"{path}[{i}]", a, b, names, precise)
        return
    if not isinstance(theirs, Desc) or not isinstance(ours, Desc):
        if ours != theirs:
            raise Mismatch(f"{path}: reference {ours!r} != torch {theirs!r}")
        return
    for attr in ("shape", "dtype", "requires_grad", "is_leaf"):
        a, b = getattr(ours, attr), getattr(theirs, attr)
        if a != b:
            raise Mismatch(f"{path}.{attr}: reference {a!r} != torch {b!r}")
    if names:
        for attr in ("grad_fn", "next_functions"):
            a, b = getattr(ours, attr), getattr(theirs, attr)
            if a != b:
                raise Mismatch(f"{path}.{attr}: reference {a!r} != torch {b!r}")
    elif (ours.grad_fn is None) != (theirs.grad_fn is None):
        raise Mismatch(f"{path}.grad_fn: reference {ours.grad_fn} != torch {theirs.grad_fn}")
    rtol, atol = TOLERANCES.get(theirs.dtype if precise else "torch.float32", (0, 0))
    if theirs.dtype not in TOLERANCES:
        rtol, atol = 0, 0  # integers and booleans are exact
    if not np.allclose(ours.value, theirs.value, rtol=rtol, atol=atol, equal_nan=True):
        raise Mismatch(
            f"{path} values differ:\nreference {ours.value!r}\ntorch     {theirs.value!r}"
        )


def compare(program: Program, ours: list[Observation], theirs: list[Observation]) -> None:
    """Step by step: the error first, then warnings, outputs, gradients and hook calls."""
    higher_seen = False
    for step, a, b in zip(program.steps, ours, theirs):
        higher_seen = higher_seen or step.higher
        where = f"at `{step.code}`"
        try:
            if (a.error and a.error[0]) != (b.error and b.error[0]):
                raise Mismatch(f"error: reference {a.error} != torch {b.error}")
            if b.error:
                break  # what a failed op leaves behind is unspecified (torch may write first)
            if a.warnings != b.warnings:
                raise Mismatch(f"warnings: reference {a.warnings} != torch {b.warnings}")
            for name, x, y in zip(step.outputs, a.outputs, b.outputs):
                compare_desc(name, x, y, not step.higher, program.precise)
            if a.grads.keys() != b.grads.keys():
                raise Mismatch(f"visible grads: reference {sorted(a.grads)} != {sorted(b.grads)}")
            for name, (x, same_x) in a.grads.items():
                y, same_y = b.grads[name]
                compare_desc(f"{name}.grad", x, y, True, program.precise)
                if same_x != same_y:
                    raise Mismatch(
                        f"{name}.grad is the same object as before: reference {same_x}, "
                        f"torch {same_y}"
                    )
            hooks_a, hooks_b = tuple(a.hooks), tuple(b.hooks)
            compare_desc("hook calls", hooks_a, hooks_b, not higher_seen, program.precise)
        except Mismatch as e:
            raise AssertionError(f"{where}: {e}\nprogram:{program!r}") from None
    assert len(ours) == len(theirs), f"reference ran {len(ours)} steps, torch {len(theirs)}"


def check_program(program: Program) -> None:
    compare(program, execute(reference, program), execute(torch, program))


# -- the generator -----------------------------------------------------------------------------

BOUND = 40.0
FLOATS = ("float32", "float64")
MODES = ("grad",) * 8 + ("no_grad", "enable_grad", "set_grad", "decorator", "inference")


class Skip(Exception):
    """The drawn operation does not fit the values at hand; draw another."""


@dataclass
class Meta:
    """What the generator knows of a value: enough to keep programs valid and bounded."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    lo: float
    hi: float
    rg: bool = False
    leaf: bool = True
    storage: int = 0  # values sharing memory (detach, .data, views) share this
    view: bool = False
    inference: bool = False
    higher: bool = False
    ancestors: frozenset[str] = frozenset()  # the values it was computed from, and itself
    curved: bool = False  # a nonlinear op in its history: its derivative can require grad

    def __post_init__(self) -> None:
        self.ancestors = self.ancestors | {self.name}

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def floating(self) -> bool:
        return self.dtype in FLOATS


def _promote(a: Meta | None, b: Meta | None, scalar: Any = None) -> str:
    """Torch's promotion, roughly: enough for the generator to pick matmul operands."""
    metas = [m for m in (a, b) if m is not None]
    floats = [m for m in metas if m.floating]
    if floats:
        dimensioned = [m for m in floats if m.shape] or floats
        return "float64" if any(m.dtype == "float64" for m in dimensioned) else "float32"
    if isinstance(scalar, float):
        return "float32"
    return "int64"


def _check(lo: float, hi: float) -> tuple[float, float]:
    if not (-BOUND <= lo <= hi <= BOUND) or math.isnan(lo) or math.isnan(hi):
        raise Skip
    return lo, hi


def _pow_interval(lo: float, hi: float, p: float) -> tuple[float, float]:
    if p == 0:
        return 1.0, 1.0
    if p != int(p) and lo < 0.5:
        raise Skip  # fractional powers need positive bases, kept away from 0
    if p < 0 and lo < 0.5 and hi > -0.5:
        raise Skip  # negative powers need bases away from 0
    candidates = [lo**p, hi**p]
    if lo < 0 < hi:
        candidates.append(0.0)
    return _check(min(candidates), max(candidates))


def interval(
    op: str, a: tuple[float, float], b: tuple[float, float], scalar: bool = False
) -> tuple[float, float]:
    """Bounds of ``a op b``; Skip where the op would be ill-conditioned or leave ``BOUND``."""
    (alo, ahi), (blo, bhi) = a, b
    if op == "+":
        return _check(alo + blo, ahi + bhi)
    if op == "-":
        return _check(alo - bhi, ahi - blo)
    if op == "*":
        c = [alo * blo, alo * bhi, ahi * blo, ahi * bhi]
        return _check(min(c), max(c))
    if op == "/":
        if blo < 0.5 and bhi > -0.5:
            raise Skip  # divisors stay away from zero
        c = [alo / blo, alo / bhi, ahi / blo, ahi / bhi]
        return _check(min(c), max(c))
    if op == "**":
        if scalar:
            return _pow_interval(alo, ahi, blo)
        if alo < 0.5 or blo < -3 or bhi > 3:
            raise Skip
        c = [x**y for x in (alo, ahi) for y in (blo, bhi)]
        return _check(min(c), max(c))
    raise AssertionError(op)


SCALARS = {
    "+": (2, -1, 0.5, 1.5, -2.5, 3.0),
    "-": (2, -1, 0.5, 1.5, -2.5, 3.0),
    "*": (2, -1, 0.5, 1.5, -2.5, 3.0, 0),
    "/": (2, -4, 0.5, 1.5, 3),
    "**": (2, 3, 0, 1, -1, -2, 0.5, 1.5, 2.0, -0.5, 2.5),
}
BASES = (2, 0.5, 1.5, 3, 2.0)  # scalar ** tensor


def _wrap(line: str, mode: str) -> str:
    """The line, run under ``mode`` (a grad-mode context, or the decorator form)."""
    if mode == "grad":
        return line
    if mode == "decorator":
        target, expr = line.split(" = ", 1) if " = " in line else ("", line)
        call = f"torch.no_grad()(lambda: {expr})()"
        return f"{target} = {call}" if target else call
    head = {
        "no_grad": "with torch.no_grad():",
        "enable_grad": "with torch.no_grad():\n    with torch.enable_grad():",
        "set_grad": "with torch.set_grad_enabled(False):",
        "inference": "with torch.inference_mode():",
    }[mode]
    indent = "    " * (head.count("\n") + 1)
    return f"{head}\n{indent}{line}"


class Builder:
    """Draws a program one step at a time, keeping each value's ``Meta`` up to date."""

    def __init__(self, draw: Callable[[Any], Any], higher_order: bool) -> None:
        self.draw = draw
        self.higher_order = higher_order
        self.values: list[Meta] = []
        self.steps: list[Step] = []
        self.viewed: set[int] = set()  # storages that have views
        self.higher_seen = False
        self.backwards = 0

    # -- helpers ------------------------------------------------------------------------------
    def pick(self, pred: Callable[[Meta], bool] = lambda m: True) -> Meta:
        options = [m for m in self.values if pred(m)]
        if not options:
            raise Skip
        return self.draw(st.sampled_from(options))

    def choice(self, options: Any) -> Any:
        return self.draw(st.sampled_from(options))

    def new_name(self) -> str:
        return f"v{len(self.values)}"

    def emit(
        self,
        expr: str,
        meta: Meta,
        inputs: list[Meta],
        mode: str | None = None,
        curved: bool = False,
    ) -> Meta:
        mode = mode or self.choice(MODES)
        recording = mode in ("grad", "enable_grad")
        meta.rg = recording and any(m.rg for m in inputs)
        if meta.view and not recording:
            meta.rg = inputs[0].rg  # torch: such a view requires grad, yet has no history
        meta.leaf = not meta.rg
        meta.inference = mode == "inference"
        meta.higher = meta.rg and any(m.higher for m in inputs)
        meta.ancestors = meta.ancestors.union(*(m.ancestors for m in inputs))
        meta.curved = curved or any(m.curved for m in inputs)
        self.values.append(meta)
        self.steps.append(Step(_wrap(f"{meta.name} = {expr}", mode), (meta.name,), meta.higher))
        return meta

    def effect(self, code: str, outputs: tuple[str, ...] = ()) -> None:
        self.steps.append(Step(code, outputs, self.higher_seen))

    def retain(self) -> str:
        if self.higher_seen:
            return ", retain_graph=True"  # the recorded backward graphs differ from torch's
        return self.choice(("", ", retain_graph=True", ", retain_graph=False"))

    # -- values -------------------------------------------------------------------------------
    def leaf(
        self, shape: tuple[int, ...], dtype: str | None = None, positive: bool = False
    ) -> Meta:
        dtype = dtype or self.choice(("float32", "float64", "float32", "float64", "int64"))
        n = math.prod(shape)
        if dtype == "int64":
            ints = self.draw(st.lists(st.integers(-3, 3), min_size=n, max_size=n))
            array = np.array(ints, dtype=np.int64).reshape(shape)
            literal, rg = repr(array.tolist()), False
        else:
            low = 2 if positive else -16
            eighths = self.draw(st.lists(st.integers(low, 16), min_size=n, max_size=n))
            array = (np.array(eighths, dtype=np.float64) / 8).reshape(shape)
            literal, rg = repr(array.tolist()), self.draw(st.booleans())
        kwargs = "" if dtype == "float32" and self.draw(st.booleans()) else f", dtype=torch.{dtype}"
        kwargs += ", requires_grad=True" if rg else ""
        name = self.new_name()
        lo, hi = (float(array.min()), float(array.max())) if n else (0.0, 0.0)
        meta = Meta(name, shape, dtype, lo, hi, rg=rg, storage=len(self.values))
        self.values.append(meta)
        self.steps.append(Step(f"{name} = torch.tensor({literal}{kwargs})", (name,)))
        return meta

    def derived(self, a: Meta, shape: tuple[int, ...], dtype: str, lo: float, hi: float) -> Meta:
        return Meta(self.new_name(), shape, dtype, lo, hi, storage=len(self.values))

    def view_of(self, a: Meta, shape: tuple[int, ...]) -> Meta:
        self.viewed.add(a.storage)
        return Meta(self.new_name(), shape, a.dtype, a.lo, a.hi, storage=a.storage, view=True)

    def binary(self) -> None:
        op = self.choice(tuple(SCALARS))
        a = self.pick()
        form = self.choice(("tt", "ts", "st"))
        if form == "tt":
            b = self.pick(lambda m: _broadcasts(a.shape, m.shape))
            if self.draw(st.booleans()):
                a, b = b, a
            if op == "**" and not (a.floating or b.floating) and b.lo < 0:
                raise Skip  # torch: integers to negative integer powers are an error
            lo, hi = interval(op, (a.lo, a.hi), (b.lo, b.hi))
            shape = tuple(np.broadcast_shapes(a.shape, b.shape))
            dtype = _promote(a, b)
            if op == "/" and dtype == "int64":
                dtype = "float32"
            meta = self.derived(a, shape, dtype, lo, hi)
            self.emit(f"{a.name} {op} {b.name}", meta, [a, b], curved=op in "*/**")
            return
        if form == "ts":
            s = self.choice(SCALARS[op])
            if op == "**" and not a.floating and isinstance(s, int) and s < 0:
                raise Skip
            lo, hi = interval(op, (a.lo, a.hi), (s, s), scalar=True)
            expr = f"{a.name} {op} {s!r}"
        else:
            s = self.choice(BASES if op == "**" else SCALARS[op])
            if op == "**" and (a.lo < -4 or a.hi > 4 or not a.floating):
                raise Skip
            lo, hi = interval(op, (s, s), (a.lo, a.hi)) if op != "**" else _rpow(s, a)
            expr = f"{s!r} {op} {a.name}"
        curved = op == "**" or (op == "/" and form == "st")
        dtype = _promote(a, None, s)
        if op == "/" and dtype == "int64":
            dtype = "float32"
        self.emit(expr, self.derived(a, a.shape, dtype, lo, hi), [a], curved=curved)

    def unary(self) -> None:
        a = self.pick()
        name = self.choice(("neg", "exp", "log", "tanh", "sigmoid", "relu"))
        lo, hi = a.lo, a.hi
        if name == "neg":
            lo, hi, expr = -hi, -lo, f"-{a.name}"
        else:
            if name == "exp":
                if hi > 3:
                    raise Skip
                lo, hi = math.exp(lo), math.exp(hi)
            elif name == "log":
                if lo < 0.25:
                    raise Skip
                lo, hi = math.log(lo), math.log(hi)
            elif name == "tanh":
                lo, hi = math.tanh(lo), math.tanh(hi)
            elif name == "sigmoid":
                lo, hi = 1 / (1 + math.exp(-lo)), 1 / (1 + math.exp(-hi))
            else:
                lo, hi = max(lo, 0.0), max(hi, 0.0)
            function = self.draw(st.booleans())
            expr = f"torch.{name}({a.name})" if function else f"{a.name}.{name}()"
        curved = name != "neg"
        floating = a.floating or name in ("neg", "relu")
        dtype = a.dtype if floating else "float32"
        self.emit(expr, self.derived(a, a.shape, dtype, lo, hi), [a], curved=curved)

    def reduce(self) -> None:
        a = self.pick()
        name = self.choice(("sum", "mean"))
        if name == "mean" and not a.floating and self.draw(st.integers(0, 3)):
            raise Skip  # mean of integers raises: now and then
        ndim = len(a.shape)
        rank = max(ndim, 1)
        dim = self.choice((None, "int", "tuple"))
        function = self.draw(st.booleans())
        if dim is None:
            dims, args = tuple(range(ndim)), ""
            keepdim = False
        else:
            if dim == "int":
                d = self.draw(st.integers(-rank, rank - 1))
                dims, dim_arg = (d % rank,), repr(d)
            else:
                picked = self.draw(st.sets(st.integers(0, rank - 1), min_size=1))
                dims, dim_arg = tuple(sorted(picked)), repr(tuple(sorted(picked)))
            keepdim = self.draw(st.booleans())
            args = dim_arg + (", keepdim=True" if keepdim else "")
            if not keepdim and self.draw(st.booleans()):
                args = f"dim={dim_arg}"
        probe = np.zeros(a.shape)
        axes = tuple(d for d in dims if d < ndim)
        shape = probe.sum(axis=axes, keepdims=keepdim).shape if ndim else ()
        count = math.prod(a.shape[d] for d in axes)
        lo, hi = (a.lo * count, a.hi * count) if name == "sum" else (a.lo, a.hi)
        _check(lo, hi)
        dtype = a.dtype if a.floating or name == "sum" else "float32"
        call = f"torch.{name}({a.name}{', ' + args if args else ''})" if function else None
        expr = call or f"{a.name}.{name}({args})"
        self.emit(expr, self.derived(a, tuple(shape), dtype, lo, hi), [a])

    def reshape(self) -> None:
        a = self.pick()
        n = a.numel
        options = [(-1,), (n,), (1, n), a.shape + (1,), tuple(reversed(a.shape))]
        if n == 1:
            options.append(())
        if n % 2 == 0 and n > 2:
            options.append((2, -1))
        target = self.choice(options)
        shape = tuple(n if s == -1 else s for s in target)
        if target == (2, -1):
            shape = (2, n // 2)
        how = self.choice(("view", "reshape"))
        unpacked = target and self.draw(st.booleans())  # view() without a shape is an error
        args = ", ".join(str(s) for s in target) if unpacked else repr(target)
        meta = self.view_of(a, shape)
        self.emit(f"{a.name}.{how}({args})", meta, [a])

    def transpose(self) -> None:
        a = self.pick()
        ndim = len(a.shape)
        how = self.choice(("t", "T", "transpose"))
        if how == "t" and ndim <= 2:
            expr, shape = f"{a.name}.t()", tuple(reversed(a.shape))
        elif how == "T" and ndim == 2:  # other ranks warn once per process in torch
            expr, shape = f"{a.name}.T", tuple(reversed(a.shape))
        elif how == "transpose" and ndim >= 1:
            d0 = self.draw(st.integers(-ndim, ndim - 1))
            d1 = self.draw(st.integers(-ndim, ndim - 1))
            dims = list(range(ndim))
            dims[d0], dims[d1] = dims[d1], dims[d0]
            expr, shape = f"{a.name}.transpose({d0}, {d1})", tuple(a.shape[d] for d in dims)
        else:
            raise Skip
        self.emit(expr, self.view_of(a, shape), [a])

    def index(self) -> None:
        a = self.pick(lambda m: len(m.shape) > 0)
        count = self.draw(st.integers(1, len(a.shape)))
        keys = []
        for size in a.shape[:count]:
            kind = self.choice(("int", "slice", "full"))
            if kind == "int":
                keys.append(self.draw(st.integers(-size, size - 1)))
            elif kind == "full":
                keys.append(slice(None))
            else:
                start = self.draw(st.integers(0, size - 1))
                stop = self.draw(st.integers(start + 1, size))
                keys.append(slice(start, stop, self.choice((None, 1, 2))))
        if self.draw(st.integers(0, 5)) == 0:
            keys.insert(self.draw(st.integers(0, len(keys))), self.choice((None, Ellipsis)))
        try:  # ``...`` moves the keys after it to the last dimensions
            shape = np.zeros(a.shape)[tuple(keys)].shape
        except IndexError:
            raise Skip from None
        text = ", ".join(_key_text(k) for k in keys)
        if len(keys) == 1 and self.draw(st.booleans()):
            text += ","  # a one-element tuple
        self.emit(f"{a.name}[{text}]", self.view_of(a, shape), [a])

    def matmul(self) -> None:
        a = self.pick(lambda m: len(m.shape) in (1, 2) and m.floating)
        inner = a.shape[-1]
        b_shapes = [(inner,), (inner, 1), (inner, 2), (inner, 3)]
        b = None
        if self.draw(st.integers(0, 2)):
            try:
                b = self.pick(lambda m: m.shape in b_shapes and m.dtype == a.dtype)
            except Skip:
                b = None
        if b is None:
            b = self.leaf(self.choice(b_shapes), a.dtype)
        bound = a.shape[-1] * max(abs(a.lo), abs(a.hi)) * max(abs(b.lo), abs(b.hi))
        lo, hi = _check(-bound, bound)
        shape = np.zeros(a.shape) @ np.zeros(b.shape)
        expr = f"{a.name} @ {b.name}" if self.draw(st.booleans()) else None
        expr = expr or f"torch.matmul({a.name}, {b.name})"
        self.emit(expr, self.derived(a, np.shape(shape), a.dtype, lo, hi), [a, b], curved=True)

    def detach(self) -> None:
        a = self.pick()
        how = self.choice(("detach()", "data"))
        meta = Meta(self.new_name(), a.shape, a.dtype, a.lo, a.hi, storage=a.storage)
        self.values.append(meta)
        self.steps.append(Step(f"{meta.name} = {a.name}.{how}", (meta.name,)))

    def inplace(self) -> None:
        target = self.pick(lambda m: not m.view and m.storage not in self.viewed)
        op = self.choice(("add_", "sub_", "mul_", "div_", "zero_"))
        mode = self.choice(MODES[4:])  # in place mostly under grad mode
        operands: list[Meta] = [target]
        if op == "zero_":
            lo, hi, arg = 0.0, 0.0, ""
        else:
            symbol = {"add_": "+", "sub_": "-", "mul_": "*", "div_": "/"}[op]
            if self.draw(st.booleans()):
                other: Any = self.choice(SCALARS[symbol])
                bounds, arg = (other, other), repr(other)
            else:
                other = self.pick(lambda m: _broadcasts(m.shape, target.shape, into=True))
                bounds, arg = (other.lo, other.hi), other.name
                operands.append(other)
            lo, hi = interval(symbol, (target.lo, target.hi), bounds)
            target.ancestors = target.ancestors.union(*(m.ancestors for m in operands))
        recording = mode in ("grad", "enable_grad")
        for m in self.values:
            if m.storage == target.storage:
                m.lo, m.hi = min(m.lo, lo), max(m.hi, hi)
        if recording and any(m.rg for m in operands):
            target.rg, target.leaf = True, False
            target.higher = target.higher or any(m.higher for m in operands)
        code = _wrap(f"{target.name}.{op}({arg})", "grad" if mode == "decorator" else mode)
        self.steps.append(Step(code, (target.name,), target.higher))

    # -- effects ------------------------------------------------------------------------------
    def retain_grad(self) -> None:
        a = self.pick(lambda m: m.rg)
        self.effect(f"{a.name}.retain_grad()")

    def hook(self) -> None:
        a = self.pick(lambda m: m.rg)
        self.effect(f"{a.name}.register_hook({self.choice(('double', 'observe'))})")

    def read_grad(self) -> None:
        a = self.pick()
        name = f"r{len(self.steps)}"
        self.effect(f"{name} = {a.name}.grad", (name,))

    def backward(self, a: Meta | None = None) -> None:
        a = a or self.pick(lambda m: m.rg)
        gradient = ""
        if a.numel != 1 or self.draw(st.integers(0, 4)) == 0:
            gradient = f"torch.ones({a.name}.shape, dtype={a.name}.dtype)"
        retain = self.retain()
        if self.draw(st.booleans()):
            args = f"gradient={gradient}" if gradient else ""
            self.effect(f"{a.name}.backward({args}{retain if args else retain[2:]})")
        else:
            args = f", {gradient}" if gradient else ""
            self.effect(f"torch.autograd.backward({a.name}{args}{retain})")
        self.backwards += 1

    def zero_grad(self) -> None:
        a = self.pick(lambda m: m.rg and m.leaf)
        how = self.choice(("zero_()", "data.zero_()", "None"))
        if how == "None":
            self.effect(f"{a.name}.grad = None")
        else:
            self.effect(f"if {a.name}.grad is not None:\n    {a.name}.grad.{how}")

    def grad(self, create_graph: bool = False) -> None:
        out = self.pick(lambda m: m.rg and (m.curved or not create_graph))
        used = self.draw(st.integers(0, 4)) > 0  # mostly inputs that ``out`` depends on
        ins = [
            self.pick(lambda m: m.rg and (m.name in out.ancestors or not used))
            for _ in range(self.draw(st.integers(1, 2)))
        ]
        if create_graph:
            ins = ins[:1]
        kwargs = ""
        if out.numel != 1:
            kwargs += f", grad_outputs=torch.ones({out.name}.shape, dtype={out.name}.dtype)"
        if create_graph:
            kwargs += ", create_graph=True"
        else:
            kwargs += self.retain()
            if self.draw(st.booleans()):
                kwargs += ", allow_unused=True"
        inputs = ins[0].name if len(ins) == 1 else "[" + ", ".join(m.name for m in ins) + "]"
        call = f"torch.autograd.grad({out.name}, {inputs}{kwargs})"
        if not create_graph:
            name = f"r{len(self.steps)}"
            self.effect(f"{name} = {call}", (name,))
            return
        a = ins[0]
        meta = Meta(self.new_name(), a.shape, a.dtype, -BOUND, BOUND, rg=True, leaf=False)
        meta.ancestors = meta.ancestors | out.ancestors
        meta.storage, meta.higher = len(self.values), True
        self.values.append(meta)
        self.higher_seen = True
        self.steps.append(Step(f"{meta.name} = {call}[0]", (meta.name,), True))

    def requires_grad(self) -> None:
        any_dtype = self.draw(st.integers(0, 3)) == 0  # integers raise: now and then
        a = self.pick(
            lambda m: (
                m.leaf
                and not m.rg
                and (m.floating or any_dtype)
                and (m.view or m.storage not in self.viewed)
            )  # see the module docstring
        )
        if self.draw(st.booleans()):
            self.effect(f"{a.name}.requires_grad_()")
        else:
            self.effect(f"{a.name}.requires_grad = True")
        a.rg = a.floating and not a.inference

    def finish(self) -> None:
        """End with a backward of a scalar, so that every program reaches the engine."""
        try:
            a = self.pick(lambda m: m.rg)
        except Skip:
            return
        if a.numel != 1:
            total = self.derived(a, (), a.dtype, -BOUND, BOUND)
            a = self.emit(f"{a.name}.sum()", total, [a], "grad")
        self.backward(a)


def _rpow(base: float, a: Meta) -> tuple[float, float]:
    values = [base**a.lo, base**a.hi]
    return _check(min(values), max(values))


def _broadcasts(a: tuple[int, ...], b: tuple[int, ...], into: bool = False) -> bool:
    try:
        shape = np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return not into or shape == b


def _key_text(k: Any) -> str:
    if k is None:
        return "None"
    if k is Ellipsis:
        return "..."
    if isinstance(k, int):
        return str(k)
    text = f"{'' if k.start is None else k.start}:{'' if k.stop is None else k.stop}"
    return text + (f":{k.step}" if k.step is not None else "")


@st.composite
def shapes(draw: Any) -> tuple[int, ...]:
    return tuple(draw(st.lists(st.integers(1, 3), max_size=3)))


@st.composite
def family(draw: Any, base: tuple[int, ...]) -> tuple[int, ...]:
    """A shape that broadcasts with ``base``: a suffix of it, some dimensions set to 1."""
    suffix = base[draw(st.integers(0, len(base))) :]
    return tuple(1 if draw(st.integers(0, 3)) == 0 else s for s in suffix)


WEIGHTED_KINDS = (
    ("leaf", 1),
    ("binary", 7),
    ("unary", 3),
    ("reduce", 2),
    ("reshape", 1),
    ("transpose", 1),
    ("index", 2),
    ("matmul", 1),
    ("detach", 1),
    ("inplace", 1),
    ("retain_grad", 1),
    ("hook", 1),
    ("read_grad", 1),
    ("backward", 3),
    ("zero_grad", 1),
    ("grad", 1),
    ("requires_grad", 1),
)
KINDS = tuple(kind for kind, weight in WEIGHTED_KINDS for _ in range(weight))


@st.composite
def programs(draw: Any, max_steps: int = 25, higher_order: bool = False) -> Program:
    builder = Builder(draw, higher_order)
    base = draw(shapes())
    for i in range(draw(st.integers(1, 3))):
        builder.leaf(draw(family(base)), positive=i == 0 and draw(st.booleans()))
    kinds = KINDS + (("grad_create",) * 3 if higher_order else ())
    for _ in range(draw(st.integers(1, max_steps))):
        kind = draw(st.sampled_from(kinds))
        try:
            if kind == "leaf":
                builder.leaf(draw(family(base)))
            elif kind == "grad_create":
                builder.grad(create_graph=True)
            else:
                getattr(builder, kind)()
        except Skip:
            pass
    builder.finish()
    names = tuple(m.name for m in builder.values)
    precise = all(m.dtype != "float32" for m in builder.values)
    return Program(tuple(builder.steps), names, precise)


# -- the tests ---------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_random_programs_match_torch(program: Program) -> None:
    check_program(program)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(max_steps=10, higher_order=True))
def test_random_higher_order_programs_match_torch(program: Program) -> None:
    check_program(program)


def program_of(source: str) -> Program:
    """A hand-written program: one step per line (indented lines join the one above)."""
    lines: list[str] = []
    for line in source.strip("\n").splitlines():
        if line.startswith(" ") and lines:
            lines[-1] += "\n" + line
        else:
            lines.append(line)
    steps = []
    for code in lines:
        match = re.match(r"(?:with .*\n\s+)*(\w+) = ", code)
        steps.append(Step(code, (match.group(1),) if match else ()))
    names = tuple(sorted({n for s in steps for n in s.outputs if n.startswith("v")}))
    return Program(tuple(steps), names)
