"""The generator's model of a program's state as it is drawn: what each name holds, which
`.grad`s are set and which graphs were freed.

The model only steers generation towards programs that mostly run (compatible shapes,
well-conditioned values, roots that require grad). It is never an oracle: every step's real
outcome, errors included, is observed on both backends and compared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from conformance.fuzz.domain import FLOATS, Interval


@dataclass(frozen=True, slots=True)
class Value:
    """A bound tensor as the model sees it."""

    shape: tuple[int, ...]
    dtype: str
    bound: Interval
    requires_grad: bool = False
    leaf: bool = True
    contiguous: bool = True
    leaves: frozenset[str] = frozenset()  # leaves that require grad, reached by backward
    nodes: frozenset[str] = frozenset()  # named non-leaf results on its graph, itself included
    saves: bool = False  # its op saves tensors, so a freed graph cannot run it again
    retains: bool = False

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOATS

    @property
    def numel(self) -> int:
        size = 1
        for dim in self.shape:
            size *= dim
        return size


@dataclass
class State:
    """Names bound so far, in order, and the autograd state the model believes in."""

    values: dict[str, Value] = field(default_factory=dict)
    grads: set[str] = field(default_factory=set)
    freed: set[str] = field(default_factory=set)
    roots: list[str] = field(default_factory=list)
    grad_enabled: bool = True
    counter: int = 0

    def name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def leaf(self, name: str, value: Value) -> None:
        leaves = frozenset({name}) if value.requires_grad else frozenset()
        self.values[name] = replace(value, leaf=True, leaves=leaves, nodes=frozenset())

    def result(
        self,
        name: str,
        inputs: list[Value],
        shape: tuple[int, ...],
        dtype: str,
        bound: Interval,
        *,
        saves: bool = False,
        contiguous: bool = True,
    ) -> Value:
        """Bind the result of an op on `inputs`: tracked when grad mode is on and an input
        requires grad, as in torch."""
        tracked = self.grad_enabled and dtype in FLOATS and any(v.requires_grad for v in inputs)
        value = Value(shape, dtype, bound, contiguous=contiguous)
        if tracked:
            value = replace(
                value,
                requires_grad=True,
                leaf=False,
                leaves=frozenset().union(*(v.leaves for v in inputs)),
                nodes=frozenset({name}).union(*(v.nodes for v in inputs)),
                saves=saves,
            )
        self.values[name] = value
        return value

    def tensors(self, predicate: Callable[[Value], bool] | None = None) -> list[str]:
        """Bound names, oldest first, optionally filtered by a predicate on their `Value`."""
        if predicate is None:
            return list(self.values)
        return [name for name, value in self.values.items() if predicate(value)]

    def backward_fails(self, root: Value) -> bool:
        """Whether a backward from `root` would reach a node whose saved tensors were freed."""
        return any(self.values[node].saves for node in root.nodes & self.freed)

    def backward(self, root_name: str, root: Value, retain_graph: bool) -> None:
        """Record a backward the model expects to succeed."""
        self.grads |= root.leaves
        self.grads |= {node for node in root.nodes if self.values[node].retains}
        if not retain_graph:
            self.freed |= root.nodes
        if root_name not in self.roots:
            self.roots.append(root_name)
