"""The fuzzer finds each broken torch-shaped fixture's bug and shrinks it to a spec of at most
5 steps that fails on the broken backend and passes on torch, from the file alone."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.backends import resolve_backend
from conformance.fuzz import regression
from conformance.fuzz.differential import Differential
from conformance.fuzz.features import ALL_FEATURES
from conformance.fuzz.generator import Config
from conformance.fuzz.session import Options, fuzz
from conformance.run.results import Status
from conformance.run.runner import Runner, TimingOptions
from conformance.spec import load_spec

pytest.importorskip("torch")

MAX_STEPS = 5
# fixture -> the feature groups a session focuses on (the bug's area, so the test stays fast)
BROKEN = {
    "broken_accumulate": ("ops", "retain_graph"),
    "broken_no_grad": ("grad_mode",),
    "broken_broadcast": ("ops", "broadcasting"),
    "broken_reduction_dim": ("reductions",),
    "broken_inplace_views": ("inplace", "views", "ops"),
    "broken_version_counter": ("inplace", "ops", "grad_mode"),
    "broken_backward_inputs": ("backward_inputs", "ops"),
    "broken_nograd_views": ("nograd_views", "views", "grad_mode", "inplace", "errors", "ops"),
    "broken_hooks": ("hooks", "ops"),
}


def _shrunk(module: str, features: frozenset[str], tmp_path: Path) -> regression.Regression:
    tested, oracle = resolve_backend(f"torchlike:{module}"), resolve_backend("torch-cpu")
    config = Config(features=features, max_actions=8)
    # a session stops at its first divergence; the budget only bounds a search that fails
    result = fuzz(Differential(tested, oracle), Options(max_examples=3000, seed=0, config=config))
    assert result.verdict is not None, f"no divergence found on {module}"
    origin = regression.Origin(tested.name, oracle.name, "test")
    return regression.build(result.verdict, origin, tested, oracle, tmp_path)


@pytest.mark.parametrize("module", list(BROKEN))
def test_each_bug_is_found_and_shrunk_to_a_spec_that_reproduces_it(
    broken_modules: Path, module: str, tmp_path: Path
) -> None:
    found = _shrunk(module, frozenset(BROKEN[module]), tmp_path)
    assert found.steps <= MAX_STEPS, found.text
    assert found.reproduces, found.tested_result.report()
    # The written file alone reproduces it: fails on the broken module, passes on torch.
    scenario = load_spec(found.write())
    runner = Runner(None, TimingOptions(0, 0))
    assert runner.run(scenario, resolve_backend("torch-cpu")).status is Status.PASS
    broken = runner.run(scenario, resolve_backend(f"torchlike:{module}"))
    assert broken.status in (Status.FAIL, Status.ERROR), broken.report()


def test_the_default_generator_finds_a_bug_too(broken_modules: Path, tmp_path: Path) -> None:
    found = _shrunk("broken_accumulate", ALL_FEATURES, tmp_path)
    assert found.steps <= MAX_STEPS, found.text
    assert found.reproduces


def test_the_database_replays_a_divergence_first(broken_modules: Path, tmp_path: Path) -> None:
    differential = Differential(
        resolve_backend("torchlike:broken_no_grad"), resolve_backend("torch-cpu")
    )
    config = Config(features=frozenset({"grad_mode"}), max_actions=8)
    options = Options(max_examples=1000, seed=0, database=tmp_path / "db", config=config)
    first, again = fuzz(differential, options), fuzz(differential, options)
    assert first.verdict is not None and again.verdict is not None
    assert again.stats.programs == 1  # the saved program, replayed before any new one
    assert again.verdict.program == first.verdict.program


def test_the_cli_writes_a_spec_that_conformance_run_reproduces(tmp_path: Path) -> None:
    fixtures = Path(__file__).parent / "fixtures"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(fixtures), os.environ.get("PYTHONPATH", "")]),
    }
    fuzzed = subprocess.run(
        [
            sys.executable, "-m", "conformance", "fuzz",
            "--backend", "torchlike:broken_no_grad", "--against", "torch-cpu",
            "--tag", "grad_mode", "--max-examples", "500", "--seed", "1",
            "--out", str(tmp_path / "found"), "--no-db",
        ],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert fuzzed.returncode == 1, fuzzed.stdout + fuzzed.stderr
    out = fuzzed.stdout
    assert "divergence found after" in out
    assert "spec: 1\n" in out and "steps:" in out  # the shrunk spec is printed...
    assert "[torchlike:broken_no_grad]: Fuzzed:" in out  # ...and so is its diff or error
    assert "divergences found: 1" in out
    (spec,) = (tmp_path / "found").glob("fuzz_*.yaml")
    run = subprocess.run(
        [
            sys.executable, "-m", "conformance", "run", "--spec", str(spec),
            "--backend", "torch-cpu", "--backend", "torchlike:broken_no_grad",
            "--repeat", "0", "--report-dir", str(tmp_path / "reports"),
        ],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 pass, 1 fail" in run.stdout or "1 pass, 0 fail, 1 error" in run.stdout


def _faulty_env(fault: str) -> dict[str, str]:
    """The environment in which `torchlike:faulty_engine` commits `fault` in `exp`."""
    fixtures = Path(__file__).parent / "fixtures"
    return {**os.environ, "PYTHONPATH": str(fixtures), "FAULTY_ENGINE": fault}


def _fuzz_ops(
    tmp_path: Path, env: dict[str, str], backend: str, against: str
) -> subprocess.CompletedProcess[str]:
    """`conformance fuzz` over short `ops` programs, enough of which call `exp`."""
    return subprocess.run(
        [
            sys.executable, "-m", "conformance", "fuzz", "--backend", backend,
            "--against", against, "--tag", "ops", "--max-actions", "5",
            "--max-examples", "300", "--out", str(tmp_path / "found"), "--no-db",
        ],
        capture_output=True, text=True, env=env, check=False, timeout=600,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("fault", "cause"), [("os_exit", "exited with status 0"), ("segfault", "crashed: SIGSEGV")]
)
def test_an_engine_that_dies_mid_program_is_a_divergence_shrunk_to_a_spec(
    tmp_path: Path, fault: str, cause: str
) -> None:
    """The engine under test runs in a worker: its death ends that program's run, which the
    oracle completes, and the fuzzer shrinks it like any other divergence."""
    env = _faulty_env(fault)
    fuzzed = _fuzz_ops(tmp_path, env, "torchlike:faulty_engine", "reference")
    assert fuzzed.returncode == 1, fuzzed.stdout + fuzzed.stderr
    out = fuzzed.stdout
    assert "divergence found after" in out and "divergences found: 1" in out
    assert "CRASH regressions.fuzz_" in out and cause in out
    (spec,) = (tmp_path / "found").glob("fuzz_*.yaml")
    text = spec.read_text()
    assert "exp(" in text and len(load_spec(spec).steps) <= MAX_STEPS, text
    run = subprocess.run(
        [
            sys.executable, "-m", "conformance", "run", "--spec", str(spec),
            "--backend", "reference", "--backend", "torchlike:faulty_engine",
            "--repeat", "0", "--report-dir", str(tmp_path / "reports"),
        ],
        capture_output=True, text=True, env=env, check=False, timeout=600,
    )  # fmt: skip
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 pass, 0 fail, 0 error, 1 crash" in run.stdout, run.stdout


def test_a_program_that_kills_the_oracle_judges_nothing(tmp_path: Path) -> None:
    """The oracle's death is no finding about the backend under test: counted, not shrunk."""
    env = _faulty_env("os_exit")
    fuzzed = _fuzz_ops(tmp_path, env, "reference", "torchlike:faulty_engine")
    assert fuzzed.returncode == 0, fuzzed.stdout + fuzzed.stderr
    assert "divergences found: 0" in fuzzed.stdout
    faults = re.search(r"oracle faults: (\d+) programs crashed or hung the oracle", fuzzed.stdout)
    assert faults is not None and int(faults.group(1)) > 0, fuzzed.stdout
    assert not (tmp_path / "found").exists()
