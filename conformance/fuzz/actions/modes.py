"""Grad-mode blocks: `with no_grad():`, `enable_grad()`, `set_grad_enabled(...)` around one
or two actions (and maybe a nested block), and views made under `no_grad`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conformance.fuzz.actions.values import view
from conformance.fuzz.program import Statement

if TYPE_CHECKING:
    from conformance.fuzz.builder import Builder

MODES = ("no_grad()", "enable_grad()", "set_grad_enabled(False)", "set_grad_enabled(True)")
ENABLING = ("enable_grad()", "set_grad_enabled(True)")


def grad_mode(b: Builder, depth: int = 0) -> Statement | None:
    from conformance.fuzz.actions import BLOCK, draw_action

    mode = b.one(MODES)
    before = b.state.grad_enabled
    b.state.grad_enabled = mode in ENABLING
    lines: list[str] = []
    labels = [mode.split("(")[0] if "True" not in mode and "False" not in mode else mode]
    try:
        for _ in range(b.between(1, 2)):
            inner = draw_action(b, BLOCK)
            if isinstance(inner, Statement):
                lines.extend(inner.source.splitlines())
                labels.extend(inner.ops)
        if depth == 0 and b.flip():
            nested = grad_mode(b, depth + 1)
            if nested is not None:
                lines.extend(nested.source.splitlines())
                labels.extend(nested.ops)
    finally:
        b.state.grad_enabled = before
    if not lines:
        return None
    body = "\n".join(f"    {line}" for line in lines)
    return Statement(f"with {mode}:\n{body}", tuple(labels))


def nograd_view(b: Builder) -> Statement | None:
    """`with no_grad():` around a view of a tensor that requires grad, and maybe one more
    action: the view requires grad through its base but has no history."""
    from conformance.fuzz.actions import BLOCK, draw_action

    mode = b.one(["no_grad()", "set_grad_enabled(False)"])
    before = b.state.grad_enabled
    b.state.grad_enabled = False
    try:
        made = view(b, requiring_grad=True)
        if made is None:
            return None
        lines, labels = [made.source], [mode.split("(")[0] if "False" not in mode else mode]
        labels += made.ops
        if b.flip():
            inner = draw_action(b, BLOCK)
            if isinstance(inner, Statement):
                lines.extend(inner.source.splitlines())
                labels.extend(inner.ops)
    finally:
        b.state.grad_enabled = before
    body = "\n".join(f"    {line}" for line in lines)
    return Statement(f"with {mode}:\n{body}", tuple(labels))
