"""Tensor's math: operators and methods, each a thin call into one op class.

Kept apart from ``tensor.py`` (the autograd state) so each file has one job. The only logic
here is choosing the op and the result dtype the way torch does.
"""

from __future__ import annotations

import re
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from . import dtypes
from .grad_mode import state
from .ops import arithmetic as ar
from .ops import reduction, unary
from .ops import shape as shape_ops
from .ops._math import broadcast_strides, dense

if TYPE_CHECKING:
    from .tensor import Tensor


def _tier(t: Any) -> int:
    return 1 if t._data.ndim == 0 else 0


def _operands(a: Any, b: Any) -> tuple[Any, Any, np.dtype | None]:
    """``b`` as a tensor, and the dtype torch gives the result when numpy might differ.

    (``Any``: the operators pass ``self``, which mypy sees as the ``TensorOps`` mixin; its
    class is ``Tensor``, which this module cannot import at load time.)
    """
    Tensor = a.__class__
    if (b.__class__ is float or b.__class__ is int) and a._data.dtype.kind == "f":
        return a, Tensor(np.array(b, a._data.dtype)), None  # the common case, first
    if isinstance(b, Tensor):
        if a._data.dtype == b._data.dtype:
            return a, b, None
        result = dtypes.promote([(a.dtype, _tier(a)), (b.dtype, _tier(b))])
        return a, b, result.np
    if isinstance(b, np.ndarray):  # a constant, e.g. a mask inside a backward formula
        return _operands(a, Tensor(b))
    kind = a._data.dtype.kind
    if kind == "f" and isinstance(b, (int, float)) and not isinstance(b, bool):
        return a, Tensor(np.asarray(b, dtype=a._data.dtype)), None  # the common case
    result = dtypes.promote([(a.dtype, _tier(a)), (dtypes.of_scalar(b), 2)])
    return a, Tensor(np.asarray(b, dtype=result.np)), result.np


_CONSTANTS: dict[tuple[int, np.dtype], Any] = {}


def _constant(tensor_class: Any, number: float, dtype: np.dtype) -> Any:
    """``number`` as a 0-d tensor of ``dtype``. A constant has no history and no path back to
    the user, so an integer one is made once per value and dtype and then shared."""
    if number.__class__ is not int:
        return tensor_class(np.array(number, dtype))
    key = (number, dtype)
    made = _CONSTANTS.get(key)
    if made is None:
        made = tensor_class(np.array(number, dtype))
        made._inference = False  # made in inference mode, it may still be used outside
        made._data.flags.writeable = False  # and nothing may write into a shared one
        if len(_CONSTANTS) < 4096:
            _CONSTANTS[key] = made
    return made


def _arithmetic(op: Any, true_division: bool = False) -> Any:
    """The operator ``tensor <op> other`` for a binary op class."""

    def operator(a: Any, b: Any) -> Tensor:
        # the common cases first: numpy's result is torch's, and mostly so is its layout
        data = a._data
        if b.__class__ is a.__class__:
            other = b._data
            if other.dtype == data.dtype and (data.dtype.kind == "f" or not true_division):
                try:
                    out = op.binary(a, b)
                except ValueError:
                    _check_broadcast(data.shape, other.shape)
                    raise
                if not _numpy_lays_out_as_torch(data, other):
                    out._data = _laid_out(out._data, (data, other))
                return out
        elif (b.__class__ is float or b.__class__ is int) and data.dtype.kind == "f":
            out = op.binary(a, _constant(a.__class__, b, data.dtype))
            if not data.flags.c_contiguous:
                out._data = _laid_out(out._data, (data,))
            return out
        a, b, want = _operands(a, b)
        if true_division and (want or a._data.dtype).kind != "f":
            want = dtypes.DEFAULT_FLOAT.np
        try:
            out = op.binary(a, b)
        except ValueError:
            _check_broadcast(a._data.shape, b._data.shape)
            raise
        if not _numpy_lays_out_as_torch(a._data, b._data):
            out._data = _laid_out(out._data, (a._data, b._data))
        if want is not None and out._data.dtype != want:
            _cast_result(out, want)
        return out

    return operator


_power = _arithmetic(ar.PowTensor)


