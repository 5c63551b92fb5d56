"""The broken-backend catalogue (tests/conformance/fixtures/broken_*.py) is what the suite's
power is measured on (benchmarks/kill_rate.py), so each module must be what it claims: broken
somewhere, which a tiny spec aimed at its bug shows, and torch everywhere else, which the
tutorial's specs show (less the few that the bug itself reaches, listed with it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from conformance.backends import resolve_backend
from conformance.run.results import Status
from conformance.run.runner import Runner, TimingOptions
from conformance.spec import find_spec_files, load_spec, load_specs

pytest.importorskip("torch")

FIXTURES = Path(__file__).parent / "fixtures"
TUTORIAL = Path(__file__).resolve().parents[2] / "specs" / "tutorial"
NONE: frozenset[str] = frozenset()

# module -> (the steps of a spec that its bug fails, the tutorial scenarios the bug reaches)
CATALOGUE: dict[str, tuple[str, frozenset[str]]] = {
    "broken_accumulate": (
        """\
  - x = ones(2, requires_grad=True)
  - (x * 2).sum().backward()
  - (x * 3).sum().backward()
  - expect: x.grad
    value: [5.0, 5.0]
""",
        frozenset(
            {
                "tutorial.document",
                "tutorial.in33_hidden_backward",
                "tutorial.in33_not_z_again",
                "tutorial.in34_accumulation",
                "tutorial.in35_grad_data_zero",
            }
        ),
    ),
    "broken_augmented_assignment": (
        """\
  - x = ones(2)
  - y = x
  - x += 1
  - expect: y
    value: [2.0, 2.0]
""",
        NONE,
    ),
    "broken_backward_inputs": (
        """\
  - x = ones(2, requires_grad=True)
  - w = ones(2, requires_grad=True)
  - (x * w).sum().backward(inputs=[x])
  - expect: w.grad
    is_none: true
""",
        NONE,
    ),
    "broken_broadcast": (
        """\
  - a = ones(3, requires_grad=True)
  - (a * ones(2, 3)).sum().backward()
  - expect: a.grad
    value: [2.0, 2.0, 2.0]
""",
        NONE,
    ),
    "broken_hooks": (
        """\
  - x = ones(2, requires_grad=True)
  - h = x.register_hook(scale(2))
  - (x * 3).sum().backward()
  - expect: x.grad
    value: [6.0, 6.0]
""",
        NONE,
    ),
    "broken_inplace_views": (
        """\
  - x = ones(2)
  - v = x[0:1]
  - x.add_(1)
  - expect: v
    value: [2.0]
""",
        NONE,
    ),
    "broken_no_grad": (
        """\
  - |
    with no_grad():
        a = ones(1)
  - expect: is_grad_enabled()
    value: true
""",
        frozenset({"tutorial.document", "tutorial.in38_no_grad", "tutorial.in39_no_grad_constant"}),
    ),
    "broken_nograd_views": (
        """\
  - x = ones(2, requires_grad=True)
  - y = x * 1
  - |
    with no_grad():
        v = y[0:1]
  - raises: RuntimeError
    match: "created in no_grad mode"
    run: v.mul_(2)
""",
        NONE,
    ),
    "broken_nonleaf_grad": (
        """\
  - x = ones(2, requires_grad=True)
  - y = x * 2
  - y.sum().backward()
  - expect: y.retains_grad
    value: false
""",
        frozenset({"tutorial.document", "tutorial.in32_backward"}),
    ),
    "broken_reduction_dim": (
        """\
  - x = ones(2, 3, requires_grad=True)
  - x.mean(1).sum().backward()
  - expect: x.grad
    value: [[0.3333333, 0.3333333, 0.3333333], [0.3333333, 0.3333333, 0.3333333]]
""",
        NONE,
    ),
    "broken_retain_graph": (
        """\
  - x = ones(2, requires_grad=True)
  - y = (x * x).sum()
  - y.backward()
  - raises: RuntimeError
    match: "backward through the graph a second time"
    run: y.backward()
""",
        frozenset({"tutorial.in33_not_z_again"}),
    ),
    "broken_version_counter": (
        """\
  - x = ones(2, requires_grad=True)
  - c = ones(2)
  - y = x * c
  - |
    with no_grad():
        c.mul_(2)
  - raises: RuntimeError
    match: "modified by an inplace operation"
    run: y.sum().backward()
