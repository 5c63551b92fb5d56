"""The backward pass: count dependencies, walk the graph in reverse, accumulate into leaves.

Everything gradients have in common lives here, once: summing a broadcast gradient back to
the input's shape, casting it to the input's dtype, ``retain_grad``, adding into ``.grad`` in
place, and freeing saved tensors unless ``retain_graph`` is set. In four parts:

- ``Plan``: which nodes a partial pass (``autograd.grad``, ``backward(inputs=...)``) runs;
- ``Buffers``: each node's gradient so far, and the rules for when an array is the engine's
  own to add into in place or for a leaf to take as its ``.grad``;
- ``_Walk``: the order (latest node first) and one node's step;
- ``hooks.py``: what each kind of hook is shown and may hand back.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _quiet
from .function import AccumulateGrad, Function, Node
from .grad_mode import state
from .hooks import before_node, hooked, kept, node_hooks, shown, tensor_hooks
from .ops import unary
from .ops._math import dense
from .ready_queue import pop_order
from .tensor import Tensor

__all__ = ["Buffers", "Plan", "run", "shown"]

# ties in the ready heap go by this count: any increasing numbers do, so one counter serves
# every backward
_ORDER = itertools.count()


def run(
    roots: Sequence[Node],
    grads: Sequence[Any],
    retain_graph: bool,
    create_graph: bool,
    capture: Sequence[Node] | None = None,
    only: Sequence[Node | None] | None = None,
) -> list[Any] | None:
    """Propagate ``grads`` from ``roots``.

    With ``capture`` (``autograd.grad``), return the gradient arriving at each of those
    nodes and touch no ``.grad``; only nodes that lead to a captured one are run. With
    ``only`` (``backward(inputs=...)``), run just those nodes and the ones that lead to them.
    """
    dependencies = _dependencies(roots)
    plan = None if capture is None and only is None else Plan.of(capture, only, dependencies)
    walk = _Walk(dependencies, plan, Buffers(roots, grads), retain_graph, create_graph, roots)
    previous = state.grad_enabled
    state.grad_enabled = create_graph  # backward formulas are recorded only for create_graph
    silenced = _quiet.enter()  # torch computes inf and nan silently
    try:
        walk.run()
    finally:
        _quiet.leave(silenced)
        state.grad_enabled = previous
    if capture is None:
        return None
    return [walk.captured.get(node) for node in capture]


def _dependencies(roots: Sequence[Node]) -> dict[Node, int]:
    """For every node reachable from ``roots``: how many edges lead into it."""
    dependencies = dict.fromkeys(roots, 0)
    stack = list(dependencies)
    while stack:
        for child in stack.pop()._next:
            if child is None:
                continue
            if child in dependencies:
                dependencies[child] += 1
            else:
                dependencies[child] = 1
                stack.append(child)
    return dependencies


# --- the plan of a partial pass --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    """What a partial pass does: the nodes it ``runs``, and the nodes it ``captures`` at
    (``autograd.grad``'s inputs: the gradient arriving there is handed back, not passed on
    unless the node runs anyway). A whole ``backward()`` has no plan: every node runs."""

    runs: set[Node]
    captures: set[Node]

    @classmethod
    def of(
        cls,
        capture: Sequence[Node] | None,
        only: Sequence[Node | None] | None,
        graph: dict[Node, int],
    ) -> Plan | None:
        """``autograd.grad`` runs the nodes that lead to a captured one; ``backward(inputs=)``
        runs those that lead to one of ``only`` and those nodes themselves, capturing none."""
        if capture is not None:
            return cls(_leading_to(capture, graph), {t for t in capture if t is not None})
        if only is not None:
            targets = {t for t in only if t is not None}
            return cls(_leading_to(targets, graph) | targets, set())
        return None

    def wants(self, node: Node) -> bool:
        """Whether a gradient sent to ``node`` is used: it runs there or is captured."""
        return node in self.runs or node in self.captures


def _leading_to(targets: Sequence[Node | None] | set[Node], graph: dict[Node, int]) -> set[Node]:
    """The nodes of ``graph`` with a node of ``targets`` below them."""
    target_set = {t for t in targets if t is not None}
    memo: dict[Node, bool] = {}
    return {n for n in graph if _leads(n, target_set, memo)}


def _leads(node: Node, targets: set[Node], memo: dict[Node, bool]) -> bool:
    """Whether a node of ``targets`` is below ``node``. (A function of its own, not a closure
    that calls itself: that would be a reference cycle holding the graph's nodes alive until
    the garbage collector ran, where torch frees them at once.)"""
    if node in memo:
        return memo[node]
    memo[node] = False  # graphs are acyclic; this only guards recursion depth games
    result = any(
        child is not None and (child in targets or _leads(child, targets, memo))
        for child in node._next
    )
    memo[node] = result
    return result


# --- gradient buffers and who owns their memory ----------------------------------------------


class Buffers:
    """Each node's gradient so far (``grads``), and who may see each array.

    Adding a gradient in place, or letting a leaf take one as its ``.grad`` without a copy,
    is right only when nothing else can see that memory: torch's input buffers add in place
    when they alone hold the storage, and its AccumulateGrad steals a tensor nobody else
    references. The rules (``_Walk.run`` spells the common ones out, for speed):

    - ``owned``: the nodes whose buffer is an ``np.ndarray`` the engine made and nothing
      else can see. Only these are added into in place. When a node runs, its gradient is
      ``mine`` if the node is owned.
    - unseen: an array a node's backward returns may become owned when it goes down one
      edge only and is a new array (no base: a view's memory is someone else's), or is the
      very gradient the node was given, when that was ``mine``. A gradient the engine had
      to fit (sum or cast) is a new array.
    - ``held``: every array someone outside the engine may hold, by id: the roots'
      gradients (a user's own tensors, perhaps), what hooks were shown or returned, and an
      array sent down two edges (until both took it). Holding them keeps their ids from
      being reused during the pass. A leaf copies a held array and takes any other as its
      ``.grad``, a view of a held one included, as torch's AccumulateGrad steals.
    """

    __slots__ = ("grads", "owned", "held")

    def __init__(self, roots: Sequence[Node], grads: Sequence[Any]) -> None:
        self.grads: dict[Node, Any] = {}
        self.owned: set[Node] = set()
        self.held: dict[int, Any] = {}
        for root, grad in zip(roots, grads):
            known = self.grads.get(root)
            self.grads[root] = grad if root not in self.grads else known + grad
            self.held[id(grad)] = grad

    def hold(self, grad: Any) -> None:
        """Someone outside the engine may now hold ``grad``."""
        self.held[id(grad)] = grad

    def hold_all(self, grads: Sequence[Any]) -> None:
        self.held.update((id(g), g) for g in grads)

    def receive(self, node: Node, g: Any, fresh: bool) -> None:
        """Add ``g`` to ``node``'s gradient so far; ``fresh``: nothing else can see ``g``."""
        previous = self.grads.get(node)
        if previous is not None:
            self._add(node, previous, g, fresh)
        else:
            self.grads[node] = g
            if fresh and g.__class__ is np.ndarray:
                self.owned.add(node)

    def _add(self, node: Node, previous: Any, g: Any, fresh: bool) -> None:
        """A later gradient: in place into an array the engine owns, else into ``g`` when
        it is fresh, else into a new array; the engine owns the sum in all three."""
        grads, owned = self.grads, self.owned
        if g.__class__ is not np.ndarray or previous.__class__ is not np.ndarray:
            grads[node] = previous + g  # tensors (create_graph): the sum itself is recorded
            owned.discard(node)
        elif node in owned and _fits_into(previous, g):
            np.add(previous, g, out=previous)
        elif fresh and _fits_into(g, previous):
            grads[node] = np.add(g, previous, out=g)  # addition commutes, bit for bit
            owned.add(node)
        else:
            total = grads[node] = previous + g
            if total.__class__ is np.ndarray:
                owned.add(node)
            else:  # 0-d arithmetic gives a numpy scalar
                owned.discard(node)


def _fits_into(target: np.ndarray, g: np.ndarray) -> bool:
    """Whether ``target += g`` gives what ``target + g`` would: same shape and dtype."""
    return target.shape == g.shape and target.dtype == g.dtype


# --- the walk --------------------------------------------------------------------------------


class _Walk:
    """One backward pass: nodes run latest first, each once every edge into it has
    delivered, and each hands one gradient per edge on to ``buffers``.

    The latest node runs first; ties (leaves, which all run first) go in the order they
    became ready, as in torch's queue for two of them. Roots go in all at once, so for three
    leaves or more their order is the one torch's heap gives (``pop_order``). In a chain the
    one child that became ready runs next without a trip through the heap."""

    __slots__ = (
        "dependencies",
        "plan",
        "buffers",
        "retain_graph",
        "create_graph",
        "roots",
        "ready",
        "first",
        "captured",
    )

    def __init__(
        self,
        dependencies: dict[Node, int],
        plan: Plan | None,
        buffers: Buffers,
        retain_graph: bool,
        create_graph: bool,
        roots: Sequence[Node],
    ) -> None:
        self.dependencies, self.plan, self.buffers = dependencies, plan, buffers
        self.retain_graph, self.create_graph, self.roots = retain_graph, create_graph, roots
        self.captured: dict[Node, Any] = {}
        self.ready: list[tuple[float, int, Node]] = []
        self.first: Node | None = None  # the first node to run, when known without the heap
        if len(buffers.grads) == 1 and dependencies[roots[0]] == 0:
            self.first = roots[0]  # one root: it runs first
        else:
            # torch's root node hands the roots over in order, one given twice at its last copy
            last = {root: i for i, root in enumerate(roots)}
            handed = [r for r in sorted(last, key=last.__getitem__) if dependencies[r] == 0]
            self.ready = [(-r._seq, next(_ORDER), r) for r in pop_order(handed)]
            heapq.heapify(self.ready)

    def run(self) -> None:
        """Run nodes until none is ready. The common path (no plan, no hooks) is spelled
        out, ``Buffers.take`` and ``Buffers.receive`` included; the rest, a leaf's
        accumulation among them, are calls."""
        ready, dependencies, buffers, plan = self.ready, self.dependencies, self.buffers, self.plan
        grads, owned = buffers.grads, buffers.owned
        retain_graph, create_graph = self.retain_graph, self.create_graph
        leaf = AccumulateGrad  # the class of a leaf's node
        node = self.first
        while node is not None or ready:
            if node is None:
                node = heapq.heappop(ready)[2]
            grad, mine = grads.pop(node, None), node in owned
            if plan or node.__class__ is leaf or node._hooks or node._pre_hooks or node._post_hooks:
                prepared = self._prepare(node, grad, mine)
                if prepared is None:  # the plan skips it, or it was a leaf's accumulator
                    node = None
                    continue
                grad, mine = prepared
            fn: Function = node  # type: ignore[assignment]  # all other nodes are
            edges = fn._next
            if grad is None or fn._post_hooks or len(edges) > 2 or create_graph:
                outputs, shared = self._backward(fn, grad, mine)
            else:  # the common case of ``_backward``, spelled out
                outputs, shared = fn.backward(grad), False
                if len(edges) == 1:
                    outputs = (outputs,)
                elif outputs[0] is outputs[1] and None not in edges:
                    outputs, shared = self._one_array_twice(fn, outputs, grad, mine)
                if not retain_graph:
                    fn.release()
            follow = None  # the one child that became ready, if only one did
            meta = fn._meta
            for i, child in enumerate(edges):
                if child is None:
                    continue
                g = outputs[i]
                if g is not None:
                    shape, dtype = meta[i]
                    if g.__class__ is np.ndarray and g.shape == shape and g.dtype == dtype:
                        fresh = not shared and (mine if g is grad else g.base is None)  # unseen
                    else:
                        fitted = _fit(g, shape, dtype, fn, i)
                        fresh, g = fitted is not g, fitted
                    previous = grads.get(child)
                    if previous is not None:
                        buffers.receive(child, g, fresh)
                    else:  # the first to arrive: ``Buffers.receive``, spelled out
                        grads[child] = g
                        if fresh and g.__class__ is np.ndarray:
                            owned.add(child)
                remaining = dependencies[child] - 1
                dependencies[child] = remaining
                if remaining == 0:
                    if follow is not None:
                        heapq.heappush(ready, (-follow._seq, next(_ORDER), follow))
                    follow = child
            # a leaf (seq inf) waits behind a leaf that became ready before it
            if follow is not None and ready and not -follow._seq < ready[0][0]:
                heapq.heappush(ready, (-follow._seq, next(_ORDER), follow))
                follow = None
            node = follow

    def _prepare(self, node: Node, grad: Any, mine: bool) -> tuple[Any, bool] | None:
        """Off the common path, before a node runs: the plan's capture, the hooks that see
        its gradient first, and a leaf's accumulation. The gradient the node runs with and
        whether the engine owns it; None when nothing more is to run."""
        plan = self.plan
        if plan is not None and (node not in plan.runs or node in plan.captures):
            if node not in plan.runs:
                self._visit(node, grad, plan)
                return None
            grad, mine = self._capture(node, grad), False
        if node._hooks or node._pre_hooks or node._post_hooks:
            grad, mine = self._before_hooks(node, grad), False
        if node.__class__ is AccumulateGrad:
            self._leaf(node, grad)
            return None
        return grad, mine

    def _visit(self, node: Node, grad: Any, plan: Plan) -> None:
        """A node the plan does not run: torch still runs the tensor hooks of one it
        captures at, first, and of a lone root."""
        if node in plan.captures:
            self.captured[node] = hooked(node, grad)
        elif len(self.roots) == 1 and node is self.roots[0]:
            hooked(node, grad)

    def _capture(self, node: Node, grad: Any) -> Any:
        """torch captures a node it runs anyway before that node's tensor hooks, which may
        then edit in place what it captured."""
        self.captured[node] = grad = shown(grad)
        self.buffers.hold(grad)
        return grad

    def _before_hooks(self, node: Node, grad: Any) -> Any:
        """``grad`` after the hooks that see it before ``node`` runs; a hook may have kept
        what it was shown, so the engine no longer owns it."""
        shown_to: list[Any] = []
        grad = before_node(node, grad, self.create_graph, shown_to)
        if node.__class__ is not AccumulateGrad or kept(grad, shown_to):
            self.buffers.hold(grad)
        return grad

    def _leaf(self, node: AccumulateGrad, grad: Any) -> None:
        post = node._post_hooks
        if grad is not None:
            stealable = id(grad) not in self.buffers.held
            _accumulate(node.variable, grad, stealable, bool(node._pre_hooks or post))
        if post:
            node_hooks(post, (), self.create_graph, (grad,))

    def _one_array_twice(
        self, fn: Function, outputs: Sequence[Any], grad: Any, mine: bool
    ) -> tuple[Sequence[Any], bool]:
        """One array down both edges (Add's ``g, g``): sent once, doubled, when both lead to
        the same node and it is the engine's; else, until both edges have taken it, that
        array has two holders."""
        edges = fn._next
        if edges[0] is edges[1]:
            outputs, shared = _once_doubled(outputs, grad, mine, fn._meta[0])
            if not shared:
                return outputs, False
        self.buffers.hold_all(outputs)
        return outputs, True

    def _backward(self, fn: Function, grad: Any, mine: bool) -> tuple[Sequence[Any], bool]:
        """One gradient per edge, and whether one array goes down two of them (Add's
        ``g, g``): until every edge has taken it, that array has two holders."""
        edges = fn._next
        post = fn._post_hooks
        if post:
            create_graph = self.create_graph
            made = _with_post_hooks(fn, grad, post, self.plan, self.retain_graph, create_graph)
            self.buffers.hold_all(made)  # a hook may keep what it was shown
            return made, True
        if grad is None:
            return (None,) * len(edges), False
        outputs: Any = fn.backward(grad)
        shared = False
        if len(edges) == 1:
            outputs = (outputs,)
        elif len(edges) == 2:
            if outputs[0] is outputs[1] and None not in edges:
                outputs, shared = self._one_array_twice(fn, outputs, grad, mine)
        elif _shared(outputs, edges):
            self.buffers.hold_all(outputs)
            shared = True
        if not self.retain_graph:
            fn.release()
        if self.create_graph:
            outputs = _fitted_tensors(fn, outputs)
        return outputs, shared


def _fitted_tensors(fn: Function, outputs: Sequence[Any]) -> list[Any]:
    """torch fits every gradient to its input before it sums any into a buffer, which orders
    the nodes a recorded backward makes (only tensors record; arrays are fitted in
    ``_Walk._send``, where the engine tracks whether it owns them)."""
    return [
        _fit(g, *fn._meta[i], fn, i) if child is not None and g.__class__ is Tensor else g
        for i, (child, g) in enumerate(zip(fn._next, outputs))
    ]


def _once_doubled(
    outputs: Sequence[Any], grad: Any, mine: bool, meta: tuple[tuple[int, ...], np.dtype]
) -> tuple[Sequence[Any], bool]:
    """One array sent down both edges to the same node (``x * x``, ``y + y``): when the
    engine owns it and it fits, it is added to itself in place and sent once, which is
    bit for bit the sum of the two. Else it stays as it is, shared."""
    g = outputs[0]
    fits = g.__class__ is np.ndarray and g.shape == meta[0] and g.dtype == meta[1]
    if fits and (mine if g is grad else g.base is None):  # Buffers.unseen
        return (np.add(g, g, out=g), None), False
    return outputs, True


def _shared(outputs: Sequence[Any], edges: Sequence[Node | None]) -> bool:
    """Whether one array goes down two of a node's edges: then it must stay as it is until
    both have taken it, even when both lead to the same node."""
    sent = [id(g) for g, child in zip(outputs, edges) if g is not None and child is not None]
    return len(set(sent)) < len(sent)


def _with_post_hooks(
    fn: Function,
    grad: Any,
    post: list[Any],
    plan: Plan | None,
    retain_graph: bool,
    create_graph: bool,
) -> tuple[Any, ...]:
    """Run ``fn`` and its post-hooks. They see one gradient per input as torch's nodes hand
    them out, fitted to the input and None where no gradient is wanted (no edge, or one this
    pass does not go down), and the gradient the node received: the array itself, as torch
    shows its tensor, so an edit in place reaches whatever backward passed on unchanged."""
    edges = fn._next
    grad = shown(grad)  # the hooks see the gradient itself, as in torch: edits reach it
    received = (grad,)
    if grad is None:
        outputs: Any = (None,) * len(edges)
    else:
        outputs = fn.backward(grad)
        if len(edges) == 1:
            outputs = (outputs,)
        if not retain_graph:
            fn.release()
    outputs = tuple(
        None
        if child is None or g is None or not (plan is None or plan.wants(child))
        else _fit(g, *fn._meta[i], fn, i)
        for i, (child, g) in enumerate(zip(edges, outputs))
    )
    return node_hooks(post, outputs, create_graph, received)


# --- fitting a gradient to its input, and the leaves -----------------------------------------


def _fit(grad: Any, shape: tuple[int, ...], dtype: np.dtype, node: Node, index: int) -> Any:
    """Sum a broadcast gradient back to the input's shape and cast it to the input's dtype."""
    if grad.shape != shape:
        grad = _sum_to(grad, shape, node, index)
    if grad.__class__ is np.ndarray:
        return grad if grad.dtype == dtype else grad.astype(dtype)
    if isinstance(grad, Tensor):
        return grad if grad._data.dtype == dtype else grad.to(_dtype(dtype))
    return np.asarray(grad, dtype=dtype)  # numpy's 0-d arithmetic returns scalars


def _sum_to(grad: Any, shape: tuple[int, ...], node: Node, index: int) -> Any:
    lead = grad.ndim - len(shape)
    dims = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and grad.shape[lead + i] != 1
    )
    if lead < 0 or any(s != 1 and grad.shape[lead + i] != s for i, s in enumerate(shape)):
        raise RuntimeError(
            f"Function {node.name()} returned an invalid gradient at index {index} - got "
            f"{list(grad.shape)} but expected shape compatible with {list(shape)}"
        )
    if not isinstance(grad, Tensor):
        return np.asarray(grad.sum(axis=dims)).reshape(shape)
    # recorded as torch's sum_to records it: a full sum to a 0-d shape; else one sum that
    # keeps the dimensions, then a view only if leading dimensions go
    if not shape:
        return grad.sum()
    if dims:
        grad = grad.sum(dim=dims, keepdim=True)
    return grad.view(*shape) if lead else grad


