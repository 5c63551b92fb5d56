"""Graph nodes: the base class every op derives from, saved tensors, and AccumulateGrad.

An op is one subclass with ``forward`` (numpy in, numpy out) beside ``backward`` (one gradient
per input). Both run with numpy's floating-point warnings off: torch makes inf and nan
silently. ``Function.apply`` runs the forward and, when grad mode is on and an input requires
grad, records the node: its edges to the inputs' nodes, the inputs' shapes and dtypes (so the
engine can sum broadcast gradients back and cast them), and the tensors it saved.
"""

from __future__ import annotations

import itertools
import re
import weakref
from typing import Any

import numpy as np

from . import _quiet
from .grad_mode import state

_sequence = itertools.count()

SECOND_BACKWARD = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you "
    "call .backward() or autograd.grad(). Specify retain_graph=True if you need to backward "
    "through the graph a second time or if you need to access saved tensors after calling "
    "backward."
)
DETACHED_IN_PLACE = (
    "Trying to use a saved tensor that has been detached in-place, i.e. with .detach_().This "
    "is not supported, please use out-of-place `.detach()` instead"
)
INFERENCE_SAVED = (
    "Inference tensors cannot be saved for backward. Please do not use Tensors created in "
    "inference mode in computation tracked by autograd. To work around this, you can make a "
    "clone to get a normal tensor and use it in autograd, or use `torch.no_grad()` instead of "
    "`torch.inference_mode()`."
)


class Node:
    """What every graph node shares: a name, edges, hooks and an order for the engine."""

    __slots__ = ("_next", "_seq", "_hooks", "_pre_hooks", "_post_hooks", "__weakref__")
    node_name = "Node"
    _next: tuple[Node | None, ...]  # one edge per input: the node its gradient goes to
    _seq: float  # creation order: the engine runs later nodes first
    _hooks: list[Any] | None  # tensor hooks (and retain_grad) of the tensor it made
    _pre_hooks: list[Any] | None  # the node's own hooks (register_prehook)
    _post_hooks: list[Any] | None  # and (register_hook)

    def name(self) -> str:
        return self.node_name

    def register_prehook(self, hook: Any) -> Any:
        """``hook(grad_outputs)`` before the node runs; a returned tuple replaces them."""
        if self._pre_hooks is None:
            self._pre_hooks = []
        return _register(hook, self._pre_hooks)

    def register_hook(self, hook: Any) -> Any:
        """``hook(grad_inputs, grad_outputs)`` once the node ran; a returned tuple replaces
        the gradients it computed for its inputs."""
        if self._post_hooks is None:
            self._post_hooks = []
        return _register(hook, self._post_hooks)

    @property
    def next_functions(self) -> tuple[tuple[Node | None, int], ...]:
        return tuple((node, 0) for node in self._next)

    def __repr__(self) -> str:
        return f"<{self.node_name} object at {id(self):#x}>"


def _via_base(t: Any) -> bool:
    """A view requires grad when its base does, even with no history of its own."""
    return t._base is not None and t._base._rg


def _read_histories(inputs: tuple[Any, ...]) -> None:
    """torch collects an op's edges before it runs the kernel, so an op that fails has still
    re-derived its view inputs' histories, or failed on one first with the view's error."""
    if state.grad_enabled and not state.inference:
        for t in inputs:
            if t._base is not None and (t._rg or _via_base(t)):
                t.grad_fn  # noqa: B018  (reading it re-derives the history)