""",
        NONE,
    ),
    "broken_broadcast_size_one": (
        """\
  - a = ones(2, 1, requires_grad=True)
  - (a + ones(2, 3)).sum().backward()
  - expect: a.grad
    value: [[3.0], [3.0]]
""",
        NONE,
    ),
    "broken_negative_dim": (
        """\
  - x = tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
  - (x.sum(dim=-1) * tensor([1.0, 10.0])).sum().backward()
  - expect: x.grad
    value: [[1.0, 1.0], [10.0, 10.0]]
""",
        NONE,
    ),
    "broken_stepped_slice": (
        """\
  - x = tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
  - x[::2].sum().backward()
  - expect: x.grad
    value: [1.0, 0.0, 1.0, 0.0]
""",
        NONE,
    ),
    "broken_transpose_nd": (
        """\
  - x = ones(2, 2, 2, requires_grad=True)
  - w = tensor([[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]])
  - (x.transpose(0, 1) * w).sum().backward()
  - expect: x.grad
    value: [[[1.0, 2.0], [5.0, 6.0]], [[3.0, 4.0], [7.0, 8.0]]]
""",
        NONE,
    ),
    "broken_matvec": (
        """\
  - A = tensor([[1.0, 2.0], [3.0, 4.0]])
  - v = ones(2, requires_grad=True)
  - (A @ v).sum().backward()
  - expect: v.grad
    value: [4.0, 6.0]
""",
        NONE,
    ),
    "broken_div_zero": (
        """\
  - a = tensor([1.0, 1.0], requires_grad=True)
  - b = tensor([0.0, 2.0], requires_grad=True)
  - (a / b).sum().backward()
  - expect: a.grad
  - expect: b.grad
""",
        NONE,
    ),
    "broken_log_zero": (
        """\
  - x = tensor([0.0, 1.0], requires_grad=True)
  - x.log().sum().backward()
  - expect: x.grad
""",
        NONE,
    ),
    "broken_pow_zero_base": (
        """\
  - e = tensor([2.0, 2.0], requires_grad=True)
  - (tensor([0.0, 2.0]) ** e).sum().backward()
  - expect: e.grad
""",
        NONE,
    ),
    "broken_pow_zero_exponent": (
        """\
  - x = tensor([0.0, 2.0], requires_grad=True)
  - (x ** 0).sum().backward()
  - expect: x.grad
    value: [0.0, 0.0]
""",
        NONE,
    ),
    "broken_rsub_sign": (
        """\
  - x = ones(2, requires_grad=True)
  - (2 - x).sum().backward()
  - expect: x.grad
    value: [-1.0, -1.0]
""",
        NONE,
    ),
    "broken_relu_at_zero": (
        """\
  - x = tensor([-1.0, 0.0, 2.0], requires_grad=True)
  - x.relu().sum().backward()
  - expect: x.grad
    value: [0.0, 0.0, 1.0]
""",
        NONE,
    ),
    "broken_grad_none_reuse": (
        """\
  - x = ones(2, requires_grad=True)
  - (x * 2).sum().backward()
  - g = x.grad
  - x.grad = None
  - (x * 3).sum().backward()
  - expect: g
    value: [2.0, 2.0]
""",
        NONE,
    ),
    "broken_steal_grad": (
        """\
  - x = ones(2, requires_grad=True)
  - v = tensor([1.0, 2.0])
  - (x * 1).backward(v)
  - v.mul_(10)
  - expect: x.grad
    value: [1.0, 2.0]
""",
        NONE,
    ),
    "broken_grad_layout": (
        """\
  - a = ones(3, 2).t()
  - a.requires_grad_()
  - (a * 2).sum().backward()
  - raises: RuntimeError
    match: "view size is not compatible"
    run: g = a.grad.view(6)
""",
        NONE,
    ),
    "broken_reshape_names": (
        """\
  - x = ones(2, 3, requires_grad=True)
  - expect: x.t().reshape(6)
    grad_fn: UnsafeViewBackward0
""",
        NONE,
    ),
    "broken_dtype_left_wins": (
        """\
  - expect: ones(2) + ones(2, dtype=float64)
    dtype: float64