def _dtype(np_dtype: np.dtype) -> Any:
    from .dtypes import from_numpy

    return from_numpy(np_dtype)


def _accumulate(leaf: Tensor, grad: Any, stealable: bool, hooked: bool = False) -> None:
    """Add into ``leaf.grad``: in place normally, so the same object persists; as a new
    tensor under ``create_graph``, so the sum itself is recorded. A first gradient is copied
    unless nobody else holds that array (``stealable``) and it is laid out as torch's layout
    contract asks (``_obeys_layout``): then the leaf takes it, as torch's AccumulateGrad
    steals it. It may be a view of memory someone holds (a user's ``gradient`` through a
    view's backward): the ``.grad`` then shares it, as in torch."""
    if leaf._hooks and not hooked:
        grad = tensor_hooks(leaf._hooks, grad)
        stealable = False
    if not leaf._rg:
        return  # requires_grad_(False) since the graph was recorded: hooks run, nothing lands
    # detach_() and then an in-place op gave it a history (a view's is read via grad_fn)
    if (leaf._grad_fn if leaf._base is None else leaf.grad_fn) is not None:
        raise RuntimeError("leaf variable has been moved into the graph interior")
    if leaf._grad is None:
        if grad.__class__ is Tensor:  # create_graph: torch copies, and records the copy
            leaf._grad = _recorded_copy(grad, leaf._data)
        elif (
            stealable
            and grad.__class__ is np.ndarray  # not a scalar from numpy's 0-d arithmetic
            and grad.dtype == leaf._data.dtype
            and (
                # an array a numpy op made has no gaps (the leaf's strides then mean a dense
                # leaf) and can be written; a view need be neither
                (grad.base is None and grad.strides == leaf._data.strides)
                or (grad.flags.writeable and _obeys_layout(grad, leaf._data))
            )
        ):
            leaf._grad = Tensor(grad)  # nobody else holds it: no copy, as torch steals it
        else:
            leaf._grad = Tensor(_laid_out_as(grad, leaf._data))
    elif state.grad_enabled:
        leaf._grad = leaf._grad + grad
    else:
        np.add(leaf._grad._data, grad, out=leaf._grad._data)
        leaf._grad._vc[0] += 1
    for hook in list(leaf._post_hooks) if leaf._post_hooks else ():
        if hook(leaf) is not None:
            raise RuntimeError("Tensor post accumulate grad hooks should return None.")


