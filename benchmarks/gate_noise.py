"""How often does the gate's timing check cry wolf, and how often does it catch a real 2x?

A benchmark, not a test: it takes minutes and its answer depends on the machine. It runs the
bench scenarios (reference and torch-cpu, as CI does) once for a baseline, then

- false alarms: N more runs of the unchanged tree, each a fresh `conformance run` process,
  gated against the baseline; any timing regression flagged is a false alarm;
- power: N runs in which one backend is made exactly `--slowdown` times slower on one bench
  scenario (a wrapper that spins for as long again as the timed steps took); a run counts as
  caught when the gate flags that scenario x backend.

    python benchmarks/gate_noise.py --runs 20 --out reports/gate-noise.json

Every run uses `conformance run`'s timing defaults, bench budget included. `--bench-budget 0`
gives every run all its bench rounds (the control for the budget); `--baseline-budget 0` does
so for the baseline alone, as a baseline recorded before the budget existed was timed.

Run it with OMP_NUM_THREADS=1, as tox and CI run the matrix.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "specs" / "bench"
BACKENDS = ("reference", "torch-cpu")


class Slowed:
    """A backend whose timed region takes `factor` times as long: `synchronize` is called
    right before and right after the timed steps, so the second call spins until
    `factor` x the elapsed time has passed."""

    def __init__(self, inner: Any, factor: float) -> None:
        self.inner = inner
        self.name = inner.name
        self.factor = factor
        self._start: float | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def reset(self, seed: int) -> None:
        self._start = None
        self.inner.reset(seed)

    def synchronize(self) -> None:
        self.inner.synchronize()
        now = time.perf_counter()
        if self._start is None:
            self._start = now
            return
        until = self._start + self.factor * (now - self._start)
        while time.perf_counter() < until:
            pass
        self._start = None


def worker(
    out: Path, slow_scenario: str, slow_backend: str, factor: float, budget: float | None
) -> None:
    """One run of the bench specs, like `conformance run`, with one backend slowed on one
    scenario; writes the run JSON to `out`."""
    from conformance.backends import choose_baseline, resolve_backend
    from conformance.report.build import build_report, dumps, spec_set
    from conformance.run.runner import Runner, TimingOptions
    from conformance.spec import find_spec_files, load_specs

    scenarios = load_specs(find_spec_files([str(BENCH)]))
    backends = [resolve_backend(name) for name in BACKENDS]
    options = TimingOptions()  # the defaults, as `conformance run` uses them
    if budget is not None:
        options = replace(options, bench_budget_s=budget)
    runner = Runner(choose_baseline(backends), options)
    started = time.perf_counter()
    results = []
    for scenario in scenarios:
        chosen = [
            Slowed(b, factor) if (scenario.id, b.name) == (slow_scenario, slow_backend) else b
            for b in backends
        ]
        results += runner.run_all([scenario], chosen)
    timing = {
        "warmup": options.warmup,
        "repeat": options.repeat,
        "bench_repeat": options.bench_repeat,
        "bench_budget_s": options.bench_budget_s,
        "bench_min_repeat": options.bench_min_repeat,
        "bench_precision": options.bench_precision,
        "baseline": "torch-cpu",
    }
    report = build_report(
        results,
        backends,
        baseline="torch-cpu",
        timing=timing,
        elapsed=time.perf_counter() - started,
        specs=spec_set(scenarios),
    )
    out.write_text(dumps(report), encoding="utf-8")


def cli_run(directory: Path, extra: list[str] | None = None) -> Path:
    """One unchanged run through the real command line, in a fresh process."""
    command = [sys.executable, "-m", "conformance", "run", "--spec", str(BENCH)]
    command += [arg for name in BACKENDS for arg in ("--backend", name)]
    command += ["--report-dir", str(directory), *(extra or [])]
    subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
    return directory / "runs" / "latest.json"


def slowed_run(
    path: Path, scenario: str, backend: str, factor: float, budget: float | None
) -> Path:
    command = [sys.executable, __file__, "--worker", str(path), "--slow", scenario]
    command += ["--slow-backend", backend, "--slowdown", str(factor)]
    command += [] if budget is None else ["--bench-budget", f"{budget}"]
    subprocess.run(command, check=True, cwd=ROOT)
    return path


def judge(baseline: Path, current: Path, check: str) -> dict[str, Any]:
    """The gate's timing verdict for every scenario x backend it compared."""
    from conformance.ci.gate import run_gate
    from conformance.report.runfile import load_run
    from conformance.timing import parse_check

    result = run_gate(load_run(baseline), load_run(current), [parse_check(check)])
    return dict(result.timings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--check", default="ratio:50%@95")
    parser.add_argument("--slow", default="bench.mlp_2layer", help="the scenario slowed")
    parser.add_argument("--slow-backend", default="reference")
    parser.add_argument("--slowdown", type=float, default=2.0)
    parser.add_argument("--out", type=Path, help="write the numbers here as JSON")
    parser.add_argument(
        "--bench-budget",
        type=float,
        help="every run's --bench-budget (default: conformance run's); 0: every bench round",
    )
    parser.add_argument(
        "--baseline-budget",
        type=float,
        help="the baseline run's --bench-budget (default: --bench-budget); 0 gives the "
        "baseline every bench round, as a baseline made before the budget has",
    )
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.slow, args.slow_backend, args.slowdown, args.bench_budget)
        return 0
    target = f"{args.slow} [{args.slow_backend}]"
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        budget = args.bench_budget
        options = [] if budget is None else ["--bench-budget", f"{budget}"]
        if args.baseline_budget is not None:
            budget = args.baseline_budget
        baseline = cli_run(
            work / "baseline", [] if budget is None else ["--bench-budget", f"{budget}"]
        )
        baseline_rounds = _rounds(baseline)
        false_alarms, caught, stray = 0, 0, 0
        changes: list[Any] = []
        slowed: list[Any] = []
        for index in range(args.runs):
            verdicts = judge(baseline, cli_run(work / f"same{index}", options), args.check)
            flagged = [subject for subject, verdict in verdicts.items() if verdict.regressed]
            false_alarms += bool(flagged)
            changes.extend(verdicts.values())
            print(f"unchanged run {index + 1:2}: {'FALSE ALARM' if flagged else 'ok'} "
                  + "; ".join(f"{s} {v.change:.2f}x P={v.probability:.2f}"
                              for s, v in verdicts.items()))  # fmt: skip
        for index in range(args.runs):
            current = slowed_run(work / f"slow{index}.json", args.slow, args.slow_backend,
                                 args.slowdown, args.bench_budget)  # fmt: skip
            verdicts = judge(baseline, current, args.check)
            flagged = [subject for subject, verdict in verdicts.items() if verdict.regressed]
            caught += target in flagged
            stray += any(subject != target for subject in flagged)
            hit = verdicts[target]
            slowed.append(hit)
            print(f"slowed run {index + 1:2}: {'caught' if target in flagged else 'MISSED'} "
                  f"{hit.describe('torch-cpu')}")  # fmt: skip
    numbers = {
        "check": args.check,
        "runs": args.runs,
        "false_alarm_runs": false_alarms,
        "slowdown": args.slowdown,
        "slowed": target,
        "caught": caught,
        "other_flags_in_slowed_runs": stray,
        "bench_budget_s": args.bench_budget,  # null: the default
        "baseline_budget_s": args.baseline_budget,  # null: the same as the other runs'
        # every scenario x backend of the unchanged runs: how far its ratio moved, and the
        # highest probability of a regression the gate gave any of them
        "unchanged_change_range": _range(v.change for v in changes),
        "unchanged_max_probability": round(max((v.probability for v in changes), default=0), 3),
        "slowed_change_range": _range(v.change for v in slowed),
        "slowed_min_probability": round(min((v.probability for v in slowed), default=0), 3),
        "baseline_rounds": baseline_rounds,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(numbers, indent=1))
    if args.out:
        args.out.write_text(json.dumps(numbers, indent=1) + "\n", encoding="utf-8")
    return 0


def _range(values: Any) -> list[float]:
    values = list(values)
    return [round(min(values), 3), round(max(values), 3)] if values else []


def _rounds(path: Path) -> dict[str, int]:
    """Timed rounds per bench scenario x backend in a run (the baseline's, say)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return {
        f"{r['scenario']} [{r['backend']}]": len(r["timing"]["samples_s"])
        for r in data["results"]
        if r.get("timing")
    }


if __name__ == "__main__":
    sys.exit(main())
