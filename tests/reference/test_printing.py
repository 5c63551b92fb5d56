"""reference.printing.format_tensor must reproduce torch's tensor repr byte for byte."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reference.printing import format_tensor

torch = pytest.importorskip("torch", reason="torch is the oracle these printing tests compare with")


def dtype_name(t):
    return str(t.dtype).removeprefix("torch.")


def extras_of(t):
    """The keyword parts the engine would hand over for `t`, in torch's order."""
    if t.grad_fn is not None:
        return [f"grad_fn=<{type(t.grad_fn).__name__}>"]
    return ["requires_grad=True"] if t.requires_grad else []


def check(t):
    got = format_tensor(t.detach().numpy(), dtype_name(t), extras_of(t))
    assert got == repr(t), f"\nours:\n{got}\ntorch:\n{t!r}"


inf, nan = math.inf, math.nan
f64, i32 = torch.float64, torch.int32

CASES = {
    # 0-d
    "scalar-int-valued": lambda: torch.tensor(11.0),
    "scalar-fixed": lambda: torch.tensor(1.5),
    "scalar-sci": lambda: torch.tensor(1e-5),
    "scalar-int": lambda: torch.tensor(7),
    "scalar-bool": lambda: torch.tensor(True),
    "scalar-nan": lambda: torch.tensor(nan),
    "scalar-neg-zero": lambda: torch.tensor(-0.0),
    "scalar-f64": lambda: torch.tensor(2.0, dtype=f64),
    # 1-d and number styles
    "int-valued": lambda: torch.tensor([1.0, 2.0, -3.0]),
    "fixed": lambda: torch.tensor([1.5, -2.25, 100.0]),
    "sci-small": lambda: torch.tensor([1e-5, 1.0]),
    "sci-ratio": lambda: torch.tensor([1.0, 1001.0]),
    "sci-huge": lambda: torch.tensor([1e9, 2e9]),
    "sci-int-valued": lambda: torch.tensor([1e10, -3.0]),
    "no-sci-ratio-1000": lambda: torch.tensor([0.5, 500.0]),
    "ints": lambda: torch.tensor([1, -20, 300]),
    "int32": lambda: torch.tensor([1, 2], dtype=i32),
    "bools": lambda: torch.tensor([True, False]),
    "nonfinite": lambda: torch.tensor([nan, inf, -inf, 1.5]),
    "nonfinite-only": lambda: torch.tensor([nan, -inf, 0.0]),
    "nonfinite-int-valued": lambda: torch.tensor([nan, inf, 2.0]),
    "zeros": lambda: torch.zeros(3),
    "neg-zero": lambda: torch.tensor([-0.0, 1.5]),
    "neg-zero-int-valued": lambda: torch.tensor([-0.0, 0.0, 1.0]),
    "f64-fixed": lambda: torch.tensor([0.1, 0.2], dtype=f64),
    "float32-rounding": lambda: torch.tensor([0.1, 1 / 3]),
    "denormal": lambda: torch.tensor([1e-40, 1.0]),
    # wrapping at linewidth 80
    "wrap-1d": lambda: torch.arange(40.0) / 3,
    "wrap-ints": lambda: torch.arange(100),
    "wrap-2d": lambda: (torch.arange(60.0) / 7).reshape(3, 20),
    "wrap-wide-values": lambda: torch.tensor([1e30] * 12, dtype=f64),
    # 2-d, 3-d, 4-d
    "2d": lambda: torch.ones(2, 2),
    "2d-mixed-width": lambda: torch.tensor([[1.0, -100.5], [3.25, 4.0]]),
    "3d": lambda: torch.arange(24).reshape(2, 3, 4),
    "4d": lambda: torch.arange(48.0).reshape(2, 2, 3, 4) - 20,
    "5d-bool": lambda: torch.arange(32).reshape(2, 2, 2, 2, 2) % 3 == 0,
    # empty
    "empty": lambda: torch.tensor([]),
    "empty-2d": lambda: torch.zeros(0, 2),
    "empty-3d": lambda: torch.zeros(2, 0, 3),
    "empty-int": lambda: torch.zeros(0, dtype=torch.int64),
    "empty-bool": lambda: torch.zeros(3, 0, dtype=torch.bool),
    "empty-f64": lambda: torch.zeros(0, dtype=f64),
    # summarisation (numel > 1000)
    "summ-1d": lambda: torch.arange(2000.0),
    "summ-1d-ints": lambda: torch.arange(1001),
    "not-summ-1000": lambda: torch.arange(1000),
    "summ-2d": lambda: torch.arange(10000.0).reshape(100, 100) / 3,
    "summ-2d-narrow": lambda: torch.arange(2000).reshape(1000, 2),
    "summ-2d-short": lambda: torch.arange(3000.0).reshape(2, 1500),
    "summ-3d": lambda: torch.arange(8000).reshape(20, 20, 20) - 4000,
    "summ-edges-decide-style": lambda: torch.cat(
        [torch.ones(3), torch.full((995,), 0.5), torch.ones(3)]
    ),
    "summ-f64": lambda: torch.linspace(-1e-3, 1e5, 1200, dtype=f64),
    # extras
    "requires-grad": lambda: torch.ones(2, 2, requires_grad=True),
    "grad-fn-f64": lambda: torch.tensor([1.0], dtype=f64, requires_grad=True) * 2,
    "grad-fn-scalar": lambda: torch.ones(3, requires_grad=True).mean(),
    "grad-fn-fits": lambda: torch.arange(14.0, requires_grad=True) / 3,
    "grad-fn-wraps": lambda: torch.arange(18.0, requires_grad=True) / 3,
    "grad-fn-wraps-2d": lambda: (
        (torch.arange(28.0, dtype=f64) / 3).reshape(2, 14).requires_grad_() + 1
    ),
    "requires-grad-empty": lambda: torch.zeros(0, 3, dtype=f64, requires_grad=True),
}