def _obeys_layout(grad: np.ndarray, leaf: np.ndarray) -> bool:
    """torch's gradient layout contract: a leaf's ``.grad`` has the leaf's strides when the
    leaf is dense (no gaps, no overlap), and is contiguous otherwise; strides along size-1
    dimensions do not count, unless 0."""
    if leaf.flags.c_contiguous or dense(leaf):
        return all(
            st != 0 if n == 1 else st == leaf_st
            for n, st, leaf_st in zip(grad.shape, grad.strides, leaf.strides)
        )
    return bool(grad.flags.c_contiguous)


def _recorded_copy(grad: Tensor, leaf: np.ndarray) -> Tensor:
    """A leaf's first ``.grad`` under ``create_graph``: a copy that obeys the layout contract
    and is part of the graph (``CopyBackwards`` into a tensor laid out as the leaf, or, for
    a leaf with gaps, a contiguous ``CloneBackward0``)."""
    if grad.grad_fn is None:  # no history to record: a plain copy
        return Tensor(_laid_out_as(grad._data, leaf))
    if dense(leaf):
        return unary.CopyInto.apply(Tensor(leaf), grad)  # the leaf's array: its layout only
    return unary.Clone.apply(grad, "C")


def _laid_out_as(grad: np.ndarray, leaf: np.ndarray) -> np.ndarray:
    """A copy of ``grad`` in the leaf's dtype that obeys the layout contract."""
    if leaf.flags.c_contiguous or not dense(leaf):
        return np.array(grad, dtype=leaf.dtype, order="C", copy=True)
    out = np.empty_like(leaf)  # order "K": a dense array's own strides
    np.copyto(out, grad, casting="unsafe")
    return out
