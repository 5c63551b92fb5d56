"""The fuzzer's feature groups: what `--tag` can focus a session on. Kept apart from the
generator so the CLI can list them without importing hypothesis."""

from __future__ import annotations

FEATURES = {
    "ops": "unary, scalar and elementwise binary ops",
    "broadcasting": "binary ops between different but compatible shapes",
    "matmul": "@ and matmul on 1-D and 2-D operands",
    "reductions": "sum and mean, with and without dim and keepdim",
    "views": "view, reshape, t, T, transpose, indexing",
    "grad_mode": "no_grad, enable_grad and set_grad_enabled blocks",
    "retain_graph": "repeated backward with and without retain_graph",
    "zero_grad": ".grad = None and .grad.zero_()",
    "retain_grad": "retain_grad() on non-leaves",
    "detach": "detach(), requires_grad_() and requires_grad = True",
    "dtypes": "float64 and int64 tensors besides float32",
    "errors": "misuses whose error must match (shapes, implicit grad, freed graphs)",
}
ALL_FEATURES = frozenset(FEATURES)
