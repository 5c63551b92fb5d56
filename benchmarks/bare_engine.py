"""The floor for any Python autograd engine over numpy: the benchmark workloads' maths, one
node per op and a walk of the graph in reverse, with none of torch's semantics.

No grad modes, version counters, hooks, retain_graph, dtype promotion, broadcasting, views or
error checks: only what every engine must do (a tensor object and a node per op, the numpy
calls, a topological order, adding gradients up). What ``reference`` spends above this is the
price of behaving like torch; ``benchmarks/report.py`` shows both beside torch eager.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class Tensor:
    __slots__ = ("data", "grad", "node", "requires_grad")

    def __init__(self, data: np.ndarray, requires_grad: bool = False, node: Any = None) -> None:
        self.data, self.grad, self.node, self.requires_grad = data, None, node, requires_grad

    def __add__(self, other: Any) -> Tensor:
        return Tensor(self.data + other, True, Add(self))  # a Python number: no edge

    def __mul__(self, other: Tensor) -> Tensor:
        return Tensor(self.data * other.data, True, Mul(self, other))

    def __matmul__(self, other: Tensor) -> Tensor:
        return Tensor(self.data @ other.data, True, MatMul(self, other))

    def mean(self) -> Tensor:
        data = self.data
        return Tensor(np.add.reduce(data, axis=None) / data.size, True, Mean(self))

    def backward(self) -> None:
        grads = {self.node: np.ones_like(self.data)}
        for node in _reverse_topological(self.node):
            for t, g in zip(node.inputs, node.backward(grads.pop(node))):
                if not t.requires_grad:
                    continue
                if t.node is None:  # a leaf: its own buffer, then add in place
                    if t.grad is None:
                        t.grad = np.array(g, copy=True)
                    else:
                        t.grad += g
                elif t.node in grads:
                    grads[t.node] = grads[t.node] + g
                else:
                    grads[t.node] = g


def tensor(data: Any, requires_grad: bool = False) -> Tensor:
    return Tensor(np.array(data), requires_grad)


def tanh(t: Tensor) -> Tensor:
    out = np.tanh(t.data)
    return Tensor(out, True, Tanh(t, out))


def _reverse_topological(root: Any) -> list[Any]:
    """Every node reachable from ``root``, each after all the nodes that feed it gradient."""
    order, seen, stack = [], {root}, [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        stack.append((node, True))
        for t in node.inputs:
            child = t.node
            if child is not None and child not in seen:
                seen.add(child)
                stack.append((child, False))
    order.reverse()
    return order


class Add:
    __slots__ = ("inputs",)

    def __init__(self, a: Tensor) -> None:
        self.inputs = (a,)

    def backward(self, g: np.ndarray) -> tuple[np.ndarray, ...]:
        return (g,)


class Mul:
    __slots__ = ("inputs",)

    def __init__(self, a: Tensor, b: Tensor) -> None:
        self.inputs = (a, b)

    def backward(self, g: np.ndarray) -> tuple[np.ndarray, ...]:
        a, b = self.inputs
        return g * b.data, g * a.data


class MatMul(Mul):
    def backward(self, g: np.ndarray) -> tuple[np.ndarray, ...]:
        a, b = self.inputs
        return g @ b.data.T, a.data.T @ g


class Mean:
    __slots__ = ("inputs",)

    def __init__(self, a: Tensor) -> None:
        self.inputs = (a,)

    def backward(self, g: np.ndarray) -> tuple[np.ndarray, ...]:
        data = self.inputs[0].data
        return (np.broadcast_to(g / data.size, data.shape),)


class Tanh:
    __slots__ = ("inputs", "out")

    def __init__(self, a: Tensor, out: np.ndarray) -> None:
        self.inputs, self.out = (a,), out

    def backward(self, g: np.ndarray) -> tuple[np.ndarray, ...]:
        return (g * (1 - self.out * self.out),)