""",
        NONE,
    ),
    "broken_zero_dim_promotion": (
        """\
  - expect: ones(2) * tensor(2.0, dtype=float64)
    dtype: float32
""",
        NONE,
    ),
    "broken_multi_root": (
        """\
  - x = ones(2, requires_grad=True)
  - h = x * x
  - autograd.backward([h.sum(), (h * 2).sum()])
  - expect: x.grad
    value: [6.0, 6.0]
""",
        NONE,
    ),
    "broken_grad_retain_default": (
        """\
  - x = tensor(2.0, requires_grad=True)
  - y = x * x * x
  - g, = autograd.grad(y, [x], create_graph=True)
  - g.backward()
  - expect: x.grad
    value: 12.0
""",
        NONE,
    ),
    "broken_grad_side_effects": (
        """\
  - x = ones(2, requires_grad=True)
  - w = ones(2, requires_grad=True)
  - g, = autograd.grad((x * w).sum(), [x])
  - expect: w.grad
    is_none: true
""",
        NONE,
    ),
    "broken_allow_unused_zeros": (
        """\
  - x = ones(2, requires_grad=True)
  - w = ones(2, requires_grad=True)
  - gx, gw = autograd.grad((x * 2).sum(), [x, w], allow_unused=True)
  - expect: gw
    is_none: true
""",
        NONE,
    ),
    "broken_post_accumulate_on_grad": (
        """\
  - x = ones(2, requires_grad=True)
  - h = x.register_post_accumulate_grad_hook(record(leaves))
  - g = autograd.grad((x * 2).sum(), x)
  - expect: len(leaves)
    value: 0
""",
        NONE,
    ),
    "broken_retain_grad_overwrite": (
        """\
  - x = ones(2, requires_grad=True)
  - y = x * 2
  - y.retain_grad()
  - y.sum().backward(retain_graph=True)
  - y.sum().backward()
  - expect: y.grad
    value: [2.0, 2.0]
""",
        NONE,
    ),
    "broken_requires_grad_left": (
        """\
  - c = tensor([2.0, 3.0])
  - x = ones(2, requires_grad=True)
  - (c * x).sum().backward()
  - expect: x.grad
    value: [2.0, 3.0]
""",
        NONE,
    ),
    "broken_inplace_leaf_zero": (
        """\
  - x = ones(2, requires_grad=True)
  - raises: RuntimeError
    match: "leaf Variable that requires grad"
    run: x.zero_()
""",
        NONE,
    ),
    "broken_nested_no_grad": (
        """\
  - |
    with no_grad():
        with no_grad():
            a = ones(1)
        b = is_grad_enabled()
  - expect: b
    value: false
""",
        NONE,
    ),
    "broken_set_grad_enabled_toggle": (
        """\
  - |
    with no_grad():
        with set_grad_enabled(False):
            a = ones(1)
        b = is_grad_enabled()
  - expect: b
    value: false
""",
        NONE,
    ),
    "broken_inference_mode_flag": (
        """\
  - |
    with inference_mode(False):
        y = ones(2) * 2
  - expect: y.is_inference()
    value: false
""",
        NONE,
    ),
    "broken_inference_inplace": (
        """\
  - |
    with inference_mode():
        t = ones(2)
  - raises: RuntimeError
    match: "Inplace update to inference tensor outside InferenceMode"
    run: t.add_(1)
""",
        NONE,
    ),
    "broken_detach_version": (
        """\
  - a = ones(2, requires_grad=True)
  - b = a * 1
  - c = b * b
  - b.detach().mul_(2)
  - raises: RuntimeError
    match: "modified by an inplace operation"
    run: c.sum().backward()
""",
        NONE,
    ),
    "broken_data_assign": (
        """\
  - x = ones(2, requires_grad=True)
  - v = x.detach()
  - x.data = tensor([5.0, 6.0])
  - expect: v
    value: [1.0, 1.0]
""",
        NONE,
    ),
    "broken_data_version": (
        """\
  - x = ones(2, requires_grad=True)
  - y = x * 1
  - z = y * y
  - y.data.mul_(2)
  - z.sum().backward()
  - expect: x.grad
    value: [4.0, 4.0]
