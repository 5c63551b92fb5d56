"""Grad-mode blocks: `with no_grad():`, `enable_grad()`, `set_grad_enabled(...)` and
`inference_mode()` around one or two actions (and maybe a nested block), and views made under
`no_grad`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conformance.fuzz.actions.values import view
from conformance.fuzz.program import Statement

if TYPE_CHECKING:
    from conformance.fuzz.builder import Builder

MODES = ("no_grad()", "enable_grad()", "set_grad_enabled(False)", "set_grad_enabled(True)")
ENABLING = ("enable_grad()", "set_grad_enabled(True)")
INFERENCE = ("inference_mode()", "inference_mode(False)")


def grad_mode(b: Builder, depth: int = 0) -> Statement | None:
    """A block in one mode, maybe with a nested block and an action after it (where the
    outer mode must be back). Inside `inference_mode()` nothing is recorded, whatever a
    nested grad-mode block enables, and the tensors ops make are inference tensors (see
    `State.classify`); `inference_mode(False)` leaves it and turns grad mode on."""
    from conformance.fuzz.actions import BLOCK, INFERENCE_BLOCK, draw_action

    state = b.state
    inference = b.can("inference_mode") and b.one_in(len(MODES) + 1)
    mode = b.one(INFERENCE) if inference else b.one(MODES)
    before = state.grad_enabled, state.inference
    if inference:
        state.inference = mode == INFERENCE[0]
        state.grad_enabled = not state.inference
    else:
        state.grad_enabled = mode in ENABLING and not state.inference
    lines: list[str] = []
    labels = [mode.split("(")[0] if "True" not in mode and "False" not in mode else mode]

    def inner() -> None:
        step = draw_action(b, INFERENCE_BLOCK if state.inference else BLOCK)
        if isinstance(step, Statement):
            lines.extend(step.source.splitlines())
            labels.extend(step.ops)

    try:
        for _ in range(b.between(1, 2)):
            inner()
        if depth == 0 and b.flip():
            nested = grad_mode(b, depth + 1)
            if nested is not None:
                lines.extend(nested.source.splitlines())
                labels.extend(nested.ops)
                if b.flip():
                    inner()
    finally:
        state.grad_enabled, state.inference = before
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
