"""Backward: `.backward()` and `autograd.backward` from a root (scalar, through a sum or mean,
with a gradient; with and without `retain_graph`; limited by `inputs=`), `autograd.grad` and
its results, and the `.grad` state around them (`grad = None`, `zero_()`, `retain_grad`)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from conformance.fuzz import ops
from conformance.fuzz.actions.checks import check_or_edit
from conformance.fuzz.program import Statement, Step
from conformance.fuzz.state import Value

if TYPE_CHECKING:
    from conformance.fuzz.builder import Builder


def backward(b: Builder, root_name: str | None = None) -> Statement | None:
    if root_name is None:
        root_name = b.pick_tensor(lambda v: v.rootable)
    if root_name is None:
        return None
    root = b.state.values[root_name]
    retain = b.retain()
    inputs: list[str] | None = None
    rendered = None
    kinds: list[str] = []
    if b.has("backward_inputs") and b.one_in(3):
        inputs, kinds = backward_inputs(b, root)
        if inputs:
            rendered = inputs[0] if len(inputs) == 1 and b.flip() else "[" + ", ".join(inputs) + "]"
        else:
            inputs = None
    if inputs and rendered and b.can("autograd_grad") and b.one_in(3):
        return grad_call(b, root_name, root, retain, inputs, rendered, kinds)
    function_form = b.can("autograd_grad") and b.one_in(4)
    call, labels = ops.backward_call(
        root_name, root, b.one(ops.ROOT_FORMS), retain, b.flip(), rendered, function_form
    )
    labels += tuple(kinds)
    return Statement(call, labels + outcome(b, root_name, root, retain, inputs))


def outcome(
    b: Builder, root_name: str, root: Value, retain: bool, inputs: list[str] | None
) -> tuple[str, ...]:
    """Record a backward from `root` in the models if they expect it to succeed; else the
    label of the error they expect."""
    if not b.state.backward_fails(root, inputs):
        b.held.fire(b.state, root, inputs)
        b.state.backward(root_name, root, retain, inputs)
        return ()
    if b.state.executed(root, inputs) & b.state.stale:
        return ("modified_saved",)
    return ("freed_graph",)


def grad_call(
    b: Builder,
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
    call, labels = ops.grad_call(root_name, root, b.one(ops.ROOT_FORMS), retain, rendered, unused)
    name = b.state.name("g")
    labels += tuple(kinds)
    if not b.state.backward_fails(root, inputs):
        b.held.fire(b.state, root, inputs)
        b.state.grad_call(root_name, root, retain, inputs)
        b.held.results[name] = tuple(b.state.values[i].dtype for i in inputs)
    elif b.state.executed(root, inputs) & b.state.stale:
        labels += ("modified_saved",)
    else:
        labels += ("freed_graph",)
    return Statement(f"{name} = {call}", labels)


def grad_result(b: Builder) -> Step | None:
    """One gradient `autograd.grad` returned, checked or edited in place."""
    name = b.pick(list(b.held.results))
    if name is None:
        return None
    dtypes = b.held.results[name]
    index = b.between(0, len(dtypes) - 1)
    return check_or_edit(b, f"{name}[{index}]", dtypes[index], "autograd.grad:edit")


def backward_inputs(b: Builder, root: Value) -> tuple[list[str], list[str]]:
    """One or two tensors for `inputs=`: leaves the root reaches, non-leaves on its graph
    (torch retains their grad) and, now and then, one it does not reach."""
    state = b.state

    def reached(name: str) -> bool:
        value = state.values[name]
        if value.leaf:
            return name in root.leaves
        return value.node is not None and value.node in root.nodes

    def allowed(value: Value) -> bool:
        return value.requires_grad and (value.leaf or b.can("retain_grad"))

    candidates = state.tensors(allowed)
    near = [name for name in candidates if reached(name)]
    far = [name for name in candidates if not reached(name)]
    chosen: list[str] = []
    for _ in range(b.between(1, 2)):
        pool = far if far and b.one_in(5) else near
        name = b.pick(pool)
        if name is not None and name not in chosen:
            chosen.append(name)
    kinds = []
    for name in chosen:
        value = state.values[name]
        kind = "leaf" if value.leaf else "nonleaf"
        kinds.append(f"inputs:{kind}" if reached(name) else "inputs:unreached")
    return chosen, kinds


def backward_newest(b: Builder) -> None:
    """A backward from the newest value that requires grad: through every op before it."""
    names = b.state.tensors(lambda v: v.rootable)
    if names:
        step = backward(b, names[-1])
        if step is not None:
            b.steps.append(step)


def backward_again(b: Builder) -> Statement | None:
    root = b.pick(b.state.roots)
    return backward(b, root) if root is not None else None


def zero_grad(b: Builder) -> Statement | None:
    name = b.pick(sorted(b.state.grads))
    if name is None:
        return None
    if b.can("inplace") and b.flip():
        return Statement(f"{name}.grad.zero_()", ("zero_",))
    b.state.grads.discard(name)
    return Statement(f"{name}.grad = None", ("grad=None",))


def retain_grad(b: Builder) -> Statement | None:
    name = b.pick_tensor(lambda v: v.requires_grad and not v.detached)
    if name is None:
        return None
    value = b.state.values[name]
    b.state.values[name] = replace(value, retains=not value.leaf)
    return Statement(f"{name}.retain_grad()", ("retain_grad",))


# --- several roots, and gradients the caller holds ----------------------------------------


def multi_root(b: Builder) -> Statement | None:
    """`autograd.backward([r1, r2])`: two roots in one pass, mostly sharing a subgraph, which
    a pass per root would find freed."""
    state = b.state
    first = b.pick_tensor(lambda v: v.rootable)
    if first is None:
        return None
    mine = state.values[first].nodes
    others = [n for n in state.tensors(lambda v: v.rootable) if n != first]
    sharing = [n for n in others if state.values[n].nodes & mine]
    second = b.pick(sharing if sharing and not b.one_in(4) else others)
    if second is None:
        return None
    names = [first, second]
    roots = [state.values[n] for n in names]
    retain = b.retain()
    labels: tuple[str, ...] = ("backward", "autograd.backward", "backward:roots")
    if b.flip():
        listed = ", ".join(n if v.numel == 1 else f"{n}.sum()" for n, v in zip(names, roots))
        arguments = [f"[{listed}]"]
    else:
        arguments = [f"[{', '.join(names)}]"]
        arguments.append(f"grad_tensors=[{', '.join(f'ones_like({n})' for n in names)}]")
    if retain:
        arguments.append("retain_graph=True")
        labels += ("retain_graph",)
    if second in sharing:
        labels += ("backward:shared",)
    call = f"autograd.backward({', '.join(arguments)})"
    if any(state.backward_fails(root) for root in roots):
        stale = any(root.nodes & state.stale for root in roots)
        return Statement(call, labels + ("modified_saved" if stale else "freed_graph",))
    for name, root in zip(names, roots):
        b.held.fire(state, root, None)
        state.backward(name, root, True)
    if not retain:
        state.freed |= roots[0].nodes | roots[1].nodes
    return Statement(call, labels)


HOLDS = ("clear", "edit", "keep")


def hold_grad(b: Builder) -> Step | None:
    """`k = x.grad`: the caller keeps a gradient; then, mostly, `x.grad = None` (the next
    backward must make a new tensor, and `k` stays as it was) or an edit of `k` (which is
    `x.grad`, and what the next backward accumulates into)."""
    name = b.pick(sorted(n for n in b.state.grads if n in b.state.values))
    if name is None:
        return None
    value = b.state.values[name]
    kept = b.state.name("k")
    b.held.references[kept] = value.dtype
    b.steps.append(Statement(f"{kept} = {name}.grad", ("grad:hold",)))
    then = b.one(HOLDS)
    if then == "clear":
        b.state.grads.discard(name)
        return Statement(f"{name}.grad = None", ("grad=None", "grad:hold_cleared"))
    if then == "edit" and b.can("inplace"):
        return check_or_edit(b, kept, value.dtype, "grad:hold_edit")
    return None


def named_gradient(b: Builder) -> Statement | None:
    """`g = randn(...)` then `r.backward(g)`: a gradient the caller still holds, and may edit
    later, which a leaf must not take as its `.grad`."""
    from conformance.fuzz.actions.values import stand_ins

    root_name = b.pick_tensor(lambda v: v.rootable and v.numel > 1)
    if root_name is None:
        return None
    root = b.state.values[root_name]
    name = b.state.name("gr")
    source = ops.with_options(ops.filled("randn", root.shape), root.dtype, False)
    b.state.leaf(name, Value(root.shape, root.dtype, ops.FILLED_BOUNDS["randn"]))
    b.steps.append(
        Statement(f"{name} = {source}", ("leaf:randn",), stand_ins(name, root.shape, root.dtype))
    )
    retain = b.retain()
    arguments = [name] + (["retain_graph=True"] if retain else [])
    labels = ("backward", "backward(named gradient)") + outcome(b, root_name, root, retain, None)
    return Statement(f"{root_name}.backward({', '.join(arguments)})", labels)
