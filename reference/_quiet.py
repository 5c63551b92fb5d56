"""Silence numpy's floating-point warnings around every op's forward and every backward pass,
cheaply: torch makes inf and nan without a word.

``np.errstate`` costs about 0.7 us to enter and leave, a few percent of a small backward; the
context variable it sets costs a tenth of that. That variable is numpy's private API (numpy
2.0 on), so a later numpy without it falls back to ``np.errstate``.
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

    # bound C callables, not Python functions: no Python frame on every op and backward
    enter: Callable[[], Any] = functools.partial(_extobj_contextvar.set, _make_extobj(all="ignore"))
    leave: Callable[[Any], None] = _extobj_contextvar.reset

except ImportError:  # pragma: no cover - numpy without the private context variable

    def enter() -> Any:
        manager = np.errstate(all="ignore")
        manager.__enter__()
        return manager

    def leave(token: Any) -> None:
        token.__exit__(None, None, None)
