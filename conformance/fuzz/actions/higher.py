"""Higher-order gradients: `d = autograd.grad(root, x, create_graph=True)[0]` binds a gradient
that has a graph of its own (torch's double backward). Ops, hooks, checks, backward and further
`create_graph` grads then go on through it, as through any value."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conformance.fuzz import ops
from conformance.fuzz.actions.backward import backward_inputs
from conformance.fuzz.domain import BOUND, Interval
from conformance.fuzz.program import Statement

if TYPE_CHECKING:
    from conformance.fuzz.builder import Builder

# The model cannot bound a gradient from its inputs' bounds, so it takes the widest bound the
# fuzzer allows: the ops offered on it are those that stay well conditioned on all of it.
UNKNOWN = Interval(-BOUND, BOUND)


def higher_grad(b: Builder) -> Statement | None:
    """A first (or, from a gradient, a second) derivative with `create_graph=True`, mostly
    through a root with a curved op on the way (whose derivative itself requires grad)."""
    state = b.state
    curved = state.tensors(lambda v: v.rootable and state.curved(v))
    root_name = (
        b.pick(curved) if curved and not b.one_in(4) else b.pick_tensor(lambda v: v.rootable)
    )
    if root_name is None:
        return None
    root = state.values[root_name]
    inputs, kinds = backward_inputs(b, root)
    if not inputs:
        return None
    target, kind = inputs[0], kinds[0]
    form = b.one(ops.ROOT_FORMS)
    call, labels = ops.grad_call(root_name, root, form, False, target, False, create_graph=True)
    labels += (kind,)
    name = state.name("d")
    source = f"{name} = {call}[0]"
    if state.backward_fails(root, [target]):
        return Statement(source, (*labels, "freed_graph"))
    if kind == "inputs:unreached":
        return Statement(source, labels)  # torch refuses: the input was not used
    b.held.fire(state, root, [target])
    state.grad_call(root_name, root, True, [target])  # create_graph retains the graph
    x = state.values[target]
    state.gradient(name, root, x.shape, x.dtype, UNKNOWN, requires_grad=state.curved(root))
    return Statement(source, labels)
