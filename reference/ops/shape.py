"""Ops that change the shape or select part of a tensor. Their results are views."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..function import SECOND_BACKWARD, Function, _sequence
from ._math import broadcast_strides, is_array, swap, t
from .unary import Clone, CopyInto


class View(Function):
    node_name = "ViewBackward0"

    def forward(self, a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        self.shape = a.shape
        return a.reshape(shape)

    def backward(self, g: Any) -> Any:
        return g.reshape(self.shape)


class ReshapeAlias(View):
    """What ``reshape`` records for a view of a non-contiguous input."""

    node_name = "ReshapeAliasBackward0"


class UnsafeView(View):
    """What ``reshape`` records after it had to copy a non-contiguous input."""

    node_name = "UnsafeViewBackward0"


class Transpose(Function):
    node_name = "TransposeBackward0"

    def forward(self, a: np.ndarray, d0: int, d1: int) -> np.ndarray:
        self.d0, self.d1 = d0, d1
        return a.swapaxes(d0, d1)

    def backward(self, g: Any) -> Any:
        return swap(g, self.d0, self.d1)


class T(Function):
    """``t()``: transpose of a matrix (a vector or scalar is returned as it is)."""

    node_name = "TBackward0"

    def forward(self, a: np.ndarray) -> np.ndarray:
        return a.T

    def backward(self, g: Any) -> Any:
        if g.ndim == 2 or not is_array(g):
            return t(g)
        # torch's grad.t() of a vector is a new view: a leaf may take it as its .grad even
        # while a hook keeps the gradient it was made from, and then they share memory
        return g.view()


class Permute(Function):
    """``.T``: reverses every dimension."""

    node_name = "PermuteBackward0"

    def forward(self, a: np.ndarray) -> np.ndarray:
        return a.transpose()

    def backward(self, g: Any) -> Any:
        return g.transpose() if is_array(g) else g.T


class Expand(Function):
    node_name = "ExpandBackward0"

    def forward(self, a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        # np.broadcast_to's view is read-only (torch lets zero_() write through an expand),
        # and its strides are not torch's (see broadcast_strides)
        strides = broadcast_strides(a, shape)
        return np.lib.stride_tricks.as_strided(a, shape, strides, writeable=a.flags.writeable)

    def backward(self, g: Any) -> Any:
        # the engine sums it back to the input's shape; torch's formula (sum_to) sums into
        # a 0-d input even from a 0-d gradient, which shows when it is recorded
        if not self._meta[0][0] and not is_array(g):
            return g.sum()
        return g


class Alias(Function):
    node_name = "AliasBackward0"

    def forward(self, a: np.ndarray) -> np.ndarray:
        return a[...]

    def backward(self, g: Any) -> Any:
        return g


class Unsqueeze(Function):
    node_name = "UnsqueezeBackward0"

    def forward(self, a: np.ndarray, dim: int) -> np.ndarray:
        self.shape, self.dim = a.shape, dim
        return np.expand_dims(a, dim)

    def backward(self, g: Any) -> Any:
        return g.reshape(self.shape) if is_array(g) else g.squeeze(self.dim)


class Squeeze(Function):
    node_name = "SqueezeBackward1"

    def forward(self, a: np.ndarray, dim: int) -> np.ndarray:
        self.shape, self.dim = a.shape, dim
        return a.squeeze(dim) if a.shape[dim] == 1 else a[...]

    def backward(self, g: Any) -> Any:
        if is_array(g):
            return g.reshape(self.shape)
        return g.unsqueeze(self.dim) if self.shape[self.dim] == 1 else g


class SqueezeInPlace(Squeeze):
    """What matmul of a vector and a matrix records when it drops the vector's dimension
    (torch squeezes its result in place: ``squeeze_(dim)``)."""

    node_name = "SqueezeBackward4"


class SqueezeAll(Function):
    """``squeeze()``: drops every dimension of size 1."""

    node_name = "SqueezeBackward0"

    def forward(self, a: np.ndarray) -> np.ndarray:
        self.shape = a.shape
        return a.squeeze()

    def backward(self, g: Any) -> Any:
        if is_array(g):
            return g.reshape(self.shape)
        for dim, size in enumerate(self.shape):  # torch's unsqueeze_to: one at a time
            if size == 1:
                g = g.unsqueeze(dim)
        return g


class Index(Function):
    """Selecting with an integer (``SelectBackward0``) or a slice (``SliceBackward0``)
    along one dimension; torch records one node per indexed dimension."""

    node_name = "SliceBackward0"
    scatter: type[SliceBackward]  # its backward, when recorded (set below)

    def forward(self, a: np.ndarray, key: tuple[Any, ...]) -> np.ndarray:
        self.shape, self.key, self.dtype = a.shape, key, a.dtype
        return a[key]

    def backward(self, g: Any) -> Any:
        if is_array(g):
            out = np.zeros(self.shape, dtype=g.dtype)
            out[self.key] = g
            return out
        return self.scatter.apply(g, self.shape, self.key)


class Select(Index):
    node_name = "SelectBackward0"


class SliceBackward(Function):
    """Scatters a gradient into zeros; recorded only for higher-order gradients, under the
    name torch gives the backward of the op it undoes."""

    node_name = "SliceBackwardBackward0"
    gather: type[Index] = Index  # the op whose gradient this is, and its own gradient

    def forward(self, g: np.ndarray, shape: tuple[int, ...], key: tuple[Any, ...]) -> np.ndarray:
        self.key = key
        out = np.zeros(shape, dtype=g.dtype)
        out[key] = g
        return out

    def backward(self, gg: Any) -> Any:
        return gg[self.key] if is_array(gg) else self.gather.apply(gg, self.key)


class SelectBackward(SliceBackward):
    node_name = "SelectBackwardBackward0"
    gather = Select


Index.scatter = SliceBackward
Select.scatter = SelectBackward


def _addresses(a: np.ndarray) -> np.ndarray:
    """The memory address of each element of ``a``."""
    out = np.full(a.shape, a.ctypes.data, dtype=np.int64)
    for axis, (size, stride) in enumerate(zip(a.shape, a.strides)):
        step = np.arange(size, dtype=np.int64) * stride
        out += step.reshape((size,) + (1,) * (a.ndim - axis - 1))
    return out


def positions(base: np.ndarray, view: np.ndarray) -> np.ndarray:
    """For each element of ``view``, the flat (row-major) index of the ``base`` element it
    shares memory with: the view's geometry relative to its base, whatever views made it.

    When they no longer share memory (``.data`` was replaced on one of them), torch still
    reads the view's sizes, strides and storage offset against the base's storage; so do we,
    taking the offset within the buffer the view's memory belongs to."""
    where = _addresses(base).ravel()
    order = np.argsort(where, kind="stable")
    wanted = _addresses(view)
    index = order[np.searchsorted(where[order], wanted).clip(0, max(where.size - 1, 0))]
    if where.size and np.array_equal(where[index], wanted):
        return index
    owner = view
    while isinstance(owner.base, np.ndarray):
        owner = owner.base
    start = (view.ctypes.data - owner.ctypes.data) // view.itemsize
    index = start + sum(
        (np.arange(n) * (st // view.itemsize)).reshape((n,) + (1,) * (view.ndim - axis - 1))
        for axis, (n, st) in enumerate(zip(view.shape, view.strides))
    )
    index = np.broadcast_to(index, view.shape)
    if index.size and (index.min() < 0 or index.max() >= base.size):
        raise RuntimeError(
            f"setStorage: sizes {list(view.shape)}, strides "
            f"{[st // view.itemsize for st in view.strides]}, storage offset {start} "
            f"are out of bounds for storage of size {base.size}"
        )
    return np.array(index)


class AsStrided(Function):
    """The history torch gives a view once its base (or another view of it) was edited in
    place: the view's elements picked from the base by position. ``Tensor.grad_fn`` builds
    it with ``rebase``; it runs forward only inside higher-order gradients."""

    node_name = "AsStridedBackward0"
    shape: tuple[int, ...]
    where: np.ndarray

    @classmethod
    def rebase(cls, base: Any, view: Any) -> AsStrided:
        node = cls()
        node.shape, node.where = base._data.shape, positions(base._data, view._data)
        node._record((base,), view)
        return node

    def forward(self, a: np.ndarray, where: np.ndarray) -> np.ndarray:
        self.shape, self.where = a.shape, where
        return a.reshape(-1)[where]

    def backward(self, g: Any) -> Any:
        if is_array(g):
            return _scatter(g, self.where, self.shape)
        return _recorded_as_strided_backward(g, self.where, self.shape)


def _recorded_as_strided_backward(g: Any, where: np.ndarray, shape: tuple[int, ...]) -> Any:
    """``AsStrided``'s backward under create_graph, in torch's steps (``as_strided_backward``),
    so that the nodes are torch's: the gradient summed over the view's expanded dimensions
    and squeezed of its size-1 ones, copied in place into a slice of zeros (a CopySlices
    with no edge to the zeros, a constant), all of it read back through a strided view.
    (Only ``expand`` makes a view whose elements overlap, so none overlap once its
    dimensions are summed; torch's other way, an index_add, is never needed.)"""
    tensor = g.__class__
    zeros = tensor(np.zeros(shape, g._data.dtype))
    if where.size == 0:
        return zeros
    for dim in reversed(range(where.ndim)):
        first = where.take(0, axis=dim)
        if where.shape[dim] == 1:
            g, where = g.squeeze(dim), first
        elif (where == np.expand_dims(first, dim)).all():  # stride 0: the same elements
            g, where = g.sum(dim), first
    copied = CopyInto.apply(tensor(np.asarray(zeros._data.reshape(-1)[where])), g)
    filled = _copied_into(zeros, where, copied)
    return AsStrided.apply(filled, np.arange(filled._data.size).reshape(shape))


def _scatter(g: np.ndarray, where: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Zeros of ``shape`` with ``g`` added at the flat positions ``where`` (which may repeat)."""
    out = np.zeros(int(np.prod(shape, dtype=np.int64)), dtype=g.dtype)
    np.add.at(out, where.ravel(), np.broadcast_to(g, where.shape).ravel())
    return out.reshape(shape)


class CopySlices(Function):
    """The base's history after an in-place op through one of its views, as torch records
    it: the base's gradient passes through unchanged except at the view's positions, where
    the op's own backward (``fn``) turns it into the gradient of the view's old value; the
    op's other inputs get theirs from ``fn`` too."""

    node_name = "CopySlices"
    fn: Function
    shape: tuple[int, ...]
    where: np.ndarray

    def name(self) -> str:
        return "torch::autograd::CopySlices"

    @classmethod
    def wrap(cls, base: Any, view: Any, fn: Function) -> CopySlices:
        """Record ``fn`` (the in-place op, recorded on the view's old value) on ``base``."""
        return cls.at(base, positions(base._data, view._data), fn)

    @classmethod
    def at(cls, base: Any, where: np.ndarray, fn: Function) -> CopySlices:
        """``wrap`` for a view given by its elements' flat positions in ``base``."""
        node = cls()
        node.fn, node.shape, node.where = fn, base._data.shape, where
        edge = base._node()
        node._next = (edge, *fn._next[1:])
        node.needs_input_grad = (edge is not None, *fn.needs_input_grad[1:])
        node._meta = ((base._data.shape, base._data.dtype), *fn._meta[1:])
        node._seq = next(_sequence)
        node._hooks = node._pre_hooks = node._post_hooks = None
        node._released, node._saved = False, None
        return node

    def backward(self, g: Any) -> Any:
        if self._released:  # torch drops the wrapped node after a backward without retain_graph
            raise RuntimeError(SECOND_BACKWARD)
        fn, where = self.fn, self.where
        if np.unique(where).size < where.size:  # an expanded view was written in place
            raise RuntimeError(
                "unsupported operation: more than one element of the written-to tensor refers "
                "to a single memory location. Please clone() the tensor before performing the "
                "operation."
            )
        if is_array(g):
            result = np.array(g, order="C")  # fresh, writable and row-major, so flat is a view
            flat = result.reshape(-1)
            grads = _as_tuple(fn.backward(flat[where]), fn)
            flat[where] = 0 if grads[0] is None else grads[0]
            return result if len(grads) == 1 else (result, *grads[1:])
        # recorded (create_graph): torch's own steps, so that the nodes are torch's too. The
        # gradient is copied into a new tensor (CopyBackwards), the op's backward runs on a
        # clone of that tensor's slice, and its answer is copied into the slice in place,
        # which makes the copy's history a CopySlices of its own
        copy = CopyInto.apply(g.__class__(np.empty(self.shape, g._data.dtype)), g)
        grad_slice = AsStrided.apply(copy, where)
        grads = _as_tuple(fn.backward(Clone.apply(grad_slice)), fn)
        if grads[0] is not None:
            copy = _copied_into(copy, where, CopyInto.apply(grad_slice, grads[0]))
        else:  # the op gave its view's old value no gradient: zeros there
            copy = g * _outside(where, self.shape, g._data.dtype)
        return copy if len(grads) == 1 else (copy, *grads[1:])

    def release(self) -> None:
        self.fn.release()
        self._released = True


def _copied_into(base: Any, where: np.ndarray, copied: Any) -> Any:
    """``base`` once ``copied`` (a ``CopyInto`` result) was written into its elements at
    ``where``: a new tensor whose history is a CopySlices around the copy's node, as an
    in-place ``copy_`` into a view of ``base`` leaves it; none if the copy recorded none."""
    written = np.array(base._data, order="C")
    written.reshape(-1)[where] = copied._data
    node = copied.grad_fn
    if node is None:  # neither the base nor what was copied has a history
        return base.__class__(written)
    return base.__class__(written, True, CopySlices.at(base, where, node))


def _outside(where: np.ndarray, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Ones of ``shape``, zeros at the flat positions ``where``."""
    mask = np.ones(shape, dtype=dtype)
    mask.reshape(-1)[where] = 0
    return mask


def _as_tuple(grads: Any, fn: Function) -> tuple[Any, ...]:
    return (grads,) if len(fn._next) == 1 else tuple(grads)
