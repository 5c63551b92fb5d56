"""The engine benchmark's workloads, each on reference, torch (CPU eager), numpy by hand and
the bare engine (``bare_engine.py``).

``make(workload, library)`` builds the inputs once and returns a ``Workload`` whose ``step()``
is one forward plus backward, the part that is timed; ``reset()`` drops the gradients a step
left, so the next step starts as the first did. Every library sees the same float32 data.
The numpy versions are the floor: what a careful programmer writes by hand, with the
backward pass derived on paper.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

WORKLOADS = ("chain_2x2", "chain_1000x1000", "mlp")
LIBRARIES = ("numpy", "torch", "reference", "bare")
DESCRIPTIONS = {
    "chain_2x2": "y = x + 2; z = (y * y + 2).mean(); z.backward() on a 2x2 float32 x",
    "chain_1000x1000": "the same chain on a 1000x1000 float32 x",
    "mlp": "X 256x512 @ W1 512x512, tanh, @ W2 512x10, mean of squares; backward into W1, W2",
}


@dataclass(frozen=True)
class Workload:
    """One forward+backward (``step``) and how to start afresh after one (``reset``)."""

    step: Callable[[], Any]
    reset: Callable[[], None]


def data(workload: str) -> dict[str, np.ndarray]:
    """The inputs, the same for every library."""
    rng = np.random.default_rng(0)
    if workload == "chain_2x2":
        return {"x": np.ones((2, 2), np.float32)}
    if workload == "chain_1000x1000":
        return {"x": rng.standard_normal((1000, 1000)).astype(np.float32)}
    if workload == "mlp":
        return {
            "X": rng.standard_normal((256, 512)).astype(np.float32),
            "W1": (rng.standard_normal((512, 512)) / 512**0.5).astype(np.float32),
            "W2": (rng.standard_normal((512, 10)) / 512**0.5).astype(np.float32),
        }
    raise ValueError(f"unknown workload {workload!r}; choose from {', '.join(WORKLOADS)}")


def make(workload: str, library: str) -> Workload:
    """``workload`` on ``library`` ("numpy", "torch" or "reference"), ready to step."""
    inputs = data(workload)
    if library == "numpy":
        return Workload(_numpy_step(workload, inputs), lambda: None)
    lib = _module(library)
    if workload.startswith("chain"):
        x = lib.tensor(inputs["x"], requires_grad=True)

        def chain() -> Any:
            y = x + 2
            z = (y * y + 2).mean()
            z.backward()
            return x.grad

        def reset_chain() -> None:
            x.grad = None  # as zero_grad(set_to_none=True) does between steps

        return Workload(chain, reset_chain)
    X = lib.tensor(inputs["X"])
    W1 = lib.tensor(inputs["W1"], requires_grad=True)
    W2 = lib.tensor(inputs["W2"], requires_grad=True)

    def mlp() -> Any:
        h = lib.tanh(X @ W1)
        out = h @ W2
        loss = (out * out).mean()
        loss.backward()
        return W1.grad, W2.grad

    def reset_mlp() -> None:
        W1.grad = W2.grad = None

    return Workload(mlp, reset_mlp)


def _module(library: str) -> Any:
    if library == "reference":
        import reference

        return reference
    if library == "torch":
        import torch

        return torch
    if library == "bare":
        from benchmarks import bare_engine

        return bare_engine
    raise ValueError(f"unknown library {library!r}; choose from {', '.join(LIBRARIES)}")


def _numpy_step(workload: str, inputs: dict[str, np.ndarray]) -> Callable[[], Any]:
    if workload.startswith("chain"):
        x = inputs["x"]

        def chain() -> Any:
            y = x + 2
            z = (y * y + 2).mean()
            return z, y * np.float32(2 / y.size)  # dz/dx = 2 y / n

        return chain
    X, W1, W2 = inputs["X"], inputs["W1"], inputs["W2"]

    def mlp() -> Any:
        h = np.tanh(X @ W1)
        out = h @ W2
        loss = (out * out).mean()
        g_out = out * np.float32(2 / out.size)
        g_W2 = h.T @ g_out
        g_W1 = X.T @ ((g_out @ W2.T) * (1 - h * h))
        return loss, g_W1, g_W2

    return mlp
