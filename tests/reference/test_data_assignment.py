"""`.data` assignment against torch: a saved input is the tensor itself, so backward reads the
data assigned since; a saved output is kept apart and keeps the old data. No version moves."""

from __future__ import annotations

from typing import Any

import pytest

import reference

torch = pytest.importorskip("torch", reason="torch is the oracle")


def saved_input(lib: Any) -> list[float]:
    x = lib.ones(2, requires_grad=True)
    p = x * x
    x.data = lib.tensor([3.0, 4.0])
    p.sum().backward()
    return x.grad.tolist()


def saved_input_storage_edited(lib: Any) -> list[float]:
    x = lib.ones(2, requires_grad=True)
    p = x * x
    t = lib.tensor([3.0, 4.0])
    x.data = t
    t.add_(1)
    p.sum().backward()
    return x.grad.tolist()


def saved_output(lib: Any) -> list[float]:
    x = lib.ones(2, requires_grad=True)
    a = x.exp()
    a.data = lib.tensor([3.0, 4.0])
    a.sum().backward()
    return x.grad.tolist()


def saved_nonleaf_input(lib: Any) -> list[float]:
    x = lib.ones(2, requires_grad=True)
    y = x * 1
    p = y * y
    y.data = lib.tensor([3.0, 4.0])
    p.sum().backward()
    return x.grad.tolist()


@pytest.mark.parametrize(
    "program", [saved_input, saved_input_storage_edited, saved_output, saved_nonleaf_input]
)
def test_backward_after_data_assignment_matches_torch(program: Any) -> None:
    assert program(reference) == pytest.approx(program(torch))


def test_stride_and_is_contiguous_match_torch() -> None:
    for lib in (reference, torch):
        assert lib.zeros(3, 2).t().stride() == (1, 2)
        assert lib.zeros(4, 4)[:, ::2].stride() == (4, 2)
        assert lib.zeros(4, 4)[:, ::2].stride(-1) == 2
        assert not lib.zeros(3, 2).t().is_contiguous()
        assert lib.zeros(2, 3).is_contiguous()
