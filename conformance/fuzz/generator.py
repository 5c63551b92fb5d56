"""`programs()`: a hypothesis strategy for random autograd programs in the spec language.

A program starts from a leaf that requires grad and then draws actions: more leaves, ops over
the whole op set (`conformance.fuzz.ops`), grad-mode blocks, backward calls (scalar, with a
gradient, repeated, with and without `retain_graph`), `.grad` resets, `retain_grad`, `detach`,
tensor hooks and the gradients they keep, deliberate misuses, and checks of what can be
observed. `State` steers it towards programs that mostly run; hypothesis shrinks a failing
one towards few, simple steps.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from hypothesis import strategies as st

from conformance.fuzz import ops
from conformance.fuzz.domain import FLOATS, Interval, span
from conformance.fuzz.features import ALL_FEATURES
from conformance.fuzz.program import FLAGS, Check, Program, Statement, Step
from conformance.fuzz.state import Edit, State, Value

Draw = Callable[[st.SearchStrategy[Any]], Any]
T = TypeVar("T")
_BOOLEANS = st.booleans()
_integers = functools.lru_cache(maxsize=None)(st.integers)


@dataclass(frozen=True, slots=True)
class Config:
    """What to generate: feature groups, the capabilities both backends share, and size."""

    features: frozenset[str] = ALL_FEATURES
    capabilities: frozenset[str] = frozenset(
        {"float64", "int_dtypes", "retain_grad", "inplace", "version_counter", "hooks"}
        | {"node_hooks"}
    )
    max_actions: int = 16


def programs(config: Config | None = None) -> st.SearchStrategy[Program]:
    """Random programs; each renders to a spec (see `conformance.fuzz.program`)."""
    return _programs(config or Config())


def sample(count: int, config: Config | None = None, at: int = 0) -> list[Program]:
    """`count` programs, the same ones for the same `at` (a seed): for tests and benchmarks
    that need programs, not a search."""
    from hypothesis import HealthCheck, given, seed, settings

    found: list[Program] = []

    @seed(at)
    @settings(
        max_examples=count, database=None, deadline=None, suppress_health_check=list(HealthCheck)
    )
    @given(programs(config))
    def collect(program: Program) -> None:
        found.append(program)

    collect()
    return found


@st.composite
def _programs(draw: Draw, config: Config) -> Program:
    builder = _Builder(draw, config)
    builder.steps.append(builder.leaf(first=True))
    for _ in range(draw(_integers(0, config.max_actions))):
        action = builder.one(builder.actions())
        step = action()
        if step is not None:
            builder.steps.append(step)
    ending = draw(_integers(0, 3))  # usually an ending; shrinking turns it off (0)
    if ending in (1, 3):
        builder.backward_newest()
        if builder.filled and builder.flip():  # a kept gradient, with every .grad set
            step = builder.kept_gradient()
            if step is not None:
                builder.steps.append(step)
    if ending > 0:
        builder.sweep()
    return Program(tuple(builder.steps))


@dataclass
class _Kept:
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


@dataclass
class _Builder:
    draw: Draw
    config: Config
    state: State = field(default_factory=State)
    steps: list[Step] = field(default_factory=list)
    touched: list[str] = field(default_factory=list)  # names the last in-place edit changed
    edited: dict[str, None] = field(default_factory=dict)  # names any edit changed, in order
    hidden: set[str] = field(default_factory=set)  # the model's names for inline views
    kept: dict[str, _Kept] = field(default_factory=dict)  # record hooks' lists, by name
    filled: dict[str, None] = field(default_factory=dict)  # lists a backward appended to
    kept_edited: dict[str, str] = field(default_factory=dict)  # kept gradients edited: dtype
    results: dict[str, tuple[str, ...]] = field(default_factory=dict)  # autograd.grad's: dtypes

    def has(self, feature: str) -> bool:
        return feature in self.config.features

    def can(self, capability: str) -> bool:
        return capability in self.config.capabilities

    def actions(self) -> list[Callable[[], Step | None]]:
        """The actions that make sense now, simplest first (hypothesis shrinks towards them)."""
        found: list[Callable[[], Step | None]] = [self.check, self.leaf, self.backward]
        found += [self.backward, self.check_grad]
        if self.has("ops"):
            found += [self.unary, self.scalar, self.binary, self.binary]
        if self.has("matmul"):
            found.append(self.matmul)
        if self.has("reductions"):
            found += [self.reduce, self.reduce]
        if self.has("views"):
            found.append(self.view)
        if self.has("grad_mode"):
            found.append(self.grad_mode)
            if self.has("views") and self.has("nograd_views"):
                found.append(self.nograd_view)
        if self.results:
            found += [self.grad_result] * 2
        if self.has("retain_graph") and self.state.roots:
            found.append(self.backward_again)
        if self.has("zero_grad") and self.state.grads:
            found.append(self.zero_grad)
        if self.has("retain_grad") and self.can("retain_grad"):
            found.append(self.retain_grad)
        if self.has("detach"):
            found.append(self.detach)
        if self.has("inplace") and self.can("inplace"):
            found += [self.inplace, self.inplace, self.inplace]
            if self.has("views"):
                found += [self.view, self.view]  # more views to edit through
        if self.has("hooks") and self.can("hooks"):
            found += [self.hook, self.hook]
            if self.filled:
                found += [self.kept_gradient] * 3
            if any(not kept.removed for kept in self.kept.values()):
                found.append(self.remove_hook)
        if self.has("errors"):
            found.append(self.misuse)
            if self.has("nograd_views") and self.state.tensors(
                self.state.is_poisoned, poisoned=True
            ):
                found.append(self.misuse_poisoned)
        found += [self.check, self.check_grad, self.backward]
        return found

    # --- choosing ---------------------------------------------------------------------------

    def flip(self) -> bool:
        return bool(self.draw(_BOOLEANS))

    def between(self, low: int, high: int) -> int:
        return int(self.draw(_integers(low, high)))

    def one(self, items: Sequence[T]) -> T:
        """An item; hypothesis shrinks towards the first. (An index into a cached strategy:
        building a `sampled_from` for each draw costs more than running the program.)"""
        return items[self.between(0, len(items) - 1)]

    def choose(self, choices: list[ops.Applied]) -> ops.Applied:
        """One op, then one of its forms, so an op with many forms is not drawn more often."""
        groups: dict[str, list[ops.Applied]] = {}
        for choice in choices:
            groups.setdefault(choice.labels[0], []).append(choice)
        return self.one(groups[self.one(list(groups))])

    def pick(self, names: list[str]) -> str | None:
        return self.one(names) if names else None

    def pick_tensor(self, predicate: Callable[[Value], bool] | None = None) -> str | None:
        """A bound tensor; half the time one of the two newest, so ops form chains."""
        names = self.state.tensors(predicate)
        return self.pick(names if self.flip() else names[-2:])

    def dtype(self) -> str:
        choices = ["float32"]
        if self.has("dtypes") and self.can("float64"):
            choices.append("float64")
        if self.has("dtypes") and self.can("int_dtypes"):
            choices.append("int64")
        return self.one(choices)

    def shape(self) -> tuple[int, ...]:
        return tuple(self.between(1, 3) for _ in range(self.between(0, 3)))

    # --- leaves -----------------------------------------------------------------------------

    def leaf(self, first: bool = False) -> Statement:
        shape = self.shape()
        dtype = "float32" if first else self.dtype()
        floating = dtype in FLOATS
        requires_grad = floating and (first or self.flip())
        kinds = ["tensor", "randn", "rand", "ones"] if floating else ["tensor"]
        kind = self.one(kinds)
        name = self.state.name("x")
        if kind == "tensor":
            source, bound = self.literal(shape, dtype, positive=self.flip())
        else:
            source, bound = ops.filled(kind, shape), ops.FILLED_BOUNDS[kind]
        source = ops.with_options(source, dtype, requires_grad)
        self.state.leaf(name, Value(shape, dtype, bound, requires_grad=requires_grad))
        labels = [f"leaf:{kind}", dtype] + (["requires_grad"] if requires_grad else [])
        return Statement(f"{name} = {source}", tuple(labels))

    def literal(self, shape: tuple[int, ...], dtype: str, positive: bool) -> tuple[str, Interval]:
        """`tensor(...)` data: multiples of 1/4, so + - * are exact on every backend."""
        count = 1
        for dim in shape:
            count *= dim
        low = 2 if positive else -8
        if dtype not in FLOATS:
            low = 1 if positive else -3
        units = [self.between(low, 8) for _ in range(count)]
        data = [u / 4 for u in units] if dtype in FLOATS else units
        bound = span([float(v) for v in data])
        assert bound is not None
        return f"tensor({ops.nested_literal(data, shape)})", bound

    # --- ops --------------------------------------------------------------------------------

    def bind(self, op: ops.Applied, inputs: list[Value], view_of: str | None = None) -> Statement:
        name = self.state.name("y")
        self.state.result(
            name,
            inputs,
            op.shape,
            op.dtype,
            op.bound,
            saves=op.saves,
            strides=op.strides,
            view_of=view_of,
            exact=op.exact,
            frees=op.frees,
        )
        return Statement(f"{name} = {op.source}", op.labels, _stand_ins(name, op.shape, op.dtype))

    def unary(self) -> Statement | None:
        name = self.pick_tensor()
        if name is None:
            return None
        value = self.state.values[name]
        choices = ops.unary_choices(name, value)
        if not choices:
            return None
        return self.bind(self.choose(choices), [value])

    def scalar(self) -> Statement | None:
        name = self.pick_tensor()
        if name is None:
            return None
        value = self.state.values[name]
        choices = ops.scalar_choices(name, value)
        return self.bind(self.choose(choices), [value]) if choices else None

    def partner_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if not self.has("broadcasting"):
            return shape
        variants = ops.broadcast_partners(shape)
        return self.one(variants)

    def binary(self) -> Statement | None:
        left_name = self.pick_tensor()
        if left_name is None:
            return None
        left = self.state.values[left_name]
        if self.flip():
            partners = self.state.tensors(
                lambda v: ops.can_pair(left, v, broadcasting=self.has("broadcasting"))
            )
            right_name = self.pick(partners)
            if right_name is None:
                return None
            right_source, right = right_name, self.state.values[right_name]
        else:
            right_source, right = self.inline_partner(left, self.partner_shape(left.shape))
        if self.flip():
            left_name, left, right_source, right = right_source, right, left_name, left
        choices = ops.binary_choices(left_name, left, right_source, right)
        if not choices:
            return None
        return self.bind(self.choose(choices), [left, right])

    def inline_partner(self, like: Value, shape: tuple[int, ...]) -> tuple[str, Value]:
        """A constant operand written inline: `randn(2, 1)` or `tensor([[0.5], [2.0]])`."""
        dtype = like.dtype if like.is_float else "float32"
        if self.flip():
            source, bound = self.literal(shape, dtype, positive=self.flip())
        else:
            source, bound = ops.filled("randn", shape), ops.FILLED_BOUNDS["randn"]
        source = ops.with_options(source, dtype, False)
        return source, Value(shape, dtype, bound)

    def matmul(self) -> Statement | None:
        left_name = self.pick_tensor(lambda v: v.is_float and len(v.shape) in (1, 2))
        if left_name is None:
            return None
        left = self.state.values[left_name]
        inner = left.shape[-1]
        partners = self.state.tensors(
            lambda v: v.dtype == left.dtype and len(v.shape) in (1, 2) and v.shape[0] == inner
        )
        if partners and self.flip():
            right_source = self.one(partners)
            right = self.state.values[right_source]
        else:
            shape = self.one([(inner,), (inner, 1), (inner, 2), (inner, 3)])
            right_source, right = self.inline_partner(left, shape)
        op = ops.matmul(left_name, left, right_source, right, self.flip())
        return self.bind(op, [left, right]) if op is not None else None

    def reduce(self) -> Statement | None:
        name = self.pick_tensor()
        if name is None:
            return None
        value = self.state.values[name]
        kinds = ["sum", "mean"] if value.is_float else ["sum"]
        kind = self.one(kinds)
        dims: tuple[int, ...] | int | None = None
        keepdim = False
        rank = len(value.shape)
        if rank and self.flip():
            dim = self.between(-rank, rank - 1)
            dims = dim
            if rank >= 2 and self.flip():
                other = self.between(0, rank - 1)
                if other != dim % rank:
                    dims = (dim, other)
            keepdim = self.flip()
        op = ops.reduction(name, value, kind, dims, keepdim, self.flip())
        return self.bind(op, [value]) if op is not None else None

    def view(self, requiring_grad: bool = False) -> Statement | None:
        name = self.pick_tensor(lambda v: v.requires_grad) if requiring_grad else None
        name = name or self.pick_tensor()
        if name is None:
            return None
        value = self.state.values[name]
        choices = ops.view_choices(name, value)
        if not choices:
            return None
        op = self.choose(choices)
        step = self.bind(op, [value], view_of=name if op.view else None)
        made = self.state.values[next(reversed(self.state.values))]
        if made.nograd and op.view:
            label = "nograd_view" if not self.state.grad_enabled else "nograd_view:of_view"
            step = replace(step, ops=(*step.ops, label))
        return step

    def temporary_view(self, target: str) -> tuple[str, list[str]] | None:
        """A view of `target` written inline and edited at once (`b[0].mul_(2)`,
        `b.view(-1)[2:].add_(t)`): bound in the model under hidden names for the edit only.
        Only views torch surely makes (a `reshape` of unknown strides may copy)."""
        state = self.state
        made: list[str] = []
        source = target
        for _ in range(1 if self.between(0, 2) else 2):
            of = made[-1] if made else target
            value = state.values[of]
            choices = [
                c
                for c in ops.view_choices(source, value)
                if c.view and (value.exact or c.labels[0] != "reshape")
            ]
            if not choices:
                break
            op = self.choose(choices)
            name = state.name("t")
            self.hidden.add(name)
            state.result(
                name,
                [value],
                op.shape,
                op.dtype,
                op.bound,
                strides=op.strides,
                view_of=of,
                exact=op.exact,
            )
            made.append(name)
            source = op.source
        return (source, made) if made else None

    # --- grad mode --------------------------------------------------------------------------

    def grad_mode(self, depth: int = 0) -> Statement | None:
        modes = ["no_grad()", "enable_grad()", "set_grad_enabled(False)", "set_grad_enabled(True)"]
        mode = self.one(modes)
        before = self.state.grad_enabled
        self.state.grad_enabled = mode in ("enable_grad()", "set_grad_enabled(True)")
        lines: list[str] = []
        labels = [mode.split("(")[0] if "True" not in mode and "False" not in mode else mode]
        try:
            for _ in range(self.between(1, 2)):
                inner = self.one(self.block_actions())()
                if isinstance(inner, Statement):
                    lines.extend(inner.source.splitlines())
                    labels.extend(inner.ops)
            if depth == 0 and self.flip():
                nested = self.grad_mode(depth + 1)
                if nested is not None:
                    lines.extend(nested.source.splitlines())
                    labels.extend(nested.ops)
        finally:
            self.state.grad_enabled = before
        if not lines:
            return None
        body = "\n".join(f"    {line}" for line in lines)
        return Statement(f"with {mode}:\n{body}", tuple(labels))

    def nograd_view(self) -> Statement | None:
        """`with no_grad():` around a view of a tensor that requires grad, and maybe one more
        action: the view requires grad through its base but has no history."""
        mode = self.one(["no_grad()", "set_grad_enabled(False)"])
        before = self.state.grad_enabled
        self.state.grad_enabled = False
        try:
            made = self.view(requiring_grad=True)
            if made is None:
                return None
            lines, labels = [made.source], [mode.split("(")[0] if "False" not in mode else mode]
            labels += made.ops
            if self.flip():
                inner = self.one(self.block_actions())()
                if isinstance(inner, Statement):
                    lines.extend(inner.source.splitlines())
                    labels.extend(inner.ops)
        finally:
            self.state.grad_enabled = before
        body = "\n".join(f"    {line}" for line in lines)
        return Statement(f"with {mode}:\n{body}", tuple(labels))

    def block_actions(self) -> list[Callable[[], Step | None]]:
        found: list[Callable[[], Step | None]] = [self.unary, self.scalar, self.binary]
        if self.has("inplace") and self.can("inplace"):
            found += [functools.partial(self.inplace, quiet=True)] * 2
        if self.has("views") and self.has("nograd_views"):
            found.append(self.view)  # under no_grad: torch's NO_GRAD_MODE views
        return found

    # --- in-place edits ---------------------------------------------------------------------

    def inplace(self, quiet: bool = False) -> Statement | None:
        """`t.mul_(c)`, `t += u`, ... on a non-leaf, a constant, a view, a base of views, a
        detached alias or a leaf that requires grad (an error), in or out of grad mode.
        `quiet`: inside a `with` block, where an error would skip the block's other lines."""
        state = self.state
        misuse = not quiet and self.has("errors") and self.between(0, 7) == 0

        def editable(name: str) -> bool:
            edit = state.classify(name, None)
            copy_slices = edit.recorded and edit.through_view and edit.error is None
            if copy_slices and not self.has("copy_slices"):
                return False
            return (edit.error is not None) == misuse

        kind = self.between(0, 4)
        if kind == 1:  # through a view
            names = [n for n in state.tensors() if state.values[n].base is not None]
        elif kind == 4:  # memory saved for backward: the version counter's business
            names = [n for n in state.tensors() if state.savers.get(state.values[n].storage)]
        elif kind >= 2:  # memory other names share
            names = [n for n in state.tensors() if len(state.aliases(n)) > 1]
        else:
            names = state.tensors()
        names = [n for n in names if editable(n)] or [n for n in state.tensors() if editable(n)]
        if misuse and self.flip():  # editing a no_grad view under grad mode, if there is one
            names = [n for n in names if state.values[n].nograd] or names
        target = self.pick(names if self.flip() else names[-2:])
        if target is None:
            return None
        temporary = None
        if self.has("views") and self.between(0, 3) == 0:
            temporary = self.temporary_view(target)
        if temporary is None:
            return self.edit_through(target, target, misuse, quiet)
        source, made = temporary
        try:
            return self.edit_through(made[-1], source, misuse, quiet, temporary=True)
        finally:
            for name in made:
                del state.values[name]

    def edit_through(
        self, target: str, written: str, misuse: bool, quiet: bool, temporary: bool = False
    ) -> Statement | None:
        """The edit of `inplace` on `target`, written `written` (an inline view when
        `temporary`: the model's hidden name for it is never shown)."""
        state = self.state
        value = state.values[target]
        operand: Value | None = None
        scalar: float | int | None = None
        if self.flip():
            table = ops.INPLACE_SCALARS if value.is_float else ops.INT_SCALARS
            op_name = self.one(list(table))
            scalar = self.one(table[op_name])
            operand_source, bound = repr(scalar), Interval(float(scalar), float(scalar))
            operand_name = None
        else:
            op_name = None
            mixed = misuse and not value.is_float and self.flip()
            operand_source, operand, operand_name = self.inplace_operand(target, value, mixed)
            if operand is None:
                return None
            bound = operand.bound
        edit = state.classify(target, operand)
        if edit.error is not None and (quiet or not self.has("errors")):
            return None
        if temporary and (edit.error is not None) != misuse:
            return None
        copy_slices = edit.recorded and edit.through_view and edit.error is None
        if copy_slices and not self.has("copy_slices"):
            return None
        if (edit.aliased or edit.saved) and not self.can("version_counter"):
            return None
        choices = ops.inplace_choices(value, bound, scalar)
        if op_name is not None:
            choices = [c for c in choices if c.op == op_name]
        if not choices:
            return None
        choice = self.one(choices)
        augmented = not temporary and self.flip()  # `b[0] += 1` would be a __setitem__
        source = choice.source(written, operand_source, augmented)
        labels = [f"{choice.op}_", "augmented" if augmented else "inplace"]
        labels += self.edit_labels(target, value, edit, operand)
        if temporary:
            labels.append("inplace:temp_view")
        if edit.error is not None:
            labels.append(edit.error)
        else:
            poisoned = {n for n in state.aliases(target) if state.values[n].nograd}
            poisoned -= {n for n in poisoned if state.values[n].view_edited} | self.hidden
            aliases = [n for n in state.aliases(target) if n not in self.hidden]
            state.edit(target, operand, operand_name, choice.bound, choice.saves)
            if poisoned:
                labels.append("nograd_view:edited")
            self.touched = aliases
            self.edited.update(dict.fromkeys(aliases))
        return Statement(source, tuple(labels))

    def inplace_operand(
        self, target: str, value: Value, mixed: bool
    ) -> tuple[str, Value | None, str | None]:
        """A tensor operand that broadcasts to the target's shape: a bound name (one that does
        not share the target's memory, or the target itself), or a constant written inline.
        An integer target takes integers, unless `mixed` (torch refuses a float operand)."""
        state = self.state
        if self.flip():

            def fits(v: Value) -> bool:
                if not ops.broadcasts_to(v.shape, value.shape):
                    return False
                if v.storage == value.storage and v is not value:
                    return False  # partial overlap (`b.add_(b[0])`): torch refuses it
                if v.requires_grad and not self.has("copy_slices"):
                    edit = self.state.classify(target, v)
                    if edit.recorded and edit.through_view:
                        return False
                return mixed or value.is_float or not v.is_float

            name = self.pick([n for n in state.tensors(fits) if n not in self.hidden])
            if name is None:
                return "", None, None
            return name, state.values[name], name
        shapes = [
            s for s in ops.broadcast_partners(value.shape) if ops.broadcasts_to(s, value.shape)
        ]
        if not self.has("broadcasting"):
            shapes = [value.shape]
        source, operand = self.inline_partner(value, self.one(shapes))
        if not value.is_float and not mixed:
            units = [self.between(-3, 3) for _ in range(operand.numel)]
            literal = f"tensor({ops.nested_literal(units, operand.shape)})"
            bound = span([float(u) for u in units])
            assert bound is not None
            return literal, Value(operand.shape, "int64", bound), None
        return source, operand, None

    def edit_labels(
        self, target: str, value: Value, edit: Edit, operand: Value | None
    ) -> list[str]:
        labels = ["inplace:tensor" if operand is not None else "inplace:scalar"]
        if value.base is not None:
            labels.append("inplace:view")
        elif any(v.base == target for v in self.state.values.values()):
            labels.append("inplace:base")
        elif edit.aliased:
            labels.append("inplace:alias")
        if value.leaf:
            labels.append("inplace:leaf_rg" if value.requires_grad else "inplace:constant")
        else:
            labels.append("inplace:nonleaf")
        if not self.state.grad_enabled:
            labels.append("inplace:no_grad")
        if edit.recorded and edit.through_view and edit.error is None:
            labels.append("copy_slices")
        if edit.saved:
            labels.append("inplace:saved")
        return labels

    # --- backward ---------------------------------------------------------------------------

    def backward(self, root_name: str | None = None) -> Statement | None:
        if root_name is None:
            root_name = self.pick_tensor(_rootable)
        if root_name is None:
            return None
        root = self.state.values[root_name]
        retain = self.has("retain_graph") and self.flip()
        inputs: list[str] | None = None
        rendered = None
        kinds: list[str] = []
        if self.has("backward_inputs") and self.between(0, 2) == 0:
            inputs, kinds = self.backward_inputs(root)
            if inputs:
                rendered = (
                    inputs[0] if len(inputs) == 1 and self.flip() else "[" + ", ".join(inputs) + "]"
                )
            else:
                inputs = None
        if inputs and rendered and self.can("autograd_grad") and self.between(0, 2) == 0:
            return self.grad_call(root_name, root, retain, inputs, rendered, kinds)
        function_form = self.can("autograd_grad") and self.between(0, 3) == 0
        call, labels = ops.backward_call(
            root_name, root, self.between(0, 3), retain, self.flip(), rendered, function_form
        )
        labels += tuple(kinds)
        if not self.state.backward_fails(root, inputs):
            self.fill_kept(root, inputs)
            self.state.backward(root_name, root, retain, inputs)
        elif self.state.executed(root, inputs) & self.state.stale:
            labels += ("modified_saved",)
        else:
            labels += ("freed_graph",)
        return Statement(call, labels)

    def grad_call(
        self,
        root_name: str,
        root: Value,
        retain: bool,
        inputs: list[str],
        rendered: str,
        kinds: list[str],
    ) -> Statement:
        """`g = autograd.grad(root, inputs, ...)`: no `.grad` changes, and what comes back is
        the engine's own gradient (a view of a `grad_outputs`, a sum's expanded view), checked
        and now and then edited in place like a kept one."""
        unused = "inputs:unreached" in kinds
        call, labels = ops.grad_call(root_name, root, self.between(0, 3), retain, rendered, unused)
        name = self.state.name("g")
        labels += tuple(kinds)
        if not self.state.backward_fails(root, inputs):
            self.fill_kept(root, inputs)
            self.state.grad_call(root_name, root, retain, inputs)
            self.results[name] = tuple(self.state.values[i].dtype for i in inputs)
        elif self.state.executed(root, inputs) & self.state.stale:
            labels += ("modified_saved",)
        else:
            labels += ("freed_graph",)
        return Statement(f"{name} = {call}", labels)

    def grad_result(self) -> Step | None:
        """One gradient `autograd.grad` returned, checked or edited in place."""
        name = self.pick(list(self.results))
        if name is None:
            return None
        dtypes = self.results[name]
        index = self.between(0, len(dtypes) - 1)
        return self.check_or_edit(f"{name}[{index}]", dtypes[index], "autograd.grad:edit")

    def backward_inputs(self, root: Value) -> tuple[list[str], list[str]]:
        """One or two tensors for `inputs=`: leaves the root reaches, non-leaves on its graph
        (torch retains their grad) and, now and then, one it does not reach."""
        state = self.state

        def reached(name: str) -> bool:
            value = state.values[name]
            if value.leaf:
                return name in root.leaves
            return value.node is not None and value.node in root.nodes

        def allowed(value: Value) -> bool:
            return value.requires_grad and (value.leaf or self.can("retain_grad"))

        candidates = state.tensors(allowed)
        near = [name for name in candidates if reached(name)]
        far = [name for name in candidates if not reached(name)]
        chosen: list[str] = []
        for _ in range(self.between(1, 2)):
            pool = far if far and self.between(0, 4) == 0 else near
            name = self.pick(pool)
            if name is not None and name not in chosen:
                chosen.append(name)
        kinds = []
        for name in chosen:
            value = state.values[name]
            kind = "leaf" if value.leaf else "nonleaf"
            kinds.append(f"inputs:{kind}" if reached(name) else "inputs:unreached")
        return chosen, kinds

    def backward_newest(self) -> None:
        """A backward from the newest value that requires grad: through every op before it."""
        names = self.state.tensors(_rootable)
        if names:
            step = self.backward(names[-1])
            if step is not None:
                self.steps.append(step)

    def backward_again(self) -> Statement | None:
        root = self.pick(self.state.roots)
        return self.backward(root) if root is not None else None

    def zero_grad(self) -> Statement | None:
        name = self.pick(sorted(self.state.grads))
        if name is None:
            return None
        if self.can("inplace") and self.flip():
            return Statement(f"{name}.grad.zero_()", ("zero_",))
        self.state.grads.discard(name)
        return Statement(f"{name}.grad = None", ("grad=None",))

    def retain_grad(self) -> Statement | None:
        name = self.pick_tensor(lambda v: v.requires_grad)
        if name is None:
            return None
        value = self.state.values[name]
        self.state.values[name] = replace(value, retains=not value.leaf)
        return Statement(f"{name}.retain_grad()", ("retain_grad",))

    def detach(self) -> Statement | None:
        form = self.between(0, 2)
        if form == 2:  # a leaf that does not require grad starts to
            name = self.pick_tensor(
                lambda v: v.leaf and v.is_float and not v.requires_grad and v.base is None
            )
            if name is not None:
                self.state.requires_grad_(name)
                source = self.one([f"{name}.requires_grad_()", f"{name}.requires_grad = True"])
                return Statement(source, ("requires_grad_",))
        name = self.pick_tensor(lambda v: v.is_float)
        if name is None:
            return None
        value = self.state.values[name]
        new = self.state.name("d")
        requires_grad = form == 1
        self.state.leaf(new, replace(value, requires_grad=requires_grad), shares=True)
        suffix = ".requires_grad_()" if requires_grad else ""
        source = f"{new} = {name}.detach(){suffix}"
        return Statement(source, ("detach",), _stand_ins(new, value.shape, value.dtype))

    def misuse(self) -> Statement | None:
        """A statement torch rejects; the error's type and message are compared."""
        kind = self.between(0, 6)
        if self.has("nograd_views") and self.flip():
            found = self.misuse_poisoned()  # one is rare: give it its chance
            if found is not None:
                return found
        if kind == 0:
            name = self.pick_tensor(lambda v: v.requires_grad and v.numel > 1)
            return Statement(f"{name}.backward()", ("error:implicit_grad",)) if name else None
        if kind == 1:
            name = self.pick_tensor(lambda v: not v.leaf)
            if name is None:
                return None
            return Statement(f"{name}.requires_grad = False", ("error:nonleaf_requires_grad",))
        if kind == 2:
            name = self.pick_tensor(lambda v: v.requires_grad and v.numel > 1)
            if name is None:
                return None
            shape = self.state.values[name].shape
            wrong = (*shape[:-1], shape[-1] + 1)
            return Statement(
                f"{name}.backward({ops.filled('ones', wrong)})", ("error:gradient_shape",)
            )
        if kind == 3:
            name = self.pick_tensor(lambda v: len(v.shape) >= 1 and v.shape[-1] > 1)
            if name is None:
                return None
            shape = self.state.values[name].shape
            other = (*shape[:-1], shape[-1] + 1)
            return Statement(f"{name} + {ops.filled('ones', other)}", ("error:broadcast",))
        if kind == 5:
            return self.misuse_inputs()
        if kind == 6:
            return self.misuse_poisoned()
        name = self.pick_tensor(lambda v: not v.requires_grad)
        return Statement(f"{name}.sum().backward()", ("error:no_grad_root",)) if name else None

    def misuse_inputs(self) -> Statement | None:
        """`backward(inputs=[])`, or an input that does not require grad."""
        if not self.has("backward_inputs"):
            return None
        root = self.pick_tensor(_rootable)
        if root is None:
            return None
        expression = root if self.state.values[root].numel == 1 else f"{root}.sum()"
        other = self.pick_tensor(lambda v: not v.requires_grad and v.is_float)
        if other is None or self.flip():
            return Statement(f"{expression}.backward(inputs=[])", ("error:empty_inputs",))
        return Statement(f"{expression}.backward(inputs=[{other}])", ("error:inputs_no_grad",))

    def misuse_poisoned(self) -> Statement | None:
        """A no_grad view whose memory was edited, used where grad mode records it."""
        if not self.has("nograd_views"):
            return None
        name = self.pick(self.state.tensors(self.state.is_poisoned, poisoned=True))
        if name is None:
            return None
        source = self.one([f"{name} * 2", f"{name}.sum()", f"{name}.exp()"])
        return Statement(source, ("error:nograd_view_rebased",))

    # --- hooks ------------------------------------------------------------------------------

    def hook(self) -> Statement | None:
        """A tensor hook: `scale(k)` changes the gradient that flows on; `record(kept)` keeps
        the gradient as the engine hands it out (its own tensor, or a view such as a sum's
        expanded one) for later checks and in-place edits."""
        names = [
            name
            for name in self.state.tensors(lambda v: v.requires_grad and v.is_float)
            if not self.stale_view(name)
        ]
        name = self.pick(names if self.flip() else names[-2:])
        if name is None:
            return None
        value = self.state.values[name]
        handle = self.state.name("h")
        where = "hook:leaf" if value.leaf else "hook:nonleaf"
        if self.flip():
            factor = self.one(["2", "0.5", "-1"])
            source = f"{handle} = {name}.register_hook(scale({factor}))"
            return Statement(source, ("hook:scale", where))
        kept = self.state.name("kept")
        on = "tensor"
        if value.node is not None and self.can("node_hooks") and self.flip():
            on = self.one(["pre", "post"])
        self.kept[kept] = _Kept(name, value.node, value.dtype, handle, on)
        if on == "tensor":
            source = f"{handle} = {name}.register_hook(record({kept}))"
            return Statement(source, ("hook:record", where))
        method = "register_prehook" if on == "pre" else "register_hook"
        source = f"{handle} = {name}.grad_fn.{method}(record({kept}))"
        return Statement(source, (f"hook:node_{on}",))

    def stale_view(self, name: str) -> bool:
        """A view whose memory an in-place edit changed: torch 2.13 and 2.14 crash (SIGSEGV)
        registering a hook on a view whose history an edit through an alias left to be
        refreshed (pytorch/pytorch#196459), so no hook goes on one."""
        return self.state.values[name].base is not None and name in self.edited

    def remove_hook(self) -> Statement | None:
        name = self.pick([name for name, kept in self.kept.items() if not kept.removed])
        if name is None:
            return None
        kept = self.kept[name]
        kept.removed = True
        return Statement(f"{kept.handle}.remove()", ("hook:remove",))

    def fill_kept(self, root: Value, inputs: list[str] | None) -> None:
        """The record hooks a backward the model expects to succeed fires: a leaf's if the
        graph reaches the leaf (and `inputs`, if given, names it), a non-leaf's if the node
        it was registered on runs."""
        executed = self.state.executed(root, inputs)
        for name, kept in self.kept.items():
            value = self.state.values.get(kept.tensor)
            if kept.on != "tensor":  # on the node, wherever its tensor went since
                if not kept.removed and kept.node in executed:
                    self.filled[name] = None
                continue
            if kept.removed or value is None or value.node != kept.node:
                continue
            if value.leaf:
                fires = kept.tensor in root.leaves and (inputs is None or kept.tensor in inputs)
            else:
                fires = value.node in executed
            if fires:
                self.filled[name] = None

    def kept_gradient(self) -> Step | None:
        """A kept gradient, checked or edited in place. Which edits succeed, and what else
        they change (a `.grad` that shares its memory, a later gradient), is the engine's
        layout of gradients, compared with torch's."""
        name = self.pick(list(self.filled))
        if name is None:
            return None
        kept = self.kept[name]
        subject = kept.gradient(f"{name}[{self.one(['0', '-1'])}]", self.one(["0", "1"]))
        return self.check_or_edit(subject, kept.dtype, "hook:edit_kept")

    def check_or_edit(self, subject: str, dtype: str, label: str) -> Step:
        """A gradient someone holds, checked, or edited in place and checked at the end."""
        edit = self.between(0, 3)
        if edit == 0:
            return Check(subject, (), dtype)
        self.kept_edited[subject] = dtype
        source = f"{subject}.{('zero_()', 'mul_(2)', 'add_(1)')[edit - 1]}"
        return Statement(source, (label,))

    # --- checks -----------------------------------------------------------------------------

    def check(self) -> Check | None:
        kind = self.between(0, 2 if self.has("grad_mode") else 1)
        if kind == 2:
            return Check("is_grad_enabled()")
        name = self.pick_tensor()
        if self.touched and self.flip():  # what the last in-place edit changed
            name = self.one(self.touched)
        if name is None:
            return None
        value = self.state.values[name]
        if kind == 1:
            return Check(f"{name}.grad", (), value.dtype, reads_grad=not value.leaf)
        flags = [f for f in FLAGS if f != "retains_grad" or self.can("retain_grad")]
        if self.state.poisoned(name):  # both read grad_fn, which torch refuses
            flags = [f for f in flags if f not in ("is_leaf", "grad_fn")]
        chosen = tuple(f for f in flags if self.flip())
        return Check(name, chosen, value.dtype)

    def check_grad(self) -> Check | None:
        """A `.grad` check, mostly of a leaf that requires grad: where backward bugs show."""
        name = self.pick_tensor(lambda v: v.leaf and v.requires_grad)
        if name is None:
            return None
        return Check(f"{name}.grad", (), self.state.values[name].dtype)

    def sweep(self) -> None:
        """Check every leaf's `.grad` at the end, the value of every name whose memory an
        in-place edit changed (a view that missed its base's edit shows here), and the last
        gradient each record hook kept."""
        for name in self.edited:
            self.steps.append(Check(name, (), self.state.values[name].dtype))
        for subject, dtype in self.kept_edited.items():
            self.steps.append(Check(subject, (), dtype))
        for name, dtypes in self.results.items():  # what autograd.grad returned
            for index, dtype in enumerate(dtypes):
                if f"{name}[{index}]" not in self.kept_edited:
                    self.steps.append(Check(f"{name}[{index}]", (), dtype))
        for name in self.filled:  # what the last call of each record hook was shown
            kept = self.kept[name]
            if any(subject.startswith(f"{name}[") for subject in self.kept_edited):
                continue
            # one tensor per check, which a regression spec can pin (a tuple it cannot)
            for which in ("0", "1") if kept.on == "post" else ("0",):
                self.steps.append(Check(kept.gradient(f"{name}[-1]", which), (), kept.dtype))
        for name, value in self.state.values.items():
            if value.leaf and value.is_float:
                self.steps.append(Check(f"{name}.grad", (), value.dtype))


def _rootable(value: Value) -> bool:
    """Whether backward can start from `value` itself: it requires grad and is not a view
    without history (made under no_grad, or before its base required grad), which torch
    refuses as a root (`v.sum()` would do)."""
    return value.requires_grad and not (value.leaf and value.base is not None)


def _stand_ins(name: str, shape: tuple[int, ...], dtype: str) -> tuple[str, ...]:
    """Fresh leaves that could replace a computed value while shrinking."""
    if dtype not in FLOATS:
        return (f"{name} = {ops.filled('ones', shape)[:-1]}, dtype={dtype})",)
    return tuple(
        f"{name} = {ops.with_options(ops.filled('randn', shape), dtype, requires_grad)}"
        for requires_grad in (False, True)
    )
