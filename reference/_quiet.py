"""Silence numpy's floating-point warnings for the length of a backward pass, cheaply.

``np.errstate`` costs about 0.7 us to enter and leave, a few percent of a small backward; the
context variable it sets costs a tenth of that. That variable is numpy's private API, so an
older or newer numpy without it falls back to ``np.errstate``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

try:
    from numpy._core._ufunc_config import (  # type: ignore[attr-defined]
        _extobj_contextvar,
        _make_extobj,
    )

    # bound C callables, not Python functions: a call less on every backward
    enter: Callable[[], Any] = functools.partial(_extobj_contextvar.set, _make_extobj(all="ignore"))
    leave: Callable[[Any], None] = _extobj_contextvar.reset

except ImportError:  # pragma: no cover - numpy without the private context variable

    def enter() -> Any:
        manager = np.errstate(all="ignore")
        manager.__enter__()
        return manager

    def leave(token: Any) -> None:
        token.__exit__(None, None, None)


class Quiet:
    """``with Quiet():`` silences numpy's floating-point warnings inside the block."""

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = enter()

    def __exit__(self, *exc: object) -> None:
        leave(self._token)