""",
        NONE,
    ),
    "broken_hook_order": (
        """\
  - x = ones(2, requires_grad=True)
  - y = x * 1
  - h1 = y.register_hook(scale(2))
  - h2 = y.register_hook(record(seen))
  - y.sum().backward()
  - expect: seen[0]
    value: [2.0, 2.0]
""",
        NONE,
    ),
    "broken_hook_remove_all": (
        """\
  - x = ones(2, requires_grad=True)
  - h1 = x.register_hook(scale(2))
  - h2 = x.register_hook(scale(3))
  - h1.remove()
  - (x * 1).sum().backward()
  - expect: x.grad
    value: [3.0, 3.0]
""",
        NONE,
    ),
    "broken_retain_graph_root": (
        """\
  - x = ones(2, requires_grad=True)
  - s = (x + 1).sum()
  - s.backward()
  - s.backward()
  - expect: x.grad
    value: [2.0, 2.0]
""",
        frozenset(
            {"tutorial.document", "tutorial.in34_accumulation", "tutorial.in35_grad_data_zero"}
        ),
    ),
    "broken_accumulate_rebind": (
        """\
  - x = ones(2, requires_grad=True)
  - (x * 2).sum().backward()
  - g = x.grad
  - (x * 3).sum().backward()
  - expect: g
    value: [5.0, 5.0]
""",
        NONE,
    ),
    "broken_int_requires_grad": (
        """\
  - a = tensor([1, 2])
  - raises: RuntimeError
    match: "floating point"
    run: a.requires_grad_()
""",
        NONE,
    ),
    "broken_backward_gradient_broadcast": (
        """\
  - x = ones(2, 2, requires_grad=True)
  - y = x * 2
  - raises: RuntimeError
    match: "Mismatch in shape"
    run: y.backward(ones(2))
""",
        NONE,
    ),
    "broken_tensor_hooks_as_node_hooks": (
        """\
  - x = ones(2, requires_grad=True)
  - y = x * 2
  - h1 = y.grad_fn.register_prehook(record(pre))
  - h2 = y.register_hook(scale(3))
  - y.sum().backward()
  - expect: pre[0][0]
    value: [3.0, 3.0]
""",
        NONE,
    ),
}

HEADER = """\
spec: 1
id: catalogue.{module}
title: "{module}'s bug"
tags: [catalogue]
requires: []
source: tests
rationale: aims at the one bug of the module
steps:
"""


def _modules() -> list[str]:
    return sorted(path.stem for path in FIXTURES.glob("broken_*.py"))


def _runner() -> Runner:
    return Runner(resolve_backend("torch-cpu"), TimingOptions(0, 0))


def test_every_catalogue_module_has_an_entry() -> None:
    missing = [module for module in _modules() if module not in CATALOGUE]
    assert not missing, f"add a spec aimed at each new module's bug to CATALOGUE: {missing}"
    assert len(CATALOGUE) >= 40


@pytest.fixture(params=sorted(CATALOGUE))
def module(request: pytest.FixtureRequest, broken_modules: Path) -> str:
    name = str(request.param)
    if not (broken_modules / f"{name}.py").exists():
        pytest.skip(f"{name}.py is not in this checkout")
    return name


def test_the_module_has_its_one_bug(
    module: str, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    path = tmp_path / f"{module}.yaml"
    path.write_text(HEADER.format(module=module) + CATALOGUE[module][0], encoding="utf-8")
    scenario = load_spec(path)
    runner = _runner()
    on_torch = runner.run(scenario, resolve_backend("torch-cpu"))
    assert on_torch.status is Status.PASS, on_torch.report()
    broken = runner.run(scenario, resolve_backend(f"torchlike:{module}"))
    assert broken.status in (Status.FAIL, Status.ERROR), f"{module} passes its own spec"


def test_the_module_is_torch_otherwise(module: str) -> None:
    scenarios = load_specs(find_spec_files([str(TUTORIAL)]))
    reached = CATALOGUE[module][1]
    assert reached <= {scenario.id for scenario in scenarios}
    results = _runner().run_all(scenarios, [resolve_backend(f"torchlike:{module}")])
    failing = {r.scenario.id for r in results if r.status is not Status.PASS}
    assert failing == reached, {
        r.scenario.id: r.report() for r in results if r.scenario.id in failing ^ reached
    }