class Function(Node):
    """Base of every op. Subclasses set ``arity`` and ``node_name`` and define both passes."""

    __slots__ = ("_meta", "_saved", "_released", "needs_input_grad")
    _meta: tuple[tuple[tuple[int, ...], np.dtype], ...]  # each input's shape and dtype
    _saved: list[tuple[Any, ...]] | None
    _released: bool
    needs_input_grad: tuple[bool, ...]
    arity = 1
    saves: tuple[int, ...] = ()  # the inputs backward needs
    save_result = False  # whether backward needs the result
    saves_anything = True  # False (set below, per class) where nothing is ever saved

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.saves_anything = bool(
            cls.saves or cls.save_result or cls.saved_inputs is not Function.saved_inputs
        )

    @classmethod
    def apply(cls, *args: Any) -> Tensor:
        """Run ``forward`` on the first ``arity`` args (tensors) and the rest (parameters)."""
        arity = cls.arity
        if arity == 2 and len(args) == 2:
            return cls.binary(args[0], args[1])
        if arity != 1:
            return cls._apply(args)
        # one tensor, the other common case, spelled out as ``binary`` is
        node = cls()
        a = args[0]
        data = a._data
        silenced = _quiet.enter()
        try:
            out = node.forward(data, *args[1:]) if len(args) > 1 else node.forward(data)
        except Exception:
            _read_histories((a,))
            raise
        finally:
            _quiet.leave(silenced)
        if out.__class__ is not np.ndarray:
            out = np.asarray(out)
        # inference mode records nothing, even under enable_grad
        if not ((a._rg or _via_base(a)) and state.grad_enabled and not state.inference):
            return Tensor(out)
        edge = a._grad_fn  # ``a._node()``, spelled out for a tensor that is not a view
        if edge is None or a._base is not None:
            edge = a._node()
        node._next, node.needs_input_grad = (edge,), (edge is not None,)
        node._meta = ((data.shape, data.dtype),)
        # ``_link``, spelled out
        node._seq = next(_sequence)
        node._hooks = node._pre_hooks = node._post_hooks = node._saved = None
        node._released = False
        result = Tensor(out, True, node)
        if node.saves_anything:
            for i in node.saved_inputs():
                node.save(i, a)
            if node.save_result:
                node.save(1, result)
        return result

    @classmethod
    def binary(cls, a: Tensor, b: Tensor) -> Tensor:
        """``apply`` for two tensors and no parameters, the arithmetic operators' path, spelled
        out: every small graph is made of these."""
        node = cls()
        da, db = a._data, b._data
        silenced = _quiet.enter()
        try:
            out = node.forward(da, db)
        except Exception:
            _read_histories((a, b))
            raise
        finally:
            _quiet.leave(silenced)
        if out.__class__ is not np.ndarray:
            out = np.asarray(out)
        tracked = a._rg or b._rg or _via_base(a) or _via_base(b)
        if not (tracked and state.grad_enabled and not state.inference):
            return Tensor(out)
        ea, eb = a._grad_fn, b._grad_fn  # as in ``apply``
        if ea is None or a._base is not None:
            ea = a._node()
        if eb is None or b._base is not None:
            eb = b._node()
        node._next, node.needs_input_grad = (ea, eb), (ea is not None, eb is not None)
        node._meta = ((da.shape, da.dtype), (db.shape, db.dtype))
        node._seq = next(_sequence)
        node._hooks = node._pre_hooks = node._post_hooks = node._saved = None
        node._released = False
        result = Tensor(out, True, node)
        if node.saves_anything:
            for i in node.saved_inputs():
                node.save(i, b if i else a)
            if node.save_result:
                node.save(2, result)
        return result

    @classmethod
    def _apply(cls, args: tuple[Any, ...]) -> Tensor:
        """``apply`` for any arity."""
        node = cls()
        inputs = args[: cls.arity]
        silenced = _quiet.enter()
        try:
            out = node.forward(*[t._data for t in inputs], *args[cls.arity :])
        except Exception:
            _read_histories(inputs)
            raise
        finally:
            _quiet.leave(silenced)
        if out.__class__ is not np.ndarray:
            out = np.asarray(out)
        result = Tensor(out)
        tracked = any(t._rg or _via_base(t) for t in inputs)
        if tracked and state.grad_enabled and not state.inference:
            node._record(inputs, result)
        return result

    def _record(self, inputs: tuple[Tensor, ...], result: Tensor) -> None:
        """Put this node in the graph: edges to the inputs' nodes, then ``_link``."""
        self._next = tuple(t._node() for t in inputs)
        self.needs_input_grad = tuple(edge is not None for edge in self._next)
        self._meta = tuple((t._data.shape, t._data.dtype) for t in inputs)
        self._link(inputs, result)

    def _link(self, inputs: tuple[Tensor, ...], result: Tensor) -> None:
        """Put this node in the graph once its edges (``_next``, ``needs_input_grad``) and its
        inputs' shapes and dtypes (``_meta``) are set: an order, saved tensors, the result.

        As in torch, an input that requires grad may still have no edge (a view made under
        no_grad); a gradient, and what it needs saved, is computed only along an edge.
        ``apply`` and ``binary`` spell these steps out: the calls cost a few percent of a
        small graph's step.
        """
        self._seq = next(_sequence)
        self._hooks = self._pre_hooks = self._post_hooks = self._saved = None
        self._released = False
        if self.saves_anything:
            for i in self.saved_inputs():
                self.save(i, inputs[i])
            if self.save_result:
                self.save(self.arity, result)
        result._rg = True
        result._grad_fn = self

    def saved_inputs(self) -> tuple[int, ...]:
        """Positions of the inputs to save; ops whose needs depend on ``needs_input_grad``
        override this, because torch saves an operand only when a gradient uses it."""
        return self.saves

    # -- saved tensors ---------------------------------------------------------------------
    def save(self, slot: int, tensor: Tensor) -> None:
        """Keep ``tensor`` for backward, with its version so later in-place edits are caught."""
        if tensor._inference:
            raise RuntimeError(INFERENCE_SAVED)
        is_result = slot == self.arity
        entry = (
            slot,
            None if is_result else tensor,
            tensor._data,
            tensor._vc,  # the counter, and its value now: a later edit is caught at backward
            tensor._vc[0],
            tensor._grad_fn is not None,  # to catch a detach_() of the tensor since
        )
        if self._saved is None:
            self._saved = [entry]
        else:
            self._saved.append(entry)

    def resave(self, slot: int, tensor: Tensor) -> None:
        """Keep ``tensor`` for ``slot`` instead of what was saved there: the result once its
        data was replaced (``tensor_ops._cast_result``), or an in-place op's original self."""
        self._saved = [entry for entry in self._saved or () if entry[0] != slot]
        self.save(slot, tensor)

    def saved(self) -> list[Any]:
        """One value per input slot plus the result (None where nothing was saved).

        Arrays normally; tensors when grad mode is on during backward (``create_graph``), so
        the backward formulas themselves are recorded for higher-order gradients.
        """
        if self._released:
            raise RuntimeError(SECOND_BACKWARD)
        graph = state.grad_enabled
        values: list[Any] = [None] * (self.arity + 1)
        for slot, tensor, data, box, version, had_history in self._saved or ():
            # a view's history is read through grad_fn, which may re-derive it or fail
            if (
                had_history
                and tensor is not None
                and (tensor._grad_fn if tensor._base is None else tensor.grad_fn) is None
            ):
                raise RuntimeError(DETACHED_IN_PLACE)
            if box[0] != version:
                origin = self if tensor is None else tensor.grad_fn
                raise RuntimeError(_version_error(data, origin, box[0], version))
            if not graph:
                # an input is saved as the tensor itself, so `x.data = t` since shows (torch
                # saves the variable); the result is saved apart, as its data then
                values[slot] = data if tensor is None else tensor._data
            elif tensor is None:  # our own result: a tensor whose grad_fn is this node
                values[slot] = Tensor(data, True, self)
            else:
                values[slot] = tensor
        return values

    def release(self) -> None:
        """Free saved tensors after a backward without ``retain_graph``."""
        if self._saved is not None:
            self._saved = None
            self._released = True

    def forward(self, *args: Any) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad: Any) -> Any:
        """One gradient per input, or None where that input needs none."""
        raise NotImplementedError


