"""The generator's model of a program's state as it is drawn: what each name holds, which
names share memory, which `.grad`s are set and which graphs were freed or hold saved tensors
that an in-place edit has since changed.

The model only steers generation towards programs that mostly run (compatible shapes,
well-conditioned values, roots that require grad). It is never an oracle: every step's real
outcome, errors included, is observed on both backends and compared.

Memory: every value has a `storage`. Views (torch's `view`, `reshape` when it returns a view,
`t`, `transpose`, indexing) and `detach()` results share their input's; an in-place edit of
any of them changes the values of all, so the edit updates each member's bound (see `edit`).
A view also has a `base`, the name of the tensor whose autograd history it follows (torch's
`_base`, always the first non-view); a `detach()` result shares memory but no history.

Views made under `no_grad` (torch's creation meta NO_GRAD_MODE; a view of such a view
inherits it): editing one while grad mode records the edit is an error, and once any name
sharing its memory is edited, reading its `grad_fn` (so `is_leaf`, or any op that grad mode
records, backward included) is an error for as long as its base requires grad: the view is
"poisoned" (see `State.poisoned`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from conformance.fuzz.domain import FLOATS, Interval
from conformance.fuzz.layout import contiguous, is_contiguous


@dataclass(frozen=True, slots=True)
class Value:
    """A bound tensor as the model sees it."""

    shape: tuple[int, ...]
    dtype: str
    bound: Interval
    requires_grad: bool = False
    leaf: bool = True
    strides: tuple[int, ...] | None = None  # None: contiguous
    exact: bool = True  # the strides are torch's: False after ops on non-contiguous inputs,
    # whose results keep a layout of their own (TensorIterator, numpy's order K)
    storage: int = 0  # memory it shares with views and detach() results (0: not yet bound)
    base: str | None = None  # a view's base: the tensor whose history it follows
    node: str | None = None  # its grad_fn's id in `nodes`
    leaves: frozenset[str] = frozenset()  # leaves that require grad, reached by backward
    nodes: frozenset[str] = frozenset()  # node ids on its graph, its own included
    retains: bool = False
    nograd: bool = False  # a float view made under no_grad, or a view of one
    view_edited: bool = False  # a nograd view whose memory was edited since it was made
    inference: bool = False  # made in inference mode: an in-place edit outside it is an error
    detached: bool = False  # made a leaf by detach_(): no hooks (see `actions.flags.detach_`)

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOATS

    @property
    def numel(self) -> int:
        size = 1
        for dim in self.shape:
            size *= dim
        return size

    @property
    def layout(self) -> tuple[int, ...]:
        return self.strides if self.strides is not None else contiguous(self.shape)

    @property
    def contiguous(self) -> bool:
        return self.strides is None or is_contiguous(self.shape, self.strides)

    @property
    def rootable(self) -> bool:
        """Whether backward can start from this value itself: it requires grad and is not a
        view without history (made under no_grad, or before its base required grad), which
        torch refuses as a root (`v.sum()` would do)."""
        return self.requires_grad and not (self.leaf and self.base is not None)


@dataclass(frozen=True, slots=True)
class Edit:
    """What the model expects of an in-place edit `target.op_(operand)`."""

    recorded: bool  # grad mode is on and the target or the operand requires grad
    error: str | None  # the error label torch raises, or None
    through_view: bool  # the target is a view: recording it is torch's CopySlices
    aliased: bool  # other names share the target's memory
    saved: bool  # a node saved a tensor in that memory for backward


@dataclass
class State:
    """Names bound so far, in order, and the autograd state the model believes in."""

    values: dict[str, Value] = field(default_factory=dict)
    grads: set[str] = field(default_factory=set)
    freed: set[str] = field(default_factory=set)  # node ids run without retain_graph
    saving: set[str] = field(default_factory=set)  # node ids that saved tensors
    curving: set[str] = field(default_factory=set)  # ... one of which required grad
    stale: set[str] = field(default_factory=set)  # node ids whose saved tensors were edited
    savers: dict[int, set[str]] = field(default_factory=dict)  # storage -> nodes saving it
    sizes: dict[int, int] = field(default_factory=dict)  # storage -> its number of elements
    roots: list[str] = field(default_factory=list)
    # node id -> (the node ids on its graph, itself included; the leaves it reaches)
    ancestry: dict[str, tuple[frozenset[str], frozenset[str]]] = field(default_factory=dict)
    grad_enabled: bool = True  # whether ops are recorded: off in no_grad and inference mode
    inference: bool = False  # in an inference_mode block
    higher: bool = False  # a gradient with a graph of its own was made (create_graph)
    counter: int = 0

    def name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def storage(self, numel: int) -> int:
        self.counter += 1
        self.sizes[self.counter] = numel
        return self.counter

    def leaf(self, name: str, value: Value, *, shares: bool = False) -> None:
        """Bind a leaf: new memory, or (`shares`) the memory `value` already names."""
        leaves = frozenset({name}) if value.requires_grad else frozenset()
        storage = value.storage if shares else self.storage(value.numel)
        self.values[name] = replace(
            value,
            leaf=True,
            leaves=leaves,
            nodes=frozenset(),
            node=None,
            base=None,
            storage=storage,
            retains=False,
            nograd=False,
            view_edited=False,
        )

    def result(
        self,
        name: str,
        inputs: list[Value],
        shape: tuple[int, ...],
        dtype: str,
        bound: Interval,
        *,
        saves: bool = False,
        strides: tuple[int, ...] | None = None,
        view_of: str | None = None,
        exact: bool = True,
        frees: bool = False,
    ) -> Value:
        """Bind the result of an op on `inputs`: tracked when grad mode is on and an input
        requires grad, as in torch. `view_of` names the input a view shares memory with;
        `frees`: the node saves only a number (freed by backward, changed by no edit)."""
        tracked = self.grad_enabled and dtype in FLOATS and any(v.requires_grad for v in inputs)
        if view_of is not None:
            source = self.values[view_of]
            base = source.base or view_of
            value = Value(
                shape,
                dtype,
                bound,
                strides=strides,
                exact=exact,
                storage=source.storage,
                base=base,
                nograd=dtype in FLOATS and (source.nograd or not self.grad_enabled),
                inference=source.inference,
            )
            if not tracked:
                # a view requires grad whenever its base does, yet stays a leaf without history
                value = replace(value, requires_grad=self.values[base].requires_grad)
        else:
            exact = exact and all(v.exact and v.contiguous for v in inputs)
            storage = self.storage(_numel(shape))
            value = Value(
                shape,
                dtype,
                bound,
                strides=strides,
                exact=exact,
                storage=storage,
                inference=self.inference,
            )
        if tracked:
            value = replace(
                value,
                requires_grad=True,
                leaf=False,
                node=name,
                leaves=frozenset().union(*(v.leaves for v in inputs)),
                nodes=frozenset({name}).union(*(v.nodes for v in inputs)),
            )
            self.ancestry[name] = (value.nodes, value.leaves)
            if frees:  # saved a number: nothing an in-place edit changes
                self.saving.add(name)
            elif saves:
                self.saving.add(name)
                if any(v.requires_grad for v in inputs):
                    self.curving.add(name)
                for v in (*inputs, value):
                    if v.storage:
                        self.savers.setdefault(v.storage, set()).add(name)
        self.values[name] = value
        return value

    def gradient(
        self,
        name: str,
        root: Value,
        shape: tuple[int, ...],
        dtype: str,
        bound: Interval,
        requires_grad: bool,
    ) -> None:
        """Bind a gradient `autograd.grad(..., create_graph=True)` returned: new memory, and,
        when it requires grad, a graph over the root's (its backward formulas read the
        tensors the root's nodes saved)."""
        value = Value(shape, dtype, bound, storage=self.storage(_numel(shape)))
        self.higher = True
        if requires_grad:
            nodes = root.nodes | {name}
            value = replace(
                value, requires_grad=True, leaf=False, node=name, leaves=root.leaves, nodes=nodes
            )
            self.ancestry[name] = (nodes, root.leaves)
            self.saving.add(name)
            self.curving.add(name)
        self.values[name] = value

    def curved(self, value: Value) -> bool:
        """Whether a node on `value`'s graph saved a tensor that requires grad: then the
        gradient of `value` (with `create_graph`) requires grad too. A guess that errs towards
        yes (`x * c` with a constant `c` counts), which a generated program only observes."""
        return bool(value.nodes & self.curving)

    def tensors(
        self, predicate: Callable[[Value], bool] | None = None, *, poisoned: bool = False
    ) -> list[str]:
        """Bound names, oldest first, optionally filtered by a predicate on their `Value`.
        Under grad mode, poisoned views (any use is an error) are left out unless `poisoned`."""
        skip = self.grad_enabled and not poisoned
        return [
            name
            for name, value in self.values.items()
            if (predicate is None or predicate(value)) and not (skip and self.is_poisoned(value))
        ]

    def is_poisoned(self, value: Value) -> bool:
        """A no_grad view whose memory was edited since it was made, while its base requires
        grad: torch refuses to read its `grad_fn`, so grad mode can record nothing with it."""
        if not value.view_edited or value.base is None:
            return False
        base = self.values.get(value.base)
        return base is not None and base.requires_grad

    def poisoned(self, name: str) -> bool:
        return self.is_poisoned(self.values[name])

    def executed(self, root: Value, inputs: list[str] | None) -> frozenset[str]:
        """The nodes a backward from `root` runs: all of its graph, or with `inputs`, the
        nodes on a path to one of them (a non-leaf input's own node included, as torch)."""
        if inputs is None:
            return root.nodes
        found = set()
        for node in root.nodes:
            nodes, leaves = self.ancestry.get(node, (frozenset({node}), frozenset()))
            for name in inputs:
                value = self.values[name]
                if (value.leaf and name in leaves) or (
                    not value.leaf and value.node is not None and value.node in nodes
                ):
                    found.add(node)
                    break
        return frozenset(found)

    def backward_fails(self, root: Value, inputs: list[str] | None = None) -> bool:
        """Whether a backward from `root` would reach a node whose saved tensors were freed, or
        changed in place since they were saved."""
        nodes = self.executed(root, inputs)
        return bool(nodes & self.freed & self.saving) or bool(nodes & self.stale)

    def backward(
        self, root_name: str, root: Value, retain_graph: bool, inputs: list[str] | None = None
    ) -> None:
        """Record a backward the model expects to succeed. With `inputs`, only they get a
        `.grad` (those the graph reaches), and torch calls `retain_grad()` on each."""
        if inputs is None:
            self.grads |= root.leaves
            self.grads |= {
                name
                for name, value in self.values.items()
                if value.retains and value.node is not None and value.node in root.nodes
            }
        else:
            for name in inputs:
                value = self.values[name]
                if value.leaf:
                    if name in root.leaves:
                        self.grads.add(name)
                    continue
                self.values[name] = replace(value, retains=True)
                if value.node in root.nodes:
                    self.grads.add(name)
        if not retain_graph:
            self.freed |= self.executed(root, inputs)
        if root_name not in self.roots:
            self.roots.append(root_name)

    def grad_call(self, root_name: str, root: Value, retain_graph: bool, inputs: list[str]) -> None:
        """Record an `autograd.grad` the model expects to succeed: no `.grad` changes and
        nothing is retained; what it ran is freed unless `retain_graph`."""
        if not retain_graph:
            self.freed |= self.executed(root, inputs)
        if root_name not in self.roots:
            self.roots.append(root_name)

    # --- memory and in-place edits -----------------------------------------------------------

    def aliases(self, name: str) -> list[str]:
        """Every name sharing `name`'s memory, itself included."""
        storage = self.values[name].storage
        return [other for other, value in self.values.items() if value.storage == storage]

    def requires_grad_(self, name: str, requires_grad: bool = True, detached: bool = False) -> None:
        """`name.requires_grad_(flag)` on a leaf, or (`detached`) `name.detach_()`: `name` is
        a leaf whose flag its views without a history of their own follow."""
        value = self.values[name]
        detached = value.detached or detached
        self.leaf(name, replace(value, requires_grad=requires_grad, detached=detached), shares=True)
        for other, member in self.values.items():
            if member.base == name and member.leaf:
                self.values[other] = replace(member, requires_grad=requires_grad)

    def classify(self, target: str, operand: Value | None) -> Edit:
        """What torch does with `target.op_(operand)` now (operand None: a number)."""
        value = self.values[target]
        recorded = (
            self.grad_enabled
            and value.is_float
            and (value.requires_grad or (operand is not None and operand.requires_grad))
        )
        error = None
        if value.inference and not self.inference:
            error = "error:inference_inplace"
        elif operand is not None and not value.is_float and operand.is_float:
            error = "error:inplace_dtype"
        elif recorded and value.nograd:
            error = "error:inplace_nograd_view"
        elif recorded and operand is not None and self.is_poisoned(operand):
            error = "error:nograd_view_rebased"
        elif recorded and value.base is not None:
            # torch asks whether the view requires grad and its base is a leaf: a base that
            # stopped requiring grad (requires_grad_(False)) after the view was made counts
            if value.requires_grad and self.values[value.base].leaf:
                error = "error:inplace_view_of_leaf"
        elif recorded and value.leaf and value.requires_grad:
            error = "error:inplace_leaf"
        aliased = len(self.aliases(target)) > 1
        saved = bool(self.savers.get(value.storage))
        return Edit(recorded, error, value.base is not None, aliased, saved)

    def edit(
        self,
        target: str,
        operand: Value | None,
        operand_name: str | None,
        bound: Interval,
        saves: bool,
    ) -> None:
        """Record `target.op_(operand)`, which the model expects to succeed, leaving `target`'s
        elements in `bound`.

        Every name sharing the memory changes: the target and any name covering all of the
        memory now lie in `bound`; another name's elements may or may not have been written,
        so its bound widens to hold both. The version counter is shared too, so every node
        that saved a tensor in this memory can no longer run backward. When recorded, the
        target (or, through a view, its base) gets a new node; views of a base whose memory
        changed follow its history again (torch's AsStridedBackward0), even under no_grad."""
        value = self.values[target]
        edit = self.classify(target, operand)
        storage = value.storage
        aliases = self.write(target, bound)
        self.stale |= self.savers.get(storage, set())
        base_name = value.base or target
        base = self.values[base_name]
        if edit.recorded:
            node = self.name(f"{base_name}'")
            operand_leaves = operand.leaves if operand is not None else frozenset()
            operand_nodes = operand.nodes if operand is not None else frozenset()
            leaves = base.leaves | value.leaves | operand_leaves
            nodes = base.nodes | value.nodes | operand_nodes | {node}
            if saves and operand is not None:
                self.saving.add(node)
                self.curving.add(node)
                if operand_name is not None:
                    self.savers.setdefault(operand.storage, set()).add(node)
                    if operand.storage == storage:  # `y.mul_(y)` saved y, then changed it
                        self.stale.add(node)
            self.ancestry[node] = (nodes, leaves)
            self.values[base_name] = replace(
                base, requires_grad=True, leaf=False, node=node, leaves=leaves, nodes=nodes
            )
        for name in aliases:
            member = self.values[name]
            if member.nograd:  # the version counter moved since it was made
                self.values[name] = replace(member, view_edited=True)
        for name in aliases:
            if self.values[name].base is None:
                self._rebase_views(name)

    def write(self, target: str, bound: Interval) -> list[str]:
        """Bounds after `target`'s elements were written to lie in `bound`, as `edit` says;
        on its own, a write through `.data`: no version moves, nothing is recorded. Returns
        the names sharing the memory."""
        value = self.values[target]
        covers = value.numel == self.sizes.get(value.storage, -1)  # every element was written
        aliases = self.aliases(target)
        for name in aliases:
            member = self.values[name]
            if name == target or covers:
                new = bound
            else:
                new = Interval(min(member.bound.lo, bound.lo), max(member.bound.hi, bound.hi))
            self.values[name] = replace(member, bound=new)
        return aliases

    def assign_data(self, target: str, bound: Interval) -> None:
        """`target.data = t` with a new tensor `t` of its shape and dtype: `target` takes
        new memory, and the names that shared its old memory keep it. Its version counter
        stays the one it shared with them, so their savers and its own are one set."""
        value = self.values[target]
        storage = self.storage(value.numel)
        self.savers[storage] = self.savers.setdefault(value.storage, set())
        self.values[target] = replace(value, storage=storage, bound=bound)

    def _rebase_views(self, base_name: str) -> None:
        base = self.values[base_name]
        for name, value in self.values.items():
            if value.base != base_name or not base.requires_grad or value.nograd:
                continue  # a no_grad view gets no new history: reading it is an error now
            node = self.name(f"{name}'")
            self.ancestry[node] = (base.nodes | {node}, base.leaves)
            self.values[name] = replace(
                value,
                requires_grad=True,
                leaf=False,
                node=node,
                leaves=base.leaves,
                nodes=base.nodes | {node},
            )


def _numel(shape: tuple[int, ...]) -> int:
    size = 1
    for dim in shape:
        size *= dim
    return size
