"""The backward pass: count dependencies, walk the graph in reverse, accumulate into leaves.

Everything gradients have in common lives here, once: summing a broadcast gradient back to
the input's shape, casting it to the input's dtype, tensor hooks, ``retain_grad``, adding
into ``.grad`` in place, and freeing saved tensors unless ``retain_graph`` is set.
"""

from __future__ import annotations

import heapq
import itertools
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _quiet
from .function import AccumulateGrad, Function, Node
from .grad_mode import state
from .ops import unary
from .ops._math import dense, written
from .ready_queue import pop_order
from .tensor import Tensor

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
    needed: tuple[set[Node], set[Node]] | None = None
    if capture is not None:
        needed = _leading_to(capture, set(dependencies))
    elif only is not None:
        below, targets = _leading_to(only, set(dependencies))
        needed = (below | targets, set())
    lone_root = roots[0] if len(roots) == 1 else None
    captured: dict[Node, Any] = {}

    # Each node's gradient so far. `owned` holds the nodes whose buffer is an array the
    # engine made, whose memory nobody else can see: later gradients are added into it in
    # place (as torch's input buffers do when they alone hold the storage).
    buffers: dict[Node, Any] = {}
    owned: set[Node] = set()
    # Arrays someone else may hold: the roots' gradients (a user's own tensors, perhaps) and
    # what hooks were shown, by id (kept alive here, so that no id is reused). A leaf takes
    # any other array as its .grad without a copy, a view of a held one included: torch's
    # AccumulateGrad steals a tensor nobody else references, whatever its memory.
    held: dict[int, Any] = {}
    for root, grad in zip(roots, grads):
        buffers[root] = grad if root not in buffers else buffers[root] + grad
        held[id(grad)] = grad
    # The latest node runs first; ties (leaves, which all run first) go in the order they
    # became ready, as in torch's queue for two of them. Roots go in all at once, so for
    # three leaves or more their order is the one torch's heap gives (pop_order).
    node: Node | None = None  # the next node to run, when it is known without the heap
    ready: list[tuple[float, int, Node]] = []
    if len(buffers) == 1 and dependencies[roots[0]] == 0:
        node = roots[0]  # one root: it runs first
    else:
        # torch's root node hands the roots over in order, one given twice at its last copy
        last = {root: i for i, root in enumerate(roots)}
        handed = [r for r in sorted(last, key=last.__getitem__) if dependencies[r] == 0]
        ready = [(-r._seq, next(_ORDER), r) for r in pop_order(handed)]
        heapq.heapify(ready)

    previous = state.grad_enabled
    state.grad_enabled = create_graph  # backward formulas are recorded only for create_graph
    silenced = _quiet.enter()  # torch computes inf and nan silently
    try:
        while node is not None or ready:
            if node is None:
                node = heapq.heappop(ready)[2]
            grad = buffers.pop(node, None)
            mine = node in owned
            if needed is not None:
                runs = node in needed[0]
                if node in needed[1]:
                    # torch captures a node it runs anyway before that node's tensor
                    # hooks (which may then edit what it captured in place), and runs the
                    # hooks of a node it only captures at, first
                    if runs:
                        captured[node] = grad = shown(grad)
                        held[id(grad)] = grad
                    else:
                        captured[node] = _hooked(node, grad)
                    mine = False
                elif not runs and node is lone_root:
                    _hooked(node, grad)  # torch visits a lone root even when not needed
                if not runs:
                    node = None
                    continue
            post = node._post_hooks
            if node._hooks or node._pre_hooks or post:  # rare: kept off the common path
                shown_to: list[weakref.ref[Tensor]] = []
                grad = _before_hooks(node, grad, create_graph, shown_to)
                mine = False  # a hook may have kept the gradient it was shown
                if node.__class__ is not AccumulateGrad or _kept(grad, shown_to):
                    held[id(grad)] = grad
            if node.__class__ is AccumulateGrad:
                if grad is not None:
                    hooked = bool(node._pre_hooks or post)
                    _accumulate(node.variable, grad, id(grad) not in held, hooked)
                if post:
                    _node_hooks(post, (), create_graph, (grad,))
                node = None
                continue
            fn: Function = node  # type: ignore[assignment]  # all other nodes are
            edges = fn._next
            shared = False  # whether one array goes down two edges (Add's g, g)
            if post:
                outputs: Any = _with_post_hooks(fn, grad, post, needed, retain_graph, create_graph)
                shared = True  # a hook may keep what it was shown: the engine owns none of it
                held.update((id(g), g) for g in outputs)
            elif grad is None:
                outputs = (None,) * len(edges)
            else:
                outputs = fn.backward(grad)
                if len(edges) == 1:
                    outputs = (outputs,)
                elif len(edges) == 2:
                    shared = outputs[0] is outputs[1] and None not in edges
                    if shared and edges[0] is edges[1]:
                        outputs, shared = _once_doubled(outputs, grad, mine, fn._meta[0])
                else:
                    shared = _shared(outputs, edges)
                if shared:  # until every edge has taken it, one array has two holders
                    held.update((id(g), g) for g in outputs)
                if not retain_graph:
                    fn.release()
            follow = None  # the one child that became ready, if only one did
            meta = fn._meta
            if create_graph and not post:
                # torch fits every gradient to its input before it sums any into a buffer,
                # which orders the nodes a recorded backward makes (only tensors record;
                # arrays are fitted below, where the engine tracks whether it owns them)
                outputs = [
                    _fit(g, *meta[i], node, i) if child is not None and g.__class__ is Tensor else g
                    for i, (child, g) in enumerate(zip(edges, outputs))
                ]
            for i, child in enumerate(edges):
                if child is None:
                    continue
                g = outputs[i]
                if g is not None:
                    shape, dtype = meta[i]
                    if g.__class__ is np.ndarray and g.shape == shape and g.dtype == dtype:
                        # a new array owns its memory (it has no base), a view does not;
                        # the gradient the node was given is the engine's only if it was
                        fresh = not shared and (mine if g is grad else g.base is None)
                    else:
                        fitted = _fit(g, shape, dtype, node, i)
                        fresh, g = fitted is not g, fitted
                    previous_g = buffers.get(child)
                    if previous_g is None:
                        buffers[child] = g
                        if fresh and g.__class__ is np.ndarray:
                            owned.add(child)
                    else:
                        _add_into(buffers, owned, child, previous_g, g, fresh)
                remaining = dependencies[child] - 1
                dependencies[child] = remaining
                if remaining == 0:
                    if follow is not None:
                        heapq.heappush(ready, (-follow._seq, next(_ORDER), follow))
                    follow = child
            # the common case, a chain: the child runs next without a trip through the heap
            # (a leaf, seq inf, waits behind a leaf that became ready before it)
            if follow is not None and ready and not -follow._seq < ready[0][0]:
                heapq.heappush(ready, (-follow._seq, next(_ORDER), follow))
                follow = None
            node = follow
    finally:
        _quiet.leave(silenced)
        state.grad_enabled = previous
    if capture is None:
        return None
    return [captured.get(node) for node in capture]


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