def _version_error(data: np.ndarray, origin: Node | None, now: int, expected: int) -> str:
    """Torch's text; ``origin`` is the node the tensor came from (None for a leaf), named as
    torch names it here: ``ExpBackward0`` is "Exp", ``SumBackward1`` is "Sum1"."""
    kind = {
        np.float32: "FloatTensor",
        np.float64: "DoubleTensor",
        np.int64: "LongTensor",
        np.int32: "IntTensor",
        np.bool_: "BoolTensor",
    }.get(data.dtype.type, "Tensor")
    shape = ", ".join(str(s) for s in data.shape)
    if origin is None:
        source = ""
    else:
        name = re.sub(r"Backward0$|Backward(?=\d+$)", "", origin.name())
        source = f", which is output 0 of {name},"
    return (
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: [torch.{kind} [{shape}]]{source} is at version {now}; expected version "
        f"{expected} instead. Hint: enable anomaly detection to find the operation that failed "
        "to compute its gradient, with "
        "torch.autograd.set_detect_anomaly(True, check_nan=False)."
    )


def _register(hook: Any, home: list[Any]) -> Any:
    from .tensor import RemovableHandle, _Hook

    registration = _Hook(hook, home)
    home.append(registration)
    return RemovableHandle(registration)


class AccumulateGrad(Node):
    """The node a leaf shows in ``next_functions``; the engine adds gradients into ``.grad``."""

    __slots__ = ("variable",)
    node_name = "AccumulateGrad"

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"

    def __init__(self, variable: Tensor) -> None:
        self.variable = variable
        self._next = ()
        self._seq = float("inf")  # torch runs leaves as soon as they are ready
        self._hooks = None
        self._pre_hooks = self._post_hooks = None

    @staticmethod
    def of(tensor: Tensor) -> AccumulateGrad:
        """The leaf's node, shared by every graph that uses the leaf while it lives."""
        node = tensor._acc() if tensor._acc is not None else None
        if node is None:
            node = AccumulateGrad(tensor)
            tensor._acc = weakref.ref(node)
        return node


# Last, because tensor.py imports Node and AccumulateGrad from here; importing Tensor once at
# module level keeps the import machinery off ``apply`` and ``saved``, the hot paths.
from .tensor import Tensor  # noqa: E402