@pytest.mark.parametrize("name", CASES)
def test_matches_torch(name):
    check(CASES[name]())


def test_extras_given_directly():
    data = np.array([2.0])
    assert format_tensor(data, "float64", ["grad_fn=<MulBackward0>"]) == (
        "tensor([2.], dtype=torch.float64, grad_fn=<MulBackward0>)"
    )
    assert format_tensor(np.ones((2, 2), np.float32), "float32", ["requires_grad=True"]) == (
        "tensor([[1., 1.],\n        [1., 1.]], requires_grad=True)"
    )


# Value ranges a tensor's elements are drawn from; the formatter's choices hinge on them.
MAGNITUDES = {
    "tiny": st.floats(1e-12, 1e-3),
    "unit": st.floats(0.01, 100.0),
    "huge": st.floats(1e6, 1e30),
    "integer-valued": st.integers(-(10**9), 10**9).map(float),
    "small-integers": st.integers(-5, 5).map(float),
}


@st.composite
def float_elements(draw, width):
    pools = draw(st.lists(st.sampled_from(list(MAGNITUDES)), min_size=1, max_size=3))
    mag = st.one_of(*(MAGNITUDES[p] for p in pools))
    signed = st.tuples(mag, st.sampled_from([1.0, -1.0])).map(lambda p: p[0] * p[1])
    specials = st.sampled_from([0.0, -0.0, nan, inf, -inf])
    elems = st.one_of(signed, specials) if draw(st.booleans()) else signed
    return draw(elems.map(lambda x: float(np.float32(x)) if width == 32 else x))


@st.composite
def tensors(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=7))
    kind = draw(st.sampled_from(["float32", "float64", "int64", "int32", "bool"]))
    if kind.startswith("float"):
        elements = float_elements(32 if kind == "float32" else 64)
    elif kind == "bool":
        elements = st.booleans()
    else:
        bound = 2**31 - 1 if kind == "int32" else 2**63 - 1
        elements = st.one_of(st.integers(-9, 9), st.integers(-bound, bound))
    return torch.from_numpy(draw(hnp.arrays(np.dtype(kind), shape, elements=elements)))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tensors(), st.sampled_from(["plain", "leaf", "op"]))
def test_random_tensors_match_torch(t, grad):
    if grad != "plain" and t.dtype.is_floating_point:  # let torch place the extras as well
        t = t.clone().requires_grad_()
        t = t if grad == "leaf" else t * 1  # `* 1` keeps -0. and nan as they are
    check(t)
