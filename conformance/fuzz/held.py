"""The generator's model of what torch does with gradients someone holds, beside `State`:
the lists `record` hooks append to, which of them a backward fills, the kept gradients edited
in place, and what `autograd.grad` returned.

Like `State`, it only steers generation (which lists have something to check or edit); every
value is observed on both backends and compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from conformance.fuzz.state import State, Value


@dataclass
class Kept:
    """A `record` hook's list: the tensor it is on, that tensor's node when the hook went on
    (an in-place edit gives the tensor a new one, which the hook is not on), its dtype, the
    handle that removes it, and where it is: on the tensor, or a pre- or post-hook on the
    node (whose calls are a tuple of gradients, or a pair of tuples)."""

    tensor: str
    node: str | None
    dtype: str
    handle: str
    on: str = "tensor"  # "tensor", "pre" or "post"
    removed: bool = False

    def gradient(self, call: str, which: str) -> str:
        """An expression for one gradient a call was shown."""
        if self.on == "tensor":
            return f"{call}"
        if self.on == "pre":
            return f"{call}[0]"
        return f"{call}[{which}][0]"  # 0: the gradient the node made, 1: the one it received

    @property
    def shown(self) -> tuple[str, ...]:
        """Which gradients of a call the end of a program checks: a post-hook's both."""
        return ("0", "1") if self.on == "post" else ("0",)


@dataclass
class Held:
    """Gradients that outlive the backward that made them, by the name that holds them."""

    kept: dict[str, Kept] = field(default_factory=dict)  # record hooks' lists
    filled: dict[str, None] = field(default_factory=dict)  # lists a backward appended to
    edited: dict[str, str] = field(default_factory=dict)  # held gradients edited: dtype
    results: dict[str, tuple[str, ...]] = field(default_factory=dict)  # autograd.grad's dtypes
    references: dict[str, str] = field(default_factory=dict)  # `k = x.grad`s: dtype

    def live(self) -> list[str]:
        """Lists whose hook is still registered."""
        return [name for name, kept in self.kept.items() if not kept.removed]

    def fire(self, state: State, root: Value, inputs: list[str] | None) -> None:
        """The record hooks a backward the model expects to succeed fires: a leaf's if the
        graph reaches the leaf (and `inputs`, if given, names it), a non-leaf's if the node
        it was registered on runs."""
        executed = state.executed(root, inputs)
        for name, kept in self.kept.items():
            if kept.removed:
                continue
            if kept.on != "tensor":  # on the node, wherever its tensor went since
                if kept.node in executed:
                    self.filled[name] = None
                continue
            value = state.values.get(kept.tensor)
            if value is None or value.node != kept.node:
                continue
            if value.leaf:
                fires = kept.tensor in root.leaves and (inputs is None or kept.tensor in inputs)
            else:
                fires = value.node in executed
            if fires:
                self.filled[name] = None

    def edited_list(self, name: str) -> bool:
        """Whether a gradient in `name`'s list was edited (the end then checks that one)."""
        return any(subject.startswith(f"{name}[") for subject in self.edited)
