"""The one comparison every check goes through: count or shape, then dtype, then values.

Tolerances default per dtype as in `torch.testing.assert_close`; integers, booleans and
strings compare exactly (a string also names a `grad_fn` node by its `name()`). A mismatch's
message names the scenario, the backend, the step (file:line), the path (`x.grad[1, 0]`),
what was expected and what came, and the tolerance used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from conformance.errors import Location
from conformance.run.values import NodeValue, show

# (rtol, atol), as torch.testing.assert_close; missing dtypes compare exactly.
DEFAULT_TOLERANCES: dict[str, tuple[float, float]] = {
    "float16": (1e-3, 1e-5),
    "bfloat16": (1.6e-2, 1e-5),
    "float32": (1.3e-6, 1e-5),
    "float64": (1e-7, 1e-7),
    "complex64": (1.3e-6, 1e-5),
    "complex128": (1e-7, 1e-7),
}
_PRINT = {"separator": ", ", "threshold": 24, "edgeitems": 3, "max_line_width": 90}


@dataclass(frozen=True, slots=True)
class Where:
    """The scenario, backend and step a check belongs to."""

    scenario: str
    backend: str
    step: Location


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One failed check, with everything a reader needs to see why."""

    where: Where
    path: str
    problem: str
    expected: str
    got: str
    detail: str = ""
    expected_from: str | None = None
    # A gradient's third opinion: what central finite differences say (see finite_difference)
    finite_difference: str = ""

    def message(self) -> str:
        where = self.where
        label = f"expected ({self.expected_from})" if self.expected_from else "expected"
        width = len(label) + 2
        lines = [
            f"{where.scenario} [{where.backend}] {where.step}: {self.path}: {self.problem}",
            _field(label, self.expected, width),
            _field("got", self.got, width),
        ]
        if self.detail:
            lines.append(f"    {self.detail}")
        if self.finite_difference:
            lines.append(f"    third opinion: {self.finite_difference}")
        return "\n".join(lines)


def diff(
    expected: object,
    got: object,
    *,
    where: Where,
    path: str,
    rtol: float | None = None,
    atol: float | None = None,
    expected_from: str | None = None,
) -> Mismatch | None:
    """Compare a plain value with what a backend produced; None when they agree.

    `expected` is either plain spec data (numbers, booleans, nested tuples: it has no dtype,
    so only shape and values are checked) or another backend's observed value
    (`expected_from` names that backend, and dtypes must match too).
    """
    return _Diff(where, rtol, atol, expected_from).compare(expected, got, path)


