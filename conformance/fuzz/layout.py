"""Strides, as torch lays a tensor out: which views are possible, and whether `reshape` returns
a view (sharing memory, so an in-place edit of either is seen by the other) or a copy.

Offsets are left out: they change neither contiguity nor what `view` accepts.
"""

from __future__ import annotations

Shape = tuple[int, ...]


def contiguous(shape: Shape) -> Shape:
    """Row-major strides, in elements."""
    strides = []
    step = 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def is_contiguous(shape: Shape, strides: Shape) -> bool:
    """torch's `is_contiguous()`: size-1 dims may have any stride."""
    expected = 1
    for size, stride in zip(reversed(shape), reversed(strides)):
        if size != 1:
            if stride != expected:
                return False
            expected *= size
    return True


def view_strides(shape: Shape, strides: Shape, new: Shape) -> Shape | None:
    """The strides `view(new)` gives, or None where torch's `view` refuses and `reshape` copies
    (ATen's `computeStride`). Every size is at least 1 here."""
    if not shape:
        return tuple(1 for _ in new)
    result = [0] * len(new)
    view_d = len(new) - 1
    chunk_base_stride = strides[-1]
    tensor_numel = 1
    view_numel = 1
    for tensor_d in range(len(shape) - 1, -1, -1):
        tensor_numel *= shape[tensor_d]
        if tensor_d == 0 or (
            shape[tensor_d - 1] != 1 and strides[tensor_d - 1] != tensor_numel * chunk_base_stride
        ):
            while view_d >= 0 and (view_numel < tensor_numel or new[view_d] == 1):
                result[view_d] = view_numel * chunk_base_stride
                view_numel *= new[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if tensor_d > 0:
                chunk_base_stride = strides[tensor_d - 1]
                tensor_numel = 1
                view_numel = 1
    if view_d != -1:
        return None
    return tuple(result)


def swapped(strides: Shape, d0: int, d1: int) -> Shape:
    out = list(strides)
    out[d0], out[d1] = out[d1], out[d0]
    return tuple(out)


def dropped(strides: Shape, dim: int) -> Shape:
    return strides[:dim] + strides[dim + 1 :]
