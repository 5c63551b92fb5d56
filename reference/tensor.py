"""The Tensor: a numpy array plus the autograd state torch keeps beside it.

Operators and methods are thin: they pick the op class and call ``Op.apply``. Everything
about gradients lives in ``function.py`` (recording) and ``engine.py`` (running backward).
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from . import dtypes
from .dtypes import dtype as DType
from .function import AccumulateGrad, Node
from .grad_mode import state
from .ops import shape as shape_ops
from .tensor_ops import MODE_VIEWS, TensorOps, _move_retain_grad, view_mode_error

NON_LEAF_GRAD = (
    "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad "
    "attribute won't be populated during autograd.backward(). If you indeed want the .grad field "
    "to be populated for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor. If you "
    "access the non-leaf Tensor by mistake, make sure you access the leaf Tensor instead. See "
    "github.com/pytorch/pytorch/pull/30531 for more information."
)
NON_LEAF_FLAG = (
    "you can only change requires_grad flags of leaf variables. If you want to use a computed "
    "variable in a subgraph that doesn't require differentiation use var_no_grad = var.detach()."
)


class Size(tuple):
    """A shape; prints as ``torch.Size([2, 2])``."""

    def __repr__(self) -> str:
        return f"torch.Size({list(self)})"

    def numel(self) -> int:
        return int(np.prod(self, dtype=np.int64))


class _Hook:
    """One registration of a hook function: a handle removes its own registration only,
    even when the same function was registered twice, from every list that holds it."""

    __slots__ = ("fn", "__name__", "homes")

    def __init__(self, fn: Callable[..., Any], home: list[Any]) -> None:
        self.fn = fn
        self.__name__ = getattr(fn, "__name__", "hook")
        self.homes = [home]  # a node's hook list, and a leaf's after detach_()

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)


class RemovableHandle:
    """Returned by ``register_hook``; ``remove()`` unregisters the hook."""

    def __init__(self, hook: _Hook) -> None:
        self._hook = hook

    def remove(self) -> None:
        for home in self._hook.homes:
            if any(h is self._hook for h in home):
                home.remove(self._hook)


class Tensor(TensorOps):
    """An n-dimensional array that records the operations applied to it."""

    __slots__ = (
        "_data",  # the numpy array
        "_rg",  # requires_grad: its own flag, or it has a history (a view may also inherit it)
        "_grad_fn",  # the Function that made it, None for a leaf (read it through ``grad_fn``)
        "_grad",
        "_retains_grad",
        "_vc",  # the version counter, [count]: shared with views and detach(), so edits count
        "_hooks",  # a leaf's tensor hooks (a non-leaf keeps them on its grad_fn)
        "_post_hooks",  # a leaf's hooks called with it once a gradient landed in .grad
        "_acc",  # weakref to the leaf's AccumulateGrad node
        "_inference",  # made in inference_mode: True, or "detached" (which may be edited)
        "_view_mode",  # False; True for a view; or "no_grad"/"inference", the mode it was made in
        "_base",  # a view's base: the tensor that owns the memory (never itself a view)
        "_view_at",  # a view's version when its grad_fn was set: an edit since re-derives it
        "__weakref__",
    )
    __array_ufunc__ = None  # numpy defers to our reflected operators

    def __init__(
        self,
        data: np.ndarray,
        requires_grad: bool = False,
        grad_fn: Node | None = None,
        version: list[int] | None = None,
        is_view: bool | str = False,
    ) -> None:
        self._data = data
        self._rg = requires_grad
        self._grad_fn = grad_fn
        self._grad: Tensor | None = None
        self._retains_grad = False
        self._vc = [0] if version is None else version
        self._hooks: list[Callable[..., Any]] | None = None
        self._post_hooks: list[_Hook] | None = None
        self._acc: weakref.ref[AccumulateGrad] | None = None
        self._inference: bool | str = state.inference
        self._view_mode = is_view
        self._base: Tensor | None = None
        self._view_at = 0

    # -- autograd state --------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        """A view requires grad when its base does, history or not (torch's rule)."""
        return self._rg or (self._base is not None and self._base._rg)

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        # both read the history as last set (a view's is not re-derived first), as torch does
        if self._grad_fn is not None:  # unlike requires_grad_(True), which lets it pass
            raise RuntimeError(NON_LEAF_FLAG if not value else NON_LEAF_FLAG.split(" If")[0])
        if value and not self.dtype.is_floating_point:
            raise RuntimeError(
                "only Tensors of floating point and complex dtype can require gradients"
            )
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if self._grad_fn is not None:
            if not requires_grad:
                raise RuntimeError(NON_LEAF_FLAG)
            return self
        if requires_grad and not self.dtype.is_floating_point:
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        if requires_grad and self._inference and not state.inference:
            raise RuntimeError(
                "Setting requires_grad=True on inference tensor outside InferenceMode is not "
                "allowed."
            )
        self._rg = bool(requires_grad)
        return self

    @property
    def grad_fn(self) -> Node | None:
        if self._base is not None and self._view_at != self._vc[0]:
            return self._rebased_grad_fn()
        return self._grad_fn

    def _rebased_grad_fn(self) -> Node | None:
        """A view whose memory was edited in place since its grad_fn was set: as in torch,
        its history becomes the base's (whatever it is now), read off by position. Done when
        asked, so it sees the base as it is then; a view made under no_grad or in inference
        mode cannot be re-derived, which torch reports as an error."""
        base = self._base
        assert base is not None
        if self._grad_fn is None and not base._rg:
            return None  # a constant of a constant: nothing to re-derive, yet
        if self._view_mode in MODE_VIEWS:
            raise RuntimeError(view_mode_error(self, indirect=True))
        old = self._grad_fn
        shape_ops.AsStrided.rebase(base, self)
        self._view_at = self._vc[0]
        if self._retains_grad and old is not None:
            _move_retain_grad(self, old, self._grad_fn)
        return self._grad_fn

    def is_inference(self) -> bool:
        """Made in inference mode (so are its views and detaches): it never gets a history,
        and autograd may not save it for backward."""
        return bool(self._inference)

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def grad(self) -> Tensor | None:
        # the history as last set, not re-derived: torch reads .grad without re-deriving
        if self._grad_fn is not None and not self._retains_grad and self._grad is None:
            warnings.warn(NON_LEAF_GRAD, UserWarning, stacklevel=2)
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(
                    "assigned grad expected to be a Tensor or None but got grad of type "
                    f"{type(value).__name__}"
                )
            if value is self:  # a view or a detach() of it may be its gradient, itself not
                raise RuntimeError("can't assign Variable as its own grad")
            if value.shape != self.shape:
                raise RuntimeError(
                    f"attempting to assign a gradient of size '{list(value.shape)}' to a tensor "
                    f"of size '{list(self.shape)}'. Please ensure that the gradient and the "
                    "tensor are the same size"
                )
            if value.dtype is not self.dtype:
                names = {"float32": "float", "float64": "double"}
                raise RuntimeError(
                    "attempting to assign a gradient with dtype "
                    f"'{names.get(value.dtype.name, value.dtype.name)}' to a tensor with "
                    f"grad_dtype '{names.get(self.dtype.name, self.dtype.name).capitalize()}'. "
                    "The gradient must match the tensor's grad_dtype (defaults to the tensor's "
                    "dtype)."
                )
        self._grad = value

    @grad.deleter
    def grad(self) -> None:
        self._grad = None  # torch's ``del x.grad`` is ``x.grad = None``

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    def retain_grad(self) -> None:
        """Ask backward to fill ``.grad`` on this non-leaf too (a no-op on leaves)."""
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        # a leaf by the history as last set is a no-op, as in torch; the hook then goes on
        # the history as it is now
        if self._grad_fn is not None and not self._retains_grad:
            node = self.grad_fn
            assert node is not None  # a history, once set, is only ever re-derived
            self._retains_grad = True
            if node._hooks is None:
                node._hooks = []
            node._hooks.append(_RetainGrad(self))

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> RemovableHandle:
        """Call ``hook(grad)`` when this tensor's gradient is computed; a result replaces it."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is None:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
        else:
            node = self.grad_fn
            if node._hooks is None:
                node._hooks = []
            hooks = node._hooks
        # tensor hooks run before retain_grad's, whatever the order of registration
        position = next(
            (i for i, h in enumerate(hooks) if isinstance(h, _RetainGrad)),
            len(hooks),
        )
        registration = _Hook(hook, hooks)
        hooks.insert(position, registration)
        return RemovableHandle(registration)

    def register_post_accumulate_grad_hook(self, hook: Callable[[Tensor], None]) -> RemovableHandle:
        """Call ``hook(self)`` each time backward has added a gradient into this leaf's
        ``.grad`` (an optimizer step in backward, say); ``autograd.grad`` never calls it."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            raise RuntimeError(
                "post accumulate grad hooks cannot be registered on non-leaf tensors"
            )
        if self._post_hooks is None:
            self._post_hooks = []
        registration = _Hook(hook, self._post_hooks)
        self._post_hooks.append(registration)
        return RemovableHandle(registration)

    def _node(self) -> Node | None:
        """The node a consumer's edge points to: grad_fn, the leaf's accumulator, or None:
        a constant, including a view that requires grad only through its base (torch gives
        such a view no accumulator, so no gradient reaches it or its base that way)."""
        fn = self._grad_fn if self._base is None else self.grad_fn
        if fn is not None:
            return fn
        return AccumulateGrad.of(self) if self._rg else None

    def backward(
        self,
        gradient: Tensor | None = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs: Any = None,
    ) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``."""
        if gradient is None and inputs is None and not create_graph:
            # ``loss.backward()``, the common call, without the general path's bookkeeping
            node, data = self._grad_fn, self._data
            if node is None or self._base is not None:
                node = self._node()
            if node is not None and data.size == 1:
                engine.run((node,), (autograd.one(data),), bool(retain_graph), False)
                return
        autograd.backward(self, gradient, retain_graph, create_graph, inputs=inputs)

    def _is_view(self) -> bool:
        """Torch's private check, which tests of gradient layouts call."""
        return bool(self._view_mode)

    def detach(self) -> Tensor:
        """The same data, cut from the graph; edits through either side are seen by both."""
        out = Tensor(self._data, version=self._vc)
        out._inference = "detached" if self._inference else False
        return out

    def detach_(self) -> Tensor:
        if self._view_mode:
            raise RuntimeError(
                "Can't detach views in-place. Use detach() instead. If you are using "
                "DistributedDataParallel (DDP) for training, and gradient_as_bucket_view is set "
                "as True, gradients are views of DDP buckets, and hence detach_() cannot be "
                "called on these gradients. To fix this error, please refer to the "
                "Optimizer.zero_grad() function in torch/optim/optimizer.py as the solution."
            )
        node = self.grad_fn
        if node is not None and node._hooks:
            # torch keeps a tensor's hooks with the tensor: once a leaf, they are its own
            mine = [h for h in node._hooks if isinstance(h, _Hook)]
            leaf_hooks = self._hooks if self._hooks is not None else []
            for hook in mine:
                leaf_hooks.append(hook)
                hook.homes.append(leaf_hooks)
            self._hooks = leaf_hooks or self._hooks
        self._grad_fn = None
        self._rg = False
        return self

    @property
    def data(self) -> Tensor:
        """The same storage with no autograd history and its own version counter."""
        out = Tensor(self._data)
        out._inference = "detached" if self._inference else False
        return out

    @data.setter
    def data(self, value: Tensor) -> None:
        """Any shape and dtype may come in (the version does not move), but a tensor that
        requires grad keeps a dtype that can have gradients."""
        if not isinstance(value, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(value).__name__}")
        if self.requires_grad and not value.dtype.is_floating_point:
            raise RuntimeError(
                "data set to a tensor that requires gradients must be floating point or complex "
                "dtype"
            )
        self._data = value._data

    @property
    def _version(self) -> int:
        """How many in-place changes this memory has seen (torch's private attribute)."""
        if self._inference is True:
            raise RuntimeError("Inference tensors do not track version counter.")
        return self._vc[0]

    # -- metadata and conversion -----------------------------------------------------------
    def stride(self, dim: int | None = None) -> Any:
        """The steps between elements, in elements (numpy counts bytes)."""
        steps = tuple(step // self._data.itemsize for step in self._data.strides)
        if dim is None:
            return steps
        if not -len(steps) <= dim < len(steps):
            raise IndexError(
                f"Dimension out of range (expected to be in range of "
                f"[{-len(steps)}, {len(steps) - 1}], but got {dim})"
            )
        return steps[dim]

    def is_contiguous(self) -> bool:
        return bool(self._data.flags.c_contiguous)

    @property
    def dtype(self) -> DType:
        return dtypes.from_numpy(self._data.dtype)

    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim: int | None = None) -> Any:
        return Size(self._data.shape) if dim is None else self._data.shape[dim]

    def dim(self) -> int:
        return self._data.ndim

    ndim = property(dim)

    def numel(self) -> int:
        return int(self._data.size)

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def item(self) -> Any:
        if self._data.size != 1:
            raise RuntimeError(
                f"a Tensor with {self._data.size} elements cannot be converted to Scalar"
            )
        return self._data.reshape(()).item()

    def tolist(self) -> Any:
        return self._data.tolist()

    def numpy(self) -> np.ndarray:
        """The memory itself; refused where it would leave the graph unseen: on a tensor
        that requires grad while grad mode is on (torch's own test)."""
        if self.requires_grad and state.grad_enabled:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                "instead."
            )
        return self._data

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self._data.reshape(()).item())

    def __repr__(self) -> str:
        from .printing import format_tensor

        extras = []
        try:
            fn = self.grad_fn
        except RuntimeError:  # a view whose history cannot be re-derived: torch prints this
            extras.append("grad_fn=<Invalid>")
        else:
            if fn is not None:
                extras.append(f"grad_fn=<{fn.node_name}>")
            elif self.requires_grad:
                extras.append("requires_grad=True")
        return format_tensor(self._data, self.dtype.name, extras)

    __str__ = __repr__

    def __hash__(self) -> int:
        return id(self)


class _RetainGrad:
    """The hook ``retain_grad`` installs: it stores the gradient in the tensor's ``.grad``."""

    __slots__ = ("tensor",)

    def __init__(self, tensor: Tensor) -> None:
        import weakref

        self.tensor = weakref.ref(tensor)

    def __call__(self, grad: Tensor) -> None:
        tensor = self.tensor()
        if tensor is None:
            return
        if tensor._grad is None:
            tensor._grad = Tensor(grad._data.copy()) if grad.grad_fn is None else grad.clone()
        else:
            tensor._grad = tensor._grad + grad  # a new tensor each time, unlike a leaf's .grad


# Last: autograd.py imports this module. Bound once here, not imported inside ``backward``.
from . import autograd, engine  # noqa: E402