def _cast_result(out: Any, want: np.dtype) -> None:
    """Give ``out`` torch's result dtype where numpy promotes differently (an int64 tensor
    to a float32 power is float32 in torch, float64 in numpy); a node that saved the result
    must keep what the tensor holds."""
    out._data = out._data.astype(want)
    node = out._grad_fn
    if node is not None and node.save_result:
        node.resave(node.arity, out)


def _numpy_lays_out_as_torch(x: np.ndarray, y: np.ndarray) -> bool:
    """Whether numpy's result of ``x op y`` is laid out as torch's: when both are contiguous
    and of one shape, or contiguous without size-1 dimensions. numpy calls an array with any
    stride on a size-1 dimension contiguous; torch's order of dimensions reads those strides
    when the other operand is broadcast."""
    if not (x.flags.c_contiguous and y.flags.c_contiguous):
        return False
    return x.shape == y.shape or (1 not in x.shape and 1 not in y.shape)


def _laid_out(data: np.ndarray, operands: tuple[np.ndarray, ...]) -> np.ndarray:
    """``data`` laid out in memory as torch lays out an elementwise result: innermost the
    dimension its operands step through fastest (TensorIterator's ``reorder_dimensions``;
    numpy's rule differs when operands disagree), so that a later ``view`` or ``reshape``
    works, copies or fails alike."""
    shape = data.shape
    strides = [broadcast_strides(op, shape) for op in operands]

    def order(d0: int, d1: int) -> int:  # 1: d0 goes outside d1; -1: inside; 0: no opinion
        for st in strides:
            if st[d0] == 0 or st[d1] == 0:
                continue  # broadcast along one of them: the next operand decides
            if st[d0] != st[d1]:
                return 1 if st[d0] > st[d1] else -1
            if shape[d0] > shape[d1]:
                return 1
        return 0

    perm = list(range(len(shape)))[::-1]  # innermost first
    for i in range(1, len(perm)):  # torch's insertion sort, which tolerates "no opinion"
        j = i
        for k in range(i - 1, -1, -1):
            c = order(perm[k], perm[j])
            if c > 0:
                perm[k], perm[j] = perm[j], perm[k]
                j = k
            elif c < 0:
                break
    outer_first = perm[::-1]
    if outer_first == sorted(outer_first):
        return data if data.flags.c_contiguous else np.ascontiguousarray(data)
    out = np.empty([shape[d] for d in outer_first], dtype=data.dtype)
    out = out.transpose(np.argsort(outer_first))
    out[...] = data
    return out


def _check_broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> None:
    """Torch's error for shapes that do not broadcast (numpy's is a ValueError)."""
    ndim = max(len(a), len(b))
    for dim in reversed(range(ndim)):
        sa = a[dim - ndim + len(a)] if dim - ndim + len(a) >= 0 else 1
        sb = b[dim - ndim + len(b)] if dim - ndim + len(b) >= 0 else 1
        if sa != sb and sa != 1 and sb != 1:
            raise RuntimeError(
                f"The size of tensor a ({sa}) must match the size of tensor b ({sb}) at "
                f"non-singleton dimension {dim}"
            )


def _floating(t: Any) -> Tensor:
    """Integer inputs to float-only maths become the default float, as in torch."""
    return t if t._data.dtype.kind == "f" else t.to(dtypes.DEFAULT_FLOAT)