def _once_doubled(
    outputs: Sequence[Any], grad: Any, mine: bool, meta: tuple[tuple[int, ...], np.dtype]
) -> tuple[Sequence[Any], bool]:
    """One array sent down both edges to the same node (``x * x``, ``y + y``): when the
    engine owns it and it fits, it is added to itself in place and sent once, which is
    bit for bit the sum of the two. Else it stays as it is, shared."""
    g = outputs[0]
    fits = g.__class__ is np.ndarray and g.shape == meta[0] and g.dtype == meta[1]
    if fits and (mine if g is grad else g.base is None):
        return (np.add(g, g, out=g), None), False
    return outputs, True


def _shared(outputs: Sequence[Any], edges: Sequence[Node | None]) -> bool:
    """Whether one array goes down two of a node's edges: then it must stay as it is until
    both have taken it, even when both lead to the same node."""
    sent = [id(g) for g, child in zip(outputs, edges) if g is not None and child is not None]
    return len(set(sent)) < len(sent)


def _add_into(
    buffers: dict[Node, Any], owned: set[Node], node: Node, previous: Any, g: Any, fresh: bool
) -> None:
    """Add ``g`` to ``node``'s gradient so far: in place into an array the engine owns, else
    into a new array, which the engine then owns. ``fresh``: nothing else can see ``g``."""
    if g.__class__ is not np.ndarray or previous.__class__ is not np.ndarray:
        buffers[node] = previous + g  # tensors (create_graph): the sum itself is recorded
        owned.discard(node)
    elif node in owned and _fits_into(previous, g):
        np.add(previous, g, out=previous)
    elif fresh and _fits_into(g, previous):
        buffers[node] = np.add(g, previous, out=g)  # addition commutes, bit for bit
        owned.add(node)
    else:
        total = buffers[node] = previous + g
        if total.__class__ is np.ndarray:
            owned.add(node)
        else:  # 0-d arithmetic gives a numpy scalar
            owned.discard(node)


def _fits_into(target: np.ndarray, g: np.ndarray) -> bool:
    """Whether ``target += g`` gives what ``target + g`` would: same shape and dtype."""
    return target.shape == g.shape and target.dtype == g.dtype


def _leading_to(targets: Sequence[Node | None], graph: set[Node]) -> tuple[set[Node], set[Node]]:
    """(nodes to run, nodes to capture at): a node runs if a capture target is below it."""
    target_set = {t for t in targets if t is not None}
    memo: dict[Node, bool] = {}
    return {n for n in graph if _leads(n, target_set, memo)}, target_set


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


def _as_tensor(grad: Any) -> Tensor:
    return grad if isinstance(grad, Tensor) else Tensor(grad)


