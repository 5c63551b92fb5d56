"""The harness catches real autograd bugs: each broken torch-shaped fixture fails exactly the
scenarios about its bug, with a diff that says what went wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.backends import resolve_backend
from conformance.run.results import Status
from conformance.run.runner import Runner, TimingOptions
from conformance.spec import find_spec_files, load_specs

torch = pytest.importorskip("torch")
SUITE = Path(__file__).parent / "data" / "pass"

# fixture module -> {scenario it breaks: (status, fragments of the report)}
BROKEN = {
    "broken_accumulate": {
        "harness.accumulation": (
            Status.FAIL,
            [
                "x.grad: values differ",
                "expected: [[4., 4.],",
                "got:      [[3., 3.],",
                "4 of 4 elements differ",
                "worst at x.grad[0, 0]: expected 4.0, got 3.0",
            ],
        ),
        "harness.cross_accumulate": (
            Status.FAIL,
            ["x.grad: values differ", "expected (torch-cpu):", "6 of 6 elements differ"],
        ),
        "harness.second_backward": (Status.FAIL, ["x.grad: differs", "got:      None"]),
    },
    "broken_no_grad": {
        "harness.no_grad": (
            Status.ERROR,
            [
                "y3.requires_grad: differs",
                "expected: True (bool)",
                "got:      False (bool)",
                "is_grad_enabled(): differs",
                "RuntimeError: element 0 of tensors does not require grad",
            ],
        ),
    },
    "broken_nonleaf_grad": {
        "harness.nonleaf_grad": (
            Status.FAIL,
            [
                "y.grad: did not warn as expected",
                "expected: UserWarning matching 'not a leaf Tensor'",
                "y.grad is None: differs",
            ],
        ),
    },
    "broken_retain_graph": {
        "harness.second_backward": (
            Status.FAIL,
            [
                "z.backward(): raised nothing",
                "expected: RuntimeError matching 'backward through the graph a second time'",
                "got:      no exception",
            ],
        ),
    },
}


@pytest.mark.parametrize("module", list(BROKEN))
def test_each_broken_module_fails_exactly_the_scenarios_about_its_bug(
    broken_modules: Path, module: str
) -> None:
    scenarios = load_specs(find_spec_files([str(SUITE)]))
    torch_cpu = resolve_backend("torch-cpu")
    results = Runner(torch_cpu, TimingOptions(0, 0)).run_all(
        scenarios, [resolve_backend(f"torchlike:{module}")]
    )
    broken = {result.scenario.id: result for result in results if result.status is not Status.PASS}
    assert set(broken) == set(BROKEN[module])
    for scenario_id, (status, fragments) in BROKEN[module].items():
        report = broken[scenario_id].report()
        assert broken[scenario_id].status is status, report
        for fragment in fragments:
            assert fragment in report, f"{fragment!r} not in:\n{report}"
    assert torch.is_grad_enabled(), "the harness restores grad mode after a leaky backend"


def test_the_cli_shows_the_diff_of_a_broken_backend(tmp_path: Path) -> None:
    fixtures = Path(__file__).parent / "fixtures"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(fixtures), os.environ.get("PYTHONPATH", "")]),
    }
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "conformance",
            "run",
            "--spec",
            str(SUITE / "second_backward.yaml"),
            "--backend",
            "torch-cpu",
            "--backend",
            "torchlike:broken_retain_graph",
            "--report-dir",
            str(tmp_path),
            "--repeat",
            "0",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert completed.returncode == 1, completed.stderr
    out = completed.stdout
    assert "harness.second_backward  pass" in out
    assert "FAIL harness.second_backward [torchlike:broken_retain_graph]" in out
    assert "z.backward(): raised nothing" in out
    assert "1 scenario x 2 backends: 1 pass, 1 fail, 0 error" in out
