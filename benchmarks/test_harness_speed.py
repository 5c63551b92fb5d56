"""What the harness costs: every spec on a backend that does nothing, and a full
`conformance run` on reference and torch-cpu as a user starts it.

Benchmarks, not timed tests (see test_engine_speed.py). On the null backend a scenario's
whole cost is the harness's: loading is apart, then its checking run, warm-up and timed
re-runs under the default timing options. A full run is timed as a process and compared
with a process that only imports torch; torch also imports sympy the first time a backward
is given a gradient tensor, so the report names both baselines, and a third that freezes
torch's objects as `conformance run` does, for a like-for-like figure.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks.null_backend import NullBackend
from conformance.run.runner import BENCH_TAG, Runner, TimingOptions
from conformance.spec import find_spec_files, load_specs

pytest.importorskip("pytest_benchmark")

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"
PROCESS_ROUNDS = 5
IMPORTS = {
    "import_torch": "import torch",
    # what torch loads on first use: autograd's _make_grads imports symbolic_shapes (sympy)
    "import_torch_lazy": "import torch, torch.fx.experimental.symbolic_shapes",
    # like for like: `conformance run` freezes what it has loaded (gc.freeze), which spares
    # it the exit's full collection over torch's objects; this baseline is spared it too
    "import_torch_frozen": "import torch, gc; gc.freeze()",
}


def test_harness_null_backend(benchmark: Any) -> None:
    """Every spec through the runner with default timing, on a backend that computes
    nothing: the harness's own cost per scenario."""
    scenarios = load_specs(find_spec_files([str(SPECS)]))
    backend = NullBackend()
    timing = TimingOptions()

    def run_all() -> list[Any]:
        return Runner(None, timing).run_all(scenarios, [backend])

    benchmark.group = "harness"
    results = benchmark.pedantic(run_all, rounds=5, warmup_rounds=1)
    timed = [sample for result in results if result.timing for sample in result.timing.samples]
    benchmark.extra_info.update(
        scenarios=len(scenarios),
        runs=_runs(results),
        completed=sum(result.error is None for result in results),
        # what the harness itself adds inside the timed region of one run
        timed_region_median_s=statistics.median(timed),
    )


def test_harness_real_backends(benchmark: Any) -> None:
    """Every spec through the runner with default timing on reference and torch-cpu, as
    `conformance run` does after loading (torch's first-use imports done in warm-up): with
    the null backend's figure, it splits a run into the harness and the backends' work."""
    from conformance.backends import resolve_backend

    scenarios = load_specs(find_spec_files([str(SPECS)]))
    bench = [scenario for scenario in scenarios if BENCH_TAG in scenario.tags]
    rest = [scenario for scenario in scenarios if BENCH_TAG not in scenario.tags]
    backends = [resolve_backend("reference"), resolve_backend("torch-cpu")]
    timing = TimingOptions()
    bench_s: list[float] = []

    def run_all() -> list[Any]:
        # the bench scenarios apart, to say what share of the run they are (see report.py)
        runner = Runner(backends[1], timing)
        started = time.perf_counter()
        results = runner.run_all(bench, backends)
        bench_s.append(time.perf_counter() - started)
        return results + runner.run_all(rest, backends)

    benchmark.group = "harness"
    benchmark.extra_info["scenarios"] = len(scenarios)
    results = benchmark.pedantic(run_all, rounds=3, warmup_rounds=1)
    # a bench scenario's timed rounds stop at its budget once precise, so the runs made on
    # real backends are counted, not assumed equal to the null backend's
    benchmark.extra_info["runs"] = _runs(results)
    benchmark.extra_info["bench_scenarios"] = len(bench)
    benchmark.extra_info["bench_median_s"] = statistics.median(bench_s[1:])  # not the warm-up


def _runs(results: list[Any]) -> int:
    """Runs the runner made: each result's checking run, then its warm-up and timed runs."""
    return sum(
        1 + (result.timing.warmup + len(result.timing.samples) if result.timing else 0)
        for result in results
    )


def test_spec_loading(benchmark: Any) -> None:
    """Reading, validating and compiling every spec."""
    files = find_spec_files([str(SPECS)])
    benchmark.group = "harness"
    benchmark.extra_info["scenarios"] = len(files)
    benchmark.pedantic(load_specs, args=(files,), rounds=5, warmup_rounds=1)


@pytest.mark.parametrize("name", ["full_run", "full_run_in_process", "full_run_untimed", *IMPORTS])
def test_process(benchmark: Any, name: str, tmp_path: Any) -> None:
    """A process, start to exit: `conformance run` on every spec, reference and torch-cpu,
    default options (each backend in a worker process), or with both in the one process
    (`--isolation none`: what isolation costs), or timing nothing (`--repeat 0`: what no
    timing policy can go below); or one that only imports torch, the baseline it is
    compared with."""
    if name.startswith("full_run"):
        reports = tmp_path / "reports"
        command = [sys.executable, "-m", "conformance", "run", "--backend", "reference"]
        command += ["--backend", "torch-cpu", "--report-dir", str(reports)]
        command += ["--repeat", "0"] if name == "full_run_untimed" else []
        command += ["--isolation", "none"] if name == "full_run_in_process" else []
    else:
        command = [sys.executable, "-c", IMPORTS[name]]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}

    def run() -> int:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, check=False)
        return done.returncode

    benchmark.group = "process"
    benchmark.extra_info["command"] = " ".join(command[1:])
    status = benchmark.pedantic(run, rounds=PROCESS_ROUNDS, warmup_rounds=1)
    assert status in (0, 1), f"{name} failed to run (exit {status})"
