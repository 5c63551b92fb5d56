"""Grad mode: one process-wide flag, saved and restored by small context managers.

Each manager also works as a decorator, as in torch: ``no_grad`` and ``enable_grad`` with or
without parentheses, ``inference_mode`` given a function in place of its flag.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable, Generator
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class _State:
    __slots__ = ("grad_enabled", "inference")

    def __init__(self) -> None:
        self.grad_enabled = True
        self.inference = False


state = _State()


def is_grad_enabled() -> bool:
    return state.grad_enabled


def is_inference_mode_enabled() -> bool:
    return state.inference


CLASS_DECORATED = (
    "Decorating classes is deprecated and will be disabled in future versions. You should only "
    "decorate functions or methods. To preserve the current behavior of class decoration, you "
    "can directly decorate the `__init__` method and nothing else."
)


class _Mode:
    """Sets a mode on entry and restores the previous one on exit, whatever happens."""

    def _enter(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> None:
        self._saved = (state.grad_enabled, state.inference)
        self._enter()

    def __exit__(self, *exc: object) -> None:
        state.grad_enabled, state.inference = self._saved

    def __call__(self, fn: F) -> F:
        if inspect.isclass(fn):
            # torch still decorates the class, as a function that calls it
            warnings.warn(CLASS_DECORATED, FutureWarning, stacklevel=2)
            return self._wrap(lambda *args, **kwargs: fn(*args, **kwargs))  # type: ignore[return-value]
        return self._wrap(fn)

    def _wrap(self, fn: F) -> F:
        if inspect.isgeneratorfunction(fn):
            return _generator(self._fresh, fn)  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            # a coroutine function's body runs later, in its caller's mode, as in torch
            with self._fresh():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    def _fresh(self) -> _Mode:
        """A new manager for the same mode: one per call, so calls may nest."""
        return self.__class__(*self._args())

    def _args(self) -> tuple[Any, ...]:
        return ()


def _generator(fresh: Callable[[], _Mode], fn: Callable[..., Any]) -> Callable[..., Any]:
    """A generator function decorated: torch enters the mode each time the generator resumes
    and leaves it at each ``yield``, so its caller runs in its own mode in between."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        gen = fn(*args, **kwargs)
        try:
            with fresh():
                response = gen.send(None)
            while True:
                try:
                    request = yield response
                except GeneratorExit:
                    with fresh():
                        gen.close()
                    raise
                except BaseException as exc:  # thrown in by the caller: passed on
                    with fresh():
                        response = gen.throw(exc)
                else:
                    with fresh():
                        response = gen.send(request)
        except StopIteration as stop:
            return stop.value

    return wrapper


class _Bare(_Mode):
    """A mode without arguments, so ``@no_grad`` decorates without parentheses too."""

    def __new__(cls, fn: Callable[..., Any] | None = None) -> Any:
        if fn is None:
            return super().__new__(cls)
        return cls()(fn)


class no_grad(_Bare):  # noqa: N801
    """Results computed inside do not require grad and record no graph."""

    def _enter(self) -> None:
        state.grad_enabled = False


class enable_grad(_Bare):  # noqa: N801
    """Records the graph again, for example inside a ``no_grad`` block."""

    def _enter(self) -> None:
        state.grad_enabled = True


class set_grad_enabled(_Mode):  # noqa: N801
    """Sets grad mode at once when called, and restores it when used as a context."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self._saved = (state.grad_enabled, state.inference)
        state.grad_enabled = self.mode

    def __enter__(self) -> None:
        state.grad_enabled = self.mode

    def _args(self) -> tuple[Any, ...]:
        return (self.mode,)

    def __call__(self, fn: F) -> F:
        state.grad_enabled, state.inference = self._saved  # the decorator form changes nothing now
        return super().__call__(fn)

    def __repr__(self) -> str:
        return f"reference.set_grad_enabled(mode={self.mode})"


class inference_mode(_Mode):  # noqa: N801
    """Like ``no_grad``, and tensors made inside are inference tensors that autograd refuses."""

    def __new__(cls, mode: Any = True) -> Any:
        if isinstance(mode, bool):  # anything else is a function to decorate, as in torch
            return super().__new__(cls)
        return cls()(mode)

    def __init__(self, mode: bool = True) -> None:
        self.mode = bool(mode)

    def _enter(self) -> None:
        state.grad_enabled = not self.mode  # inference_mode(False) turns grad mode on, as torch
        state.inference = self.mode

    def _args(self) -> tuple[Any, ...]:
        return (self.mode,)
