"""Grad mode: one process-wide flag, saved and restored by small context managers.

Each manager also works as a decorator, as in torch.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
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
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.__class__(*self._args()):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    def _args(self) -> tuple[Any, ...]:
        return ()


class no_grad(_Mode):  # noqa: N801
    """Results computed inside do not require grad and record no graph."""

    def _enter(self) -> None:
        state.grad_enabled = False


class enable_grad(_Mode):  # noqa: N801
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

    def __init__(self, mode: bool = True) -> None:
        self.mode = bool(mode)

    def _enter(self) -> None:
        state.grad_enabled = not self.mode  # inference_mode(False) turns grad mode on, as torch
        state.inference = self.mode

    def _args(self) -> tuple[Any, ...]:
        return (self.mode,)