def shown(grad: Any) -> Any:
    """A gradient as a hook or a caller gets it, which the engine then goes on with, so that
    an edit in place holds for both: an array (numpy's 0-d arithmetic gives scalars, which
    nothing can edit) written out (``written``)."""
    if isinstance(grad, np.generic):
        return np.array(grad)
    return written(grad)


def _kept(grad: Any, shown_to: list[weakref.ref[Tensor]]) -> bool:
    """Whether a tensor over ``grad`` that hooks were shown, or returned, still lives: then
    a hook kept it, and a leaf may not take ``grad`` as its ``.grad`` (torch steals only
    a gradient nothing else references). One nobody kept, the leaf takes, so that what a
    node's post-hook is shown is the ``.grad`` itself, as in torch."""
    return any((t := ref()) is not None and t._data is grad for ref in shown_to)


def _watched(tensor: Tensor, shown_to: list[weakref.ref[Tensor]] | None) -> Tensor:
    if shown_to is not None and tensor.__class__ is Tensor:
        shown_to.append(weakref.ref(tensor))
    return tensor


def _run_hooks(
    hooks: list[Any], grad: Any, shown_to: list[weakref.ref[Tensor]] | None = None
) -> Any:
    """Tensor hooks see the gradient as a tensor; a returned tensor replaces it, and one
    edited in place is edited for the engine too. ``shown_to`` collects the tensors the
    hooks saw and gave (``_kept``)."""
    grad = shown(grad)
    for hook in list(hooks):
        result = hook(_watched(_as_tensor(grad), shown_to))
        if result is not None:
            _watched(result, shown_to)
            if result.shape != grad.shape:
                raise RuntimeError(
                    f"hook '{getattr(hook, '__name__', 'hook')}' has changed the size of value"
                )
            grad = result if isinstance(grad, Tensor) else result._data
    return grad


def _before_hooks(
    node: Node, grad: Any, create_graph: bool, shown_to: list[weakref.ref[Tensor]]
) -> Any:
    """A node's gradient once the hooks that see it before the node runs have: its tensor's
    hooks, then its own pre-hooks. A leaf's tensor hooks run in ``_accumulate``, unless its
    node has hooks of its own: then they run here first, so the node's hooks see what they
    made."""
    if grad is not None and node._hooks:
        grad = _run_hooks(node._hooks, grad, shown_to)
    pre = node._pre_hooks
    if not (pre or node._post_hooks):
        return grad
    if node.__class__ is AccumulateGrad and grad is not None and node.variable._hooks:
        grad = _run_hooks(node.variable._hooks, grad, shown_to)
    if pre:
        grad = _node_hooks(pre, (grad,), create_graph, shown_to=shown_to)[0]
    return grad


def _with_post_hooks(
    fn: Function,
    grad: Any,
    post: list[Any],
    needed: tuple[set[Node], set[Node]] | None,
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
        if child is None or g is None or not _wanted(child, needed)
        else _fit(g, *fn._meta[i], fn, i)
        for i, (child, g) in enumerate(zip(edges, outputs))
    )
    return _node_hooks(post, outputs, create_graph, received)


def _wanted(child: Node, needed: tuple[set[Node], set[Node]] | None) -> bool:
    return needed is None or child in needed[0] or child in needed[1]


def _node_hooks(
    hooks: list[Any],
    grads: tuple[Any, ...],
    create_graph: bool,
    received: tuple[Any, ...] | None = None,
    shown_to: list[weakref.ref[Tensor]] | None = None,
) -> tuple[Any, ...]:
    """A node's own hooks, shown tensors: pre-hooks its incoming gradients (``received``
    None), post-hooks the gradients it made and those it received. A returned tuple of the
    same length replaces ``grads`` for the hooks after it and for the engine."""
    grads = tuple(shown(g) for g in grads)
    for hook in list(hooks):
        tensors = tuple(None if g is None else _watched(_as_tensor(g), shown_to) for g in grads)
        if received is None:
            result = hook(tensors)
        else:
            given = tuple(None if g is None else _as_tensor(shown(g)) for g in received)
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


def _hooked(node: Node, grad: Any) -> Any:
    """``grad`` after the tensor hooks of ``node``'s tensor (a leaf keeps its own)."""
    hooks = node.variable._hooks if isinstance(node, AccumulateGrad) else node._hooks
    return _run_hooks(hooks, grad) if hooks and grad is not None else grad


def _accumulate(leaf: Tensor, grad: Any, stealable: bool, hooked: bool = False) -> None:
    """Add into ``leaf.grad``: in place normally, so the same object persists; as a new
    tensor under ``create_graph``, so the sum itself is recorded. A first gradient is copied
    unless nobody else holds that array (``stealable``) and it is laid out as torch's layout
    contract asks (``_obeys_layout``): then the leaf takes it, as torch's AccumulateGrad
    steals it. It may be a view of memory someone holds (a user's ``gradient`` through a
    view's backward): the ``.grad`` then shares it, as in torch."""
    if leaf._hooks and not hooked:
        grad = _run_hooks(leaf._hooks, grad)
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
