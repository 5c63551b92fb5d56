"""The fuzzer's feature groups: what `--tag` can focus a session on. Kept apart from the
generator so the CLI can list them without importing hypothesis."""

from __future__ import annotations

from conformance import optable

FEATURES = {
    "ops": "unary, scalar and elementwise binary ops",
    "broadcasting": "binary ops between different but compatible shapes",
    "matmul": "@ and matmul on 1-D and 2-D operands",
    "reductions": "sum and mean, with and without dim and keepdim",
    "views": "view, reshape, t, T, transpose (3-d and 4-d too), indexing, stepped slices",
    "grad_mode": "no_grad, enable_grad, set_grad_enabled and inference_mode blocks, nested",
    "retain_graph": "repeated backward with and without retain_graph",
    "zero_grad": ".grad = None, .grad.zero_() and .grad = g (of the right shape and dtype, or not)",
    "retain_grad": "retain_grad() on non-leaves",
    "detach": "detach(), detach_(), requires_grad_(), requires_grad_(False) and "
    "requires_grad = True",
    "dtypes": "float64 and int64 tensors besides float32",
    "inplace": "add_, sub_, mul_, div_ and += -= *= /= on non-leaves, constants, views, bases "
    "of views and detached aliases, in and out of grad mode",
    "copy_slices": "in-place ops recorded through a view (torch's CopySlices): the view or "
    "the operand requires grad, grad mode on",
    "nograd_views": "views made under no_grad of tensors that require grad (and views of "
    "them), edited in and out of grad mode, and used after their memory was edited",
    "backward_inputs": "backward(inputs=...), autograd.backward(..., inputs=...) and "
    "autograd.grad on leaves and non-leaves, whose results are checked and edited in place",
    "edges": "ops at the edges of their domain on literals holding 0 and negatives: division "
    "by zero, log at 0, pow with a zero base and a tensor exponent, x ** 0, 0.0 ** x; inf and "
    "nan compared exactly",
    "data": ".data assignment (the old aliases keep the old values) and edits through .data "
    "(no version counter moves)",
    "held_grads": "gradients the caller holds: k = x.grad, then x.grad = None or an edit of k, "
    "and backward(g) with a named g edited later",
    "higher_order": "gradients with create_graph=True (autograd.grad), and ops, hooks, "
    "backward and further gradients through them",
    "errors": "misuses whose error must match (shapes, implicit grad, freed graphs)",
    "hooks": "tensor hooks on leaves and non-leaves that scale the gradient or keep it, "
    "and pre- and post-hooks on their grad_fn nodes that keep theirs, removed or not; the kept "
    "gradients checked and edited in place (zero_, mul_, add_)",
}
ALL_FEATURES = frozenset(FEATURES)

# Coverage labels (see `conformance.fuzz.ops`) that belong to a feature group other than "ops",
# beside the table's ops (`conformance.optable`: each op's `Fuzz.feature`).
_GROUPS = {
    "broadcast": "broadcasting",
    "keepdim": "reductions",
    "dims": "reductions",
    "slice:step": "views",
    "no_grad": "grad_mode",
    "enable_grad": "grad_mode",
    "set_grad_enabled(False)": "grad_mode",
    "set_grad_enabled(True)": "grad_mode",
    "inference_mode": "grad_mode",
    "inference_mode(False)": "grad_mode",
    "error:inference_inplace": "grad_mode",
    "retain_graph": "retain_graph",
    "freed_graph": "retain_graph",
    "zero_": "zero_grad",
    "grad=None": "zero_grad",
    "retain_grad": "retain_grad",
    "check:retains_grad": "retain_grad",
    "detach": "detach",
    "requires_grad_": "detach",
    "requires_grad_(False)": "detach",
    "detach_": "detach",
    "error:detach_view": "detach",
    "grad=": "zero_grad",
    "error:grad_shape": "zero_grad",
    "error:grad_dtype": "zero_grad",
    "add_": "inplace",
    "sub_": "inplace",
    "mul_": "inplace",
    "div_": "inplace",
    "augmented": "inplace",
    "inplace": "inplace",
    "copy_slices": "copy_slices",
    "modified_saved": "inplace",
    "nograd_view": "nograd_views",
    "nograd_view:of_view": "nograd_views",
    "nograd_view:edited": "nograd_views",
    "error:inplace_nograd_view": "nograd_views",
    "error:nograd_view_rebased": "nograd_views",
    "inplace:temp_view": "inplace",
    "backward(inputs)": "backward_inputs",
    "autograd.backward": "backward_inputs",
    "autograd.grad": "backward_inputs",
    "autograd.grad:edit": "backward_inputs",
    "inputs:leaf": "backward_inputs",
    "inputs:nonleaf": "backward_inputs",
    "inputs:unreached": "backward_inputs",
    "error:empty_inputs": "backward_inputs",
    "error:inputs_no_grad": "backward_inputs",
    "hook:scale": "hooks",
    "hook:record": "hooks",
    "hook:remove": "hooks",
    "hook:node_pre": "hooks",
    "hook:node_post": "hooks",
    "hook:kept": "hooks",
    "hook:edit_kept": "hooks",
    "float64": "dtypes",
    "leaf:zeros": "edges",
    "edge:div": "edges",
    "edge:rdiv": "edges",
    "edge:log": "edges",
    "edge:pow_tensor": "edges",
    "edge:pow_zero": "edges",
    "edge:rpow_zero": "edges",
    "data=": "data",
    "data=:aliased": "data",
    "data:edit": "data",
    "data:saved": "data",
    "backward:roots": "backward_inputs",
    "backward:shared": "backward_inputs",
    "grad:hold": "held_grads",
    "grad:hold_cleared": "held_grads",
    "grad:hold_edit": "held_grads",
    "backward(named gradient)": "held_grads",
    "int64": "dtypes",
    "create_graph": "higher_order",
}


def features_of(labels: frozenset[str]) -> frozenset[str]:
    """The feature groups a program's coverage labels belong to (for a spec's tags)."""
    groups = {**_GROUPS, **{op.name: op.fuzz.feature for op in optable.OPS}}
    found = {groups[label] for label in labels if label in groups}
    found |= {"errors" for label in labels if label.startswith("error:")}
    return frozenset(found)
