"""Format tensors byte for byte like PyTorch's ``repr``.

The conformance harness compares what our engine prints with what torch prints, so the
reference engine's ``Tensor.__repr__`` must produce the same text without importing torch.
This module re-derives torch's rules (``torch/_tensor_str.py`` under the default print
options: precision 4, threshold 1000, edgeitems 3, linewidth 80) on top of numpy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PREFIX = "tensor("
PRECISION = 4
THRESHOLD = 1000  # more elements than this and only the edges of each dimension are shown
EDGEITEMS = 3
LINEWIDTH = 80
HIDDEN_DTYPES = frozenset({"float32", "int64", "bool"})  # torch's defaults, never named


class _Formatter:
    """One number style and one cell width, chosen from every (shown) element."""

    def __init__(self, data: np.ndarray) -> None:
        self.is_float = data.dtype.kind == "f"
        self.int_mode, self.sci_mode, self.width = True, False, 1
        if not self.is_float:
            self.width = max([1, *(len(str(v)) for v in data.ravel().tolist())])
            return
        # Only non-zero finite values decide the style and the width; zeros, nan and inf
        # are simply right-aligned in (or overflow) the width the others chose.
        flat = data.ravel().astype(np.float64)
        shown = flat[np.isfinite(flat) & (flat != 0)]
        if shown.size == 0:
            return
        lo, hi = np.abs(shown).min(), np.abs(shown).max()
        self.int_mode = bool(np.all(shown == np.ceil(shown)))
        with np.errstate(over="ignore"):
            self.sci_mode = bool(hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4)
        self.width = max(len(self._text(v)) for v in shown.tolist())

    def _text(self, value: float | int | bool) -> str:
        if not self.is_float:
            return str(value)
        if self.sci_mode:
            return f"{value:.{PRECISION}e}"
        if self.int_mode:  # integral floats print as `3.`; nan and inf get no dot
            return f"{value:.0f}" + ("." if np.isfinite(value) else "")
        return f"{value:.{PRECISION}f}"

    def __call__(self, value: float | int | bool) -> str:
        return self._text(value).rjust(self.width)


def _edges(data: np.ndarray) -> np.ndarray:
    """The elements a summarised print shows: the first and last EDGEITEMS of each axis."""
    for axis, n in enumerate(data.shape):
        if n > 2 * EDGEITEMS:
            data = np.take(data, [*range(EDGEITEMS), *range(n - EDGEITEMS, n)], axis=axis)
    return data


def _body(data: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    """The bracketed contents of `data`, whose opening bracket sits at column `indent`."""
    if data.ndim == 0:
        return fmt(data.item())
    n = data.shape[0]
    cut = summarize and n > 2 * EDGEITEMS
    if data.ndim == 1:
        if cut:
            items = [fmt(v) for v in data[:EDGEITEMS].tolist()] + [" ..."]
            items += [fmt(v) for v in data[-EDGEITEMS:].tolist()]
        else:
            items = [fmt(v) for v in data.tolist()]
        per_line = max(1, (LINEWIDTH - indent) // (fmt.width + 2))
        lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    rows = [*range(EDGEITEMS), None, *range(n - EDGEITEMS, n)] if cut else range(n)
    parts = ["..." if i is None else _body(data[i], indent + 1, summarize, fmt) for i in rows]
    # Sub-blocks are separated by one blank line per dimension below the rows' own.
    return "[" + ("," + "\n" * (data.ndim - 1) + " " * (indent + 1)).join(parts) + "]"


def _close(text: str, suffixes: Sequence[str], indent: int) -> str:
    """Append `, suffix` parts, each wrapped onto its own line when it would pass LINEWIDTH."""
    last = len(text) - text.rfind("\n") + 1  # torch's own (slightly generous) measure
    for suffix in suffixes:
        if last + len(suffix) + 2 > LINEWIDTH:
            text += ",\n" + " " * indent + suffix
            last = indent + len(suffix)
        else:
            text += ", " + suffix
            last += len(suffix) + 2
    return text + ")"


def format_tensor(data: np.ndarray, dtype_name: str, extras: Sequence[str] = ()) -> str:
    """Return torch's repr of a tensor holding `data`.

    `dtype_name` is torch's dtype name without ``torch.`` ('float32', 'float64', 'int64',
    'int32', 'bool'); `extras` are trailing keyword parts such as ``requires_grad=True`` or
    ``grad_fn=<MulBackward0>``, placed after the dtype part this function adds when torch would.
    """
    data = np.asarray(data).astype(dtype_name, copy=False)
    suffixes = []
    if data.size == 0:
        # Nothing to infer the shape or dtype from, so torch names them (bar the obvious).
        if data.ndim != 1:
            suffixes.append(f"size={tuple(data.shape)}")
        if dtype_name != "float32":
            suffixes.append(f"dtype=torch.{dtype_name}")
        body = "[]"
    else:
        if dtype_name not in HIDDEN_DTYPES:
            suffixes.append(f"dtype=torch.{dtype_name}")
        summarize = data.size > THRESHOLD
        fmt = _Formatter(_edges(data) if summarize else data)
        body = _body(data, len(PREFIX), summarize, fmt)
    return _close(PREFIX + body, [*suffixes, *extras], len(PREFIX))