class TensorOps:
    """Operators and math methods of ``Tensor``."""

    __slots__ = ()
    _data: np.ndarray

    # -- arithmetic ------------------------------------------------------------------------
    __add__ = __radd__ = _arithmetic(ar.Add)

    __sub__ = _arithmetic(ar.Sub)

    def __rsub__(self, other: Any) -> Tensor:
        a, b, want = _operands(self, other)
        out = ar.Rsub.apply(a, b._data)
        if want is not None and out._data.dtype != want:
            _cast_result(out, want)
        return out

    __mul__ = __rmul__ = _arithmetic(ar.Mul)

    __truediv__ = _arithmetic(ar.Div, true_division=True)

    def __rtruediv__(self, other: Any) -> Tensor:
        return _floating(self).reciprocal() * other  # torch records Mul after Reciprocal

    def __pow__(self, exponent: Any) -> Tensor:
        if isinstance(exponent, self.__class__):
            return _power(self, exponent)
        if self._data.dtype.kind != "f" and isinstance(exponent, float):
            return _floating(self) ** exponent
        return ar.Pow.apply(self, exponent)

    pow = __pow__

    def __rpow__(self, base: Any) -> Tensor:
        if isinstance(base, int) and self._data.dtype.kind != "f":
            return ar.RPow.apply(self, base)  # integers stay integers
        return ar.RPow.apply(_floating(self), base)

    def __neg__(self) -> Tensor:
        return unary.Neg.apply(self)

    def __matmul__(self: Any, other: Tensor) -> Tensor:
        from . import functional

        return functional.matmul(self, other)

    # -- in place --------------------------------------------------------------------------
    def add_(self, other: Any) -> Tensor:
        return self._inplace(ar.Add, other)

    def sub_(self, other: Any) -> Tensor:
        return self._inplace(ar.Sub, other)

    def mul_(self, other: Any) -> Tensor:
        return self._inplace(ar.Mul, other)

    def div_(self, other: Any) -> Tensor:
        return self._inplace(ar.Div, other)

    __iadd__, __isub__, __imul__, __itruediv__ = add_, sub_, mul_, div_

    def zero_(self) -> Tensor:
        return self._inplace(unary.Zero, None)

    def _inplace(self: Any, op: Any, other: Any) -> Tensor:
        """Run ``op`` out of place, write the result into this tensor's storage, and, when
        recording, move this tensor onto the new node (torch's history rebase), or, for a
        view, give its base a ``CopySlices`` history (``_rebase_view``)."""
        from .tensor import Tensor

        if self._inference is True and not state.inference:  # torch lets a detached one pass
            raise RuntimeError(
                "Inplace update to inference tensor outside InferenceMode is not allowed.You "
                "can make a clone to get a normal tensor before doing inplace update.See "
                "https://github.com/pytorch/rfcs/pull/17 for more details."
            )
        if op is unary.Zero:
            operands: tuple[Any, ...] = ()
            want = None
        else:
            _, other_t, want = _operands(self, other)
            if op is ar.Div and np.dtype(want or self._data.dtype).kind != "f":
                want = dtypes.DEFAULT_FLOAT.np  # true division
            if want is not None and dtypes.from_numpy(want).category > self.dtype.category:
                raise RuntimeError(
                    f"result type {_name(want)} can't be cast to the desired output type "
                    f"{_name(self._data.dtype)}"
                )
            operands = (other_t,)
        record = (
            state.grad_enabled
            and not state.inference
            and (self.requires_grad or any(t.requires_grad for t in operands))
        )
        if record and self._view_mode in MODE_VIEWS:
            raise RuntimeError(view_mode_error(self, indirect=False))
        if record and self._base is not None and self.requires_grad and self._base.is_leaf:
            raise RuntimeError(VIEW_OF_LEAF_INPLACE)
        # torch asks the history as last set: a view of a constant whose base has gained a
        # history since is a leaf that requires grad until its grad_fn is next read
        if record and self._grad_fn is None and self.requires_grad:
            raise RuntimeError(LEAF_INPLACE)
        if op is not unary.Zero:  # torch's kernels refuse writes whose result is ambiguous
            _check_overlap(self._data, operands[0]._data)
        if operands and operands[0]._data.shape != self._data.shape:
            _check_broadcast(self._data.shape, operands[0]._data.shape)
            shape = np.broadcast_shapes(self._data.shape, operands[0]._data.shape)
            if shape != self._data.shape:
                raise RuntimeError(
                    f"output with shape {list(self._data.shape)} doesn't match the broadcast "
                    f"shape {list(shape)}"
                )
        if record:
            result = op.apply(Tensor(self._data, self._rg, self.grad_fn), *operands)
            node = result.grad_fn
            if (op is ar.Mul or op is ar.Div) and node.needs_input_grad[1]:
                # the other operand's gradient needs self as it was: torch saves a clone,
                # made after the op's node and recorded when self requires grad (a
                # CloneBackward0 only the saved value leads to, as create_graph shows)
                node.resave(0, unary.Clone.apply(self))
        else:
            result = op.apply(self, *operands)  # records nothing: see ``record``
        np.copyto(self._data, result._data, casting="unsafe")
        self._vc[0] += 1
        if record and self._base is not None:
            _rebase_view(self, result.grad_fn)
        elif record:
            old, self._grad_fn, self._rg = self.grad_fn, result.grad_fn, True
            if self._retains_grad and old is not None:  # None: detach_() since (torch asserts)
                _move_retain_grad(self, old, self.grad_fn)
        return self

    # -- elementwise -----------------------------------------------------------------------
    def exp(self) -> Tensor:
        return unary.Exp.apply(_floating(self))

    def log(self) -> Tensor:
        return unary.Log.apply(_floating(self))

    def tanh(self) -> Tensor:
        return unary.Tanh.apply(_floating(self))

    def sigmoid(self) -> Tensor:
        return unary.Sigmoid.apply(_floating(self))

    def relu(self) -> Tensor:
        return unary.Relu.apply(self)

    def reciprocal(self) -> Tensor:
        return unary.Reciprocal.apply(_floating(self))

    # -- reductions ------------------------------------------------------------------------
    def sum(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return reduction.reduce("sum", self, dim, keepdim)

    def mean(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return reduction.reduce("mean", self, dim, keepdim)

    # -- shape -----------------------------------------------------------------------------
    def view(self, *sizes: Any) -> Tensor:
        if not sizes:
            raise TypeError("view() received an invalid combination of arguments - got ()")
        target = _shape_arg(sizes)
        try:
            _as_view(self._data, target)
        except AttributeError:
            raise RuntimeError(
                "view size is not compatible with input tensor's size and stride (at least one "
                "dimension spans across two contiguous subspaces). Use .reshape(...) instead."
            ) from None
        return _view_of(self, shape_ops.View.apply(self, target))

    def reshape(self, *sizes: Any) -> Tensor:
        """A view when the strides allow one, else a copy (recorded as torch records it)."""
        if not sizes:
            raise TypeError('reshape() missing 1 required positional arguments: "shape"')
        target = _shape_arg(sizes)
        try:
            _as_view(self._data, target)
        except AttributeError:
            return shape_ops.UnsafeView.apply(unary.Clone.apply(self, "C"), target)
        op = shape_ops.View if self._data.flags.c_contiguous else shape_ops.ReshapeAlias
        return _view_of(self, op.apply(self, target))

    def t(self) -> Tensor:
        if self._data.ndim > 2:
            raise RuntimeError(
                f"t() expects a tensor with <= 2 dimensions, but self is {self._data.ndim}D"
            )
        return _view_of(self, shape_ops.T.apply(self))

    @property
    def T(self) -> Tensor:  # noqa: N802 - torch's name
        if self._data.ndim != 2:
            warn_once(T_DEPRECATED[self._data.ndim == 0])
        return _view_of(self, shape_ops.Permute.apply(self))

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        return _view_of(self, shape_ops.Transpose.apply(self, dim0, dim1))

    def expand(self, *sizes: Any) -> Tensor:
        target = _shape_arg(sizes)
        lead = len(target) - self._data.ndim
        target = tuple(self._data.shape[i - lead] if s == -1 else s for i, s in enumerate(target))
        return _view_of(self, shape_ops.Expand.apply(self, target))

    def unsqueeze(self, dim: int) -> Tensor:
        return _view_of(self, shape_ops.Unsqueeze.apply(self, dim))

    def squeeze(self, dim: int | None = None) -> Tensor:
        if dim is None:
            return _view_of(self, shape_ops.SqueezeAll.apply(self))
        return _view_of(self, shape_ops.Squeeze.apply(self, dim))

    def clone(self) -> Tensor:
        return _clone(self)

    def to(self: Any, dtype: dtypes.dtype) -> Tensor:
        if dtype.np == self._data.dtype:
            return self
        return unary.ToCopy.apply(self, dtype.np)

    def float(self) -> Tensor:
        return self.to(dtypes.float32)

    def double(self) -> Tensor:
        return self.to(dtypes.float64)

    def __getitem__(self, key: Any) -> Tensor:
        return _index(self, key)


def _check_overlap(out: np.ndarray, other: np.ndarray) -> None:
    """torch's memory-overlap checks for an in-place op writing ``out`` from ``other``."""
    if not dense(out) and any(st == 0 and n > 1 for n, st in zip(out.shape, out.strides)):
        raise RuntimeError(
            "unsupported operation: more than one element of the written-to tensor refers to a "
            "single memory location. Please clone() the tensor before performing the operation."
        )
    if out.size == 0 or other.size == 0 or not (dense(out) and dense(other)):
        return  # torch does not look further either
    begin, other_begin = out.ctypes.data, other.ctypes.data
    end, other_end = begin + out.nbytes, other_begin + other.nbytes
    if (begin, end) == (other_begin, other_end):
        partial = out.strides != other.strides  # the same elements, read in another order
    else:
        partial = begin < other_end and other_begin < end
    if partial:
        raise RuntimeError(
            "unsupported operation: some elements of the input tensor and the written-to tensor "
            "refer to a single memory location. Please clone() the tensor before performing the "
            "operation."
        )


def _rebase_view(view: Any, fn: Any) -> None:
    """An in-place op through a view rewrites part of the base: the base's history becomes
    ``CopySlices`` around the op's node, and the view's is re-derived from it at once, as
    torch does. retain_grad hooks follow both tensors to their new nodes."""
    base = view._base
    old = base._grad_fn
    base._grad_fn, base._rg = shape_ops.CopySlices.wrap(base, view, fn), True
    if base._retains_grad and old is not None:
        _move_retain_grad(base, old, base._grad_fn)
    view.grad_fn  # noqa: B018  (reading it re-derives the view's history now)


def _move_retain_grad(t: Any, old: Any, new: Any) -> None:
    """retain_grad follows the tensor to its new node after an in-place op, as in torch;
    hooks from register_hook stay with the old node (they see the old value's gradient)."""
    from .tensor import _RetainGrad

    hook = next(h for h in old._hooks if isinstance(h, _RetainGrad) and h.tensor() is t)
    old._hooks.remove(hook)
    new._hooks = [*(new._hooks or ()), hook]


def _name(np_dtype: np.dtype) -> str:
    return {
        "float32": "Float",
        "float64": "Double",
        "int64": "Long",
        "int32": "Int",
        "bool": "Bool",
    }[np.dtype(np_dtype).name]


T_DEPRECATED = (
    "The use of `x.T` on tensors of dimension other than 2 to reverse their shape is deprecated "
    "and it will throw an error in a future release. Consider `x.mT` to transpose batches of "
    "matrices or `x.permute(*torch.arange(x.ndim - 1, -1, -1))` to reverse the dimensions of a "
    "tensor.",
    "Tensor.T is deprecated on 0-D tensors. This function is the identity in these cases.",
)
_warned: set[str] = set()


def warn_once(message: str, stacklevel: int = 3) -> None:
    """Torch's TORCH_WARN_ONCE: the first time in the process only."""
    if message not in _warned:
        _warned.add(message)
        warnings.warn(message, UserWarning, stacklevel=stacklevel)


LEAF_INPLACE = "a leaf Variable that requires grad is being used in an in-place operation."
VIEW_OF_LEAF_INPLACE = (
    "a view of a leaf Variable that requires grad is being used in an in-place operation."
)


def view_mode_error(view: Any, indirect: bool) -> str:
    """torch's refusal to edit (or, ``indirect``, to re-derive after an edit of its memory) a
    view made under no_grad or in inference mode, or a view of such a view, which inherits
    the mode; it names the view's node when the view has one."""
    fn = view._grad_fn
    if fn is None:
        prefix = "A view was created in"
    else:
        name = re.sub(r"Backward0$|Backward(?=\d+$)", "", fn.name())
        prefix = f"Output 0 of {name} is a view of a view which was created in"
    modified = "its base or another view of its base has been" if indirect else "is being"
    if view._view_mode == "inference":
        mode, block = (
            f"inference mode and {modified} modified inplace in normal mode",
            "inference_mode",
        )
    else:
        mode, block = (
            f"no_grad mode and {modified} modified inplace with grad mode enabled",
            "no_grad",
        )
    return (
        f"{prefix} {mode}. Given that this use case is ambiguous and error-prone, it is "
        "forbidden. You can clarify your code by moving both the view and the inplace either "
        f"both inside the {block} block (if you don't want the inplace to be tracked) or both "
        "outside (if you want the inplace to be tracked)."
    )


MODE_VIEWS = ("no_grad", "inference")  # Tensor._view_mode of views made, or inheriting, a mode


def _shape_arg(sizes: tuple[Any, ...]) -> tuple[int, ...]:
    """``view(2, 2)`` and ``view((2, 2))`` both mean the shape (2, 2)."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    return tuple(int(s) for s in sizes)


def _as_view(data: np.ndarray, target: tuple[int, ...]) -> np.ndarray:
    """Reshape without copying; AttributeError when the strides need a copy (like torch's
    view), RuntimeError with torch's text when the sizes do not match."""
    try:
        view = data.reshape(target) if data.flags.c_contiguous else data.view()
    except ValueError:
        raise RuntimeError(
            f"shape '{list(target)}' is invalid for input of size {data.size}"
        ) from None
    if not data.flags.c_contiguous:
        try:
            view.shape = target
        except ValueError:
            raise RuntimeError(
                f"shape '{list(target)}' is invalid for input of size {data.size}"
            ) from None
    return view


def _view_of(base: Any, result: Tensor) -> Tensor:
    """Views share storage, the version counter and inference-ness with their base (for a
    view of a view, the first view's base, as in torch).

    A view without history (made under ``no_grad``, or of a base that did not require grad
    then) still requires grad whenever its base does (``Tensor.requires_grad``), yet stays a
    constant in any graph (``Tensor._node``) until an in-place edit of the memory gives it
    the base's history (``Tensor.grad_fn``).
    """
    root = base if base._base is None else base._base
    result._vc = root._vc
    result._inference = root._inference
    if root._inference:
        # an inference tensor has no autograd state: its views are no views, and have no
        # history even of one that requires grad; and a view of a detached one may no
        # longer be edited outside inference mode, as in torch
        result._inference = True
        result._grad_fn, result._rg = None, False
        return result
    result._base = root
    result._view_at = root._vc[0]
    # True when recorded (see Function.apply), else the mode it was made in; a view of a
    # view made in a mode inherits that mode, inference mode winning, as in torch
    if state.grad_enabled and not state.inference:
        mode: bool | str = base._view_mode if base._view_mode in MODE_VIEWS else True
    else:
        mode = "inference" if state.inference else "no_grad"
        mode = "inference" if base._view_mode == "inference" else mode
    result._view_mode = mode
    return result


def _clone(t: Any) -> Tensor:
    return unary.Clone.apply(t)


def _index(t: Any, key: Any) -> Tensor:
    """Basic indexing as torch records it: one Select or Slice node per indexed dimension,
    where a full ``:`` inside a tuple records nothing."""
    single = not isinstance(key, tuple)
    keys = (key,) if single else key
    for k in keys:
        if not (k is None or k is Ellipsis or isinstance(k, (int, slice))) or isinstance(k, bool):
            raise IndexError(
                f"reference supports indexing with integers, slices, None and "
                f"... only, got {type(k).__name__}"
            )
    specified = sum(1 for k in keys if k is not None and k is not Ellipsis)
    if specified > t._data.ndim:
        raise IndexError(f"too many indices for tensor of dimension {t._data.ndim}")
    out, dim, recorded = t, 0, False
    for k in keys:
        if k is Ellipsis:
            dim += t._data.ndim - specified
        elif k is None:
            out, dim, recorded = _view_of(t, shape_ops.Unsqueeze.apply(out, dim)), dim + 1, True
        elif isinstance(k, slice):
            size = out._data.shape[dim]
            if single or k.indices(size) != (0, size, 1):
                key_: tuple[Any, ...] = (*(slice(None),) * dim, k)
                out, recorded = _view_of(t, shape_ops.Index.apply(out, key_)), True
            dim += 1
        else:
            size = out._data.shape[dim]
            if not -size <= k < size:
                raise IndexError(f"index {k} is out of bounds for dimension {dim} with size {size}")
            key_ = (*(slice(None),) * dim, k % size, Ellipsis)
            out, recorded = _view_of(t, shape_ops.Select.apply(out, key_)), True
    return out if recorded else _view_of(t, shape_ops.Alias.apply(t))
