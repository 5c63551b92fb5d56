"""``reference.autograd``: the public entry points to the backward pass."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import engine
from .function import AccumulateGrad, Node
from .grad_mode import enable_grad, inference_mode, no_grad, set_grad_enabled  # noqa: F401
from .hooks import as_tensor, handed
from .tensor import Tensor
from .tensor_ops import warn_once

CREATE_GRAPH_WARNING = (
    "Using backward() with create_graph=True will create a reference cycle between the "
    "parameter and its gradient which can cause a memory leak. We recommend using autograd.grad "
    "when creating the graph to avoid this. If you have to use this function, make sure to "
    "reset the .grad fields of your parameters to None after use to break the cycle and avoid "
    "the leak."
)


def _as_list(x: Any) -> list[Any]:
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _gradients(x: Any) -> list[Any]:
    """``grad_tensors``/``grad_outputs`` as a list: None, a tensor, or a sequence of them."""
    if x is None:
        return []
    if isinstance(x, Tensor):
        return [x]
    if not isinstance(x, (list, tuple)):
        raise TypeError(f"'{type(x).__name__}' object is not iterable")
    return list(x)


def one(data: np.ndarray) -> np.ndarray:
    """A one shaped like the one-element ``data`` (np.ones_like costs microseconds)."""
    one = np.array(1, data.dtype)
    return one if data.ndim == 0 else one.reshape(data.shape)


def _roots(outputs: list[Tensor], grad_outputs: list[Any], create_graph: bool) -> tuple:
    """Each output's node and its starting gradient, checked as torch checks them."""
    if grad_outputs and len(grad_outputs) != len(outputs):
        raise RuntimeError(f"got {len(outputs)} tensors and {len(grad_outputs)} gradients")
    grads = []  # torch checks every output's gradient before it looks for a graph
    for i, out in enumerate(outputs):
        given = grad_outputs[i] if grad_outputs else None
        grad: Any = None
        if given is None:
            if out.requires_grad and out._data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            if out._data.size == 1:
                grad = one(out._data)
        else:
            if not isinstance(given, Tensor):
                raise TypeError(
                    f"gradients can be either Tensors or None, but got {type(given).__name__}"
                )
            if given.shape != out.shape:
                raise RuntimeError(
                    f"Mismatch in shape: grad_output[{i}] has a shape of {given.shape} and "
                    f"output[{i}] has a shape of {out.shape}."
                )
            grad = given if create_graph else given._data
        if create_graph and grad is not None and not isinstance(grad, Tensor):
            grad = Tensor(grad)
        grads.append(grad)
    nodes = []
    for i, out in enumerate(outputs):
        node = out._node()
        if node is None:  # no grad, or a view that requires grad only through its base
            raise RuntimeError(
                f"element {i} of tensors does not require grad and does not have a grad_fn"
            )
        nodes.append(node)
    return nodes, grads


def backward(
    tensors: Any,
    grad_tensors: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    inputs: Any = None,
) -> None:
    """Accumulate gradients of ``tensors`` into the ``.grad`` of every leaf they depend on,
    or, given ``inputs``, of those tensors only (leaves or not)."""
    if inputs is not None and not _as_list(inputs):
        raise RuntimeError("`inputs` argument to `backward()` cannot be empty.")
    outputs = _as_list(tensors)
    given = _gradients(grad_tensors)
    nodes, grads = _roots(outputs, given, create_graph)
    only = None
    if inputs is not None:
        only = []
        for t in _as_list(inputs):
            t.retain_grad()  # as torch does: a non-leaf input keeps its .grad from now on
            only.append(t._node())  # None for one that has no node: it is never reached
    if create_graph:  # torch warns once per process
        warn_once(CREATE_GRAPH_WARNING, stacklevel=4)
    keep = create_graph if retain_graph is None else retain_graph
    with handed(given):
        engine.run(nodes, grads, keep, create_graph, only=only)


def grad(
    outputs: Any,
    inputs: Any,
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool | None = None,
) -> tuple[Tensor | None, ...]:
    """The gradients of ``outputs`` with respect to ``inputs``, leaving ``.grad`` alone."""
    outs = _as_list(outputs)
    ins = _as_list(inputs)
    given = _gradients(grad_outputs)
    nodes, grads = _roots(outs, given, create_graph)  # torch: outputs first
    for t in ins:
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    targets: list[Node] = [
        t.grad_fn if t.grad_fn is not None else AccumulateGrad.of(t) for t in ins
    ]
    keep = create_graph if retain_graph is None else retain_graph
    with handed(given):
        found = engine.run(nodes, grads, keep, create_graph, capture=targets)
        assert found is not None
        return _results(found, allow_unused)


def _results(found: list[Any], allow_unused: bool | None) -> tuple[Tensor | None, ...]:
    """What ``grad`` hands back: each captured gradient as a tensor, or None if unused."""
    results: list[Tensor | None] = []
    for i, g in enumerate(found):
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    f"The differentiated Tensor at index {i} appears to not have been used in "
                    "the graph. Set allow_unused=True if this is the desired behavior."
                )
            results.append(None)
        elif isinstance(g, Tensor):
            results.append(g)
        else:
            results.append(as_tensor(engine.shown(g)))
    return tuple(results)
