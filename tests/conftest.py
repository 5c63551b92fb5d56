"""Shared fixtures: every test must leave grad mode as it found it."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest
from hypothesis import settings

import reference

# No per-example deadline: it is a wall-clock assertion, and a busy machine trips it. CI draws
# the same examples on every run, so a red build is a regression and never an unlucky draw;
# locally hypothesis keeps exploring new examples.
settings.register_profile("local", deadline=None)
settings.register_profile(
    "ci", parent=settings.get_profile("local"), derandomize=True, print_blob=True
)
settings.load_profile("ci" if os.environ.get("CI") else "local")


@pytest.fixture(autouse=True)
def _no_grad_mode_leak() -> Iterator[None]:
    """Fail any test that leaves grad mode or inference mode changed (in reference or torch)."""
    torch = sys.modules.get("torch")
    before = (reference.is_grad_enabled(), reference.is_inference_mode_enabled())
    torch_before = torch.is_grad_enabled() if torch is not None else None
    yield
    after = (reference.is_grad_enabled(), reference.is_inference_mode_enabled())
    reference.grad_mode.state.grad_enabled, reference.grad_mode.state.inference = before
    assert after == before, f"test leaked reference grad mode: {before} -> {after}"
    torch = sys.modules.get("torch")
    if torch is not None and torch_before is not None:
        leaked = torch.is_grad_enabled()
        torch.set_grad_enabled(torch_before)
        assert leaked == torch_before, "test leaked torch grad mode"
