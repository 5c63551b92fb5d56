"""The one diff function: count or shape, then dtype, then values, with torch's tolerances."""

from __future__ import annotations

import numpy as np
import pytest

from conformance.errors import Location
from conformance.run.diff import Where, diff
from conformance.run.values import DTypeValue, NodeValue, Opaque

WHERE = Where("tutorial.accumulation", "torch-cpu", Location("specs/a.yaml", 14))


def check(expected: object, got: object, **options: object):  # type: ignore[no-untyped-def]
    return diff(expected, got, where=WHERE, path="x.grad", **options)  # type: ignore[arg-type]


def test_a_value_mismatch_names_scenario_step_path_tolerance_and_count() -> None:
    got = np.array([[1.0, 1.0], [0.5, 1.0]], dtype=np.float32)
    mismatch = check(((1.0, 1.0), (1.0, 2.0)), got)
    assert mismatch is not None
    assert mismatch.message() == (
        "tutorial.accumulation [torch-cpu] specs/a.yaml:14: x.grad: values differ\n"
        "    expected: [[1., 1.],\n"
        "               [1., 2.]]\n"
        "    got:      [[1. , 1. ],\n"
        "               [0.5, 1. ]]\n"
        "    2 of 4 elements differ (rtol=1.3e-06, atol=1e-05 for float32); "
        "worst at x.grad[1, 1]: expected 2.0, got 1.0"
    )


def test_shape_is_checked_before_dtype_and_values() -> None:
    mismatch = check(np.zeros((2, 2), np.float64), np.ones(4, np.float32))
    assert mismatch is not None
    assert (mismatch.problem, mismatch.expected, mismatch.got) == (
        "shape differs",
        "(2, 2)",
        "(4,)",
    )


def test_dtype_is_checked_for_backend_values_before_values() -> None:
    mismatch = check(np.zeros(3, np.float64), np.ones(3, np.float32), expected_from="torch-cpu")
    assert mismatch is not None
    assert (mismatch.problem, mismatch.expected, mismatch.got) == (
        "dtype differs",
        "float64",
        "float32",
    )
    assert (
        "    expected (torch-cpu): float64\n    got:                  float32" in mismatch.message()
    )


def test_plain_spec_data_has_no_dtype_to_check() -> None:
    assert check((1, 2), np.array([1.0, 2.0], np.float32)) is None
    assert check(True, np.array(True)) is None


@pytest.mark.parametrize(
    ("dtype", "delta", "agrees"),
    [
        ("float32", 1.3e-4, True),  # within atol 1e-5 + rtol 1.3e-6 * 100
        ("float32", 2e-4, False),
        ("float64", 1e-5, True),  # within 1e-7 + 1e-7 * 100
        ("float64", 2e-5, False),
    ],
)
def test_default_tolerances_follow_torch_testing(dtype: str, delta: float, agrees: bool) -> None:
    got = np.array([100.0 + delta], dtype=np.float64).astype(dtype)
    assert (check((100.0,), got) is None) is agrees


def test_tolerance_overrides_replace_the_defaults() -> None:
    got = np.array([1.01], np.float32)
    assert check((1.0,), got) is not None
    assert check((1.0,), got, rtol=0.02) is None
    mismatch = check((1.0,), got, atol=1e-3)
    assert mismatch is not None and "rtol=1.3e-06, atol=0.001 for float32" in mismatch.detail


def test_integers_and_booleans_compare_exactly() -> None:
    mismatch = check((1, 2), np.array([1, 3], np.int64))
    assert mismatch is not None and "1 of 2 elements differs (exact for int64)" in mismatch.detail
    assert check((True, False), np.array([True, True])) is not None


def test_python_values_compare_by_value_and_type() -> None:
    assert check(2.0, 2.0 + 1e-9) is None
    assert check(2.0, 2.001) is not None
    assert check(3, 3) is None
    mismatch = check(True, np.bool_(True).item() + 0)  # an int 1 is not the bool True
    assert mismatch is not None and mismatch.got == "1 (int)"
    assert check(False, None) is not None


def test_none_and_tensors_are_told_apart() -> None:
    mismatch = check(((1.0,),), None)
    assert mismatch is not None and mismatch.got == "None"
    mismatch = check(None, np.zeros((2, 2), np.float32))
    assert mismatch is not None and mismatch.got == "a float32 tensor of shape (2, 2)"


def test_sequences_check_length_then_each_item_with_its_path() -> None:
    got = (np.array([1.0], np.float32), np.array([5.0], np.float32))
    mismatch = check(((1.0,), (2.0,)), got)
    assert mismatch is not None and mismatch.path == "x.grad[1]"
    mismatch = check(((1.0,),), got)
    assert mismatch is not None
    assert (mismatch.problem, mismatch.expected, mismatch.got) == ("length differs", "1", "2")


def test_nan_agrees_with_nan() -> None:
    assert check((float("nan"),), np.array([np.nan], np.float32)) is None
    assert check((1.0,), np.array([np.nan], np.float32)) is not None


def test_named_values_compare_by_name() -> None:
    assert check(DTypeValue("float32"), DTypeValue("float32")) is None
    assert check(DTypeValue("float32"), DTypeValue("float64")) is not None
    assert check(NodeValue("AddBackward0"), NodeValue("MulBackward0")) is not None
    assert check(Opaque("RemovableHandle"), Opaque("Handle")) is None
