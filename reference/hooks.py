"""Hook dispatch for the backward pass: what each kind of hook is shown, and what it may
hand back.

Tensor hooks (``register_hook``, ``retain_grad``) see a node's incoming gradient as a tensor;
a node's own pre-hooks see its incoming gradients, its post-hooks the gradients it made and
those it received. A hook that edits what it was shown in place edits it for the engine too,
so every gradient is shown as the array the engine goes on with (``shown``). The engine
(``engine.py``) decides when each runs; this module only runs them.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from .function import AccumulateGrad, Node
from .grad_mode import no_grad
from .ops._math import written
from .tensor import Tensor
from .tensor_ops import _view_of

Shown = list[weakref.ref[Tensor]]  # the tensors hooks were shown or returned (``kept``)


def shown(grad: Any) -> Any:
    """A gradient as a hook or a caller gets it, which the engine then goes on with, so that
    an edit in place holds for both: an array (numpy's 0-d arithmetic gives scalars, which
    nothing can edit) written out (``written``)."""
    if isinstance(grad, np.generic):
        return np.array(grad)
    return written(grad)


def kept(grad: Any, shown_to: Shown) -> bool:
    """Whether a tensor over ``grad`` that hooks were shown, or returned, still lives: then
    a hook kept it, and a leaf may not take ``grad`` as its ``.grad`` (torch steals only
    a gradient nothing else references). One nobody kept, the leaf takes, so that what a
    node's post-hook is shown is the ``.grad`` itself, as in torch."""
    return any((t := ref()) is not None and t._data is grad for ref in shown_to)


def _watched(tensor: Tensor, shown_to: Shown | None) -> Tensor:
    if shown_to is not None and tensor.__class__ is Tensor:
        shown_to.append(weakref.ref(tensor))
    return tensor


# The tensors callers handed to backward or autograd.grad as gradients, by the id of their
# arrays, while that pass runs (see ``handed``).
_handed: dict[int, Tensor] = {}


class handed:  # a context manager, named like grad_mode.no_grad
    """While a pass runs, a gradient a caller handed over that reaches a hook (or comes back
    from autograd.grad) unchanged is shown as the caller's tensor itself, as torch passes
    the tensor along: ``hook(g) is g``. A plain class: ``backward()`` without gradients,
    the common case, pays for no generator."""

    def __init__(self, tensors: list[Any]) -> None:
        self.ids: list[int] = []  # what this pass registered (an outer pass keeps its own)
        for t in tensors:
            if isinstance(t, Tensor) and id(t._data) not in _handed:
                _handed[id(t._data)] = t
                self.ids.append(id(t._data))

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        for key in self.ids:
            _handed.pop(key, None)


def handed_over(array: Any) -> Tensor | None:
    """The caller's tensor, when the caller handed this very array over for this pass."""
    caller = _handed.get(id(array))
    return caller if caller is not None and caller._data is array else None


def as_tensor(grad: Any) -> Tensor:
    """A gradient as torch shows it to a hook or hands it back from autograd.grad: the
    caller's own tensor when it came through unchanged; a view when it is one in memory (a
    sum's expanded gradient, a reshape's), made under no_grad as torch's engine runs, of a
    grad_output or of the engine's own ones."""
    if isinstance(grad, Tensor):
        return grad
    caller = handed_over(grad)
    if caller is not None:
        return caller
    result = Tensor(grad)
    owner = grad.base if isinstance(grad, np.ndarray) else None
    if isinstance(owner, np.ndarray):
        base = handed_over(owner)
        with no_grad():
            _view_of(Tensor(owner) if base is None else base, result)
    return result


def tensor_hooks(hooks: list[Any], grad: Any, shown_to: Shown | None = None) -> Any:
    """Tensor hooks see the gradient as a tensor; a returned tensor replaces it, and one
    edited in place is edited for the engine too. ``shown_to`` collects the tensors the
    hooks saw and gave (``kept``)."""
    grad = shown(grad)
    for hook in list(hooks):
        result = hook(_watched(as_tensor(grad), shown_to))
        if result is not None:
            _watched(result, shown_to)
            if result.shape != grad.shape:
                raise RuntimeError(
                    f"hook '{getattr(hook, '__name__', 'hook')}' has changed the size of value"
                )
            grad = result if isinstance(grad, Tensor) else result._data
    return grad


def before_node(node: Node, grad: Any, create_graph: bool, shown_to: Shown) -> Any:
    """A node's gradient once the hooks that see it before the node runs have: its tensor's
    hooks, then its own pre-hooks. A leaf's tensor hooks run in ``engine._accumulate``,
    unless its node has hooks of its own: then they run here first, so the node's hooks see
    what they made."""
    if grad is not None and node._hooks:
        grad = tensor_hooks(node._hooks, grad, shown_to)
    pre = node._pre_hooks
    if not (pre or node._post_hooks):
        return grad
    if node.__class__ is AccumulateGrad and grad is not None and node.variable._hooks:
        grad = tensor_hooks(node.variable._hooks, grad, shown_to)
    if pre:
        grad = node_hooks(pre, (grad,), create_graph, shown_to=shown_to)[0]
    return grad


def node_hooks(
    hooks: list[Any],
    grads: tuple[Any, ...],
    create_graph: bool,
    received: tuple[Any, ...] | None = None,
    shown_to: Shown | None = None,
) -> tuple[Any, ...]:
    """A node's own hooks, shown tensors: pre-hooks its incoming gradients (``received``
    None), post-hooks the gradients it made and those it received. A returned tuple of the
    same length replaces ``grads`` for the hooks after it and for the engine."""
    grads = tuple(shown(g) for g in grads)
    for hook in list(hooks):
        tensors = tuple(None if g is None else _watched(as_tensor(g), shown_to) for g in grads)
        if received is None:
            result = hook(tensors)
        else:
            given = tuple(None if g is None else as_tensor(shown(g)) for g in received)
            result = hook(tensors, given)
        if result is None:
            continue
        if not isinstance(result, tuple):
            raise TypeError(f"expected tuple, but hook returned '{type(result).__name__}'")
        if len(result) != len(grads):
            raise RuntimeError(
                f"hook '{getattr(hook, '__name__', 'hook')}' has returned an incorrect number "
                f"of values (got {len(result)}, but expected {len(grads)})"
            )
        grads = tuple(
            r if r is None or create_graph else _watched(r, shown_to)._data for r in result
        )
    return grads


def hooked(node: Node, grad: Any) -> Any:
    """``grad`` after the tensor hooks of ``node``'s tensor (a leaf keeps its own)."""
    hooks = node.variable._hooks if isinstance(node, AccumulateGrad) else node._hooks
    return tensor_hooks(hooks, grad) if hooks and grad is not None else grad