class _Diff:
    def __init__(
        self, where: Where, rtol: float | None, atol: float | None, expected_from: str | None
    ) -> None:
        self.where = where
        self.rtol = rtol
        self.atol = atol
        self.expected_from = expected_from

    def mismatch(
        self, path: str, problem: str, expected: str, got: str, detail: str = ""
    ) -> Mismatch:
        return Mismatch(self.where, path, problem, expected, got, detail, self.expected_from)

    def tolerance(self, dtype: str) -> tuple[float, float] | None:
        default = DEFAULT_TOLERANCES.get(dtype)
        if default is None and self.rtol is None and self.atol is None:
            return None
        rtol, atol = default or (0.0, 0.0)
        return (rtol if self.rtol is None else self.rtol, atol if self.atol is None else self.atol)

    def compare(self, expected: object, got: object, path: str) -> Mismatch | None:
        if isinstance(got, np.ndarray) or isinstance(expected, np.ndarray):
            return self.arrays(expected, got, path)
        if expected is None or got is None:
            if expected is got:
                return None
            return self.mismatch(path, "differs", show(expected), show(got))
        if isinstance(expected, (tuple, list)):
            return self.sequences(expected, got, path)
        if isinstance(expected, bool) or isinstance(got, bool):
            if type(expected) is type(got) and expected == got:
                return None
            return self.mismatch(path, "differs", _typed(expected), _typed(got))
        if isinstance(expected, (int, float)):
            return self.numbers(expected, got, path)
        if isinstance(expected, str) and isinstance(got, NodeValue):
            # A spec names a grad_fn node by its name(), as in next_functions entries.
            if expected == got.name:
                return None
            return self.mismatch(path, "differs", repr(expected), f"{got.name!r} (a grad_fn node)")
        if type(expected) is type(got) and expected == got:
            return None
        return self.mismatch(path, "differs", _typed(expected), _typed(got))

    def sequences(
        self, expected: tuple[object, ...] | list[object], got: object, path: str
    ) -> Mismatch | None:
        if not isinstance(got, (tuple, list)):
            return self.mismatch(path, "differs", f"a sequence of {len(expected)}", show(got))
        if len(expected) != len(got):
            return self.mismatch(path, "length differs", str(len(expected)), str(len(got)))
        for position, (item, got_item) in enumerate(zip(expected, got)):
            found = self.compare(item, got_item, f"{path}[{position}]")
            if found is not None:
                return found
        return None

    def numbers(self, expected: float, got: object, path: str) -> Mismatch | None:
        if not isinstance(got, (int, float)):
            return self.mismatch(path, "differs", _typed(expected), _typed(got))
        if isinstance(expected, int) and isinstance(got, int):
            tolerance = self.tolerance("int64")
        else:
            tolerance = self.tolerance("float64")
        if tolerance is None:
            if expected == got:
                return None
            return self.mismatch(path, "differs", repr(expected), repr(got))
        rtol, atol = tolerance
        if abs(got - expected) <= atol + rtol * abs(expected) or (
            expected != expected and got != got
        ):
            return None
        return self.mismatch(
            path,
            "differs",
            repr(expected),
            repr(got),
            f"|difference| {abs(got - expected):.3g} > atol + rtol * |expected| "
            f"(rtol={rtol:g}, atol={atol:g})",
        )

    def arrays(self, expected: object, got: object, path: str) -> Mismatch | None:
        if not isinstance(got, np.ndarray):
            return self.mismatch(path, "differs", _describe_expected(expected), _typed(got))
        from_backend = isinstance(expected, np.ndarray)
        if from_backend:
            assert isinstance(expected, np.ndarray)
            want = expected
        else:
            if not _is_plain_data(expected):
                return self.mismatch(path, "differs", _typed(expected), show(got))
            want = np.asarray(expected)
        if want.shape != got.shape:
            return self.mismatch(
                path, "shape differs", str(tuple(want.shape)), str(tuple(got.shape))
            )
        if from_backend and want.dtype != got.dtype:
            return self.mismatch(path, "dtype differs", str(want.dtype), str(got.dtype))
        dtype = str(want.dtype if from_backend else got.dtype)
        tolerance = self.tolerance(dtype)
        if tolerance is None:
            bad = np.asarray(want != got)
            distance = bad.astype(np.float64)
            rule = f"exact for {dtype}"
        else:
            rtol, atol = tolerance
            want64, got64 = want.astype(np.float64), got.astype(np.float64)
            bad = ~np.isclose(got64, want64, rtol=rtol, atol=atol, equal_nan=True)
            with np.errstate(invalid="ignore"):
                distance = np.where(bad, np.abs(got64 - want64), 0.0)
            distance = np.where(bad & np.isnan(distance), np.inf, distance)
            rule = f"rtol={rtol:g}, atol={atol:g} for {dtype}"
        count = int(np.count_nonzero(bad))
        if count == 0:
            return None
        worst = np.unravel_index(int(np.argmax(distance)), bad.shape) if bad.ndim else ()
        at = f"{path}[{', '.join(str(int(i)) for i in worst)}]" if worst else path
        detail = (
            f"{count} of {bad.size} element{'s' * (bad.size != 1)} "
            f"{'differs' if count == 1 else 'differ'} ({rule}); "
            f"worst at {at}: expected {want[worst].item()!r}, got {got[worst].item()!r}"
        )
        return self.mismatch(path, "values differ", _array_text(want), _array_text(got), detail)


def _is_plain_data(value: object) -> bool:
    if isinstance(value, (tuple, list)):
        return all(_is_plain_data(item) for item in value)
    return isinstance(value, (bool, int, float))


def _describe_expected(value: object) -> str:
    return _array_text(value) if isinstance(value, np.ndarray) else _typed(value)


def _typed(value: object) -> str:
    """A value and its type, so `True` (bool) and `True` (numpy.bool_) read differently."""
    if value is None:
        return "None"
    if isinstance(value, np.ndarray):
        return show(value)
    kind = type(value)
    module = "" if kind.__module__ == "builtins" else f"{kind.__module__}."
    return f"{value!r} ({module}{kind.__name__})"


def _array_text(array: np.ndarray) -> str:
    return np.array2string(array, **_PRINT)  # type: ignore[arg-type]


def _field(label: str, text: str, width: int) -> str:
    """`    label:  text`, with the text's later lines aligned under its first."""
    lines = text.splitlines() or [""]
    head = f"    {label + ':':<{width}}"
    return "\n".join([head + lines[0], *(" " * len(head) + line for line in lines[1:])])
