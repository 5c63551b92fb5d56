"""The command line of reports and the CI gate: options `conformance run` gains (timing
baseline, bench rounds, shard, expectations) and the `report`, `gate` and `merge` commands.

Kept apart from `cli.py` so the run command only calls in at two points: `plan_run` before
running and `write_all` after.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.backends.base import Backend
from conformance.ci.expectations import Expectations, engine_versions, load_expectations
from conformance.ci.gate import DEFAULT_TIMING_TAGS, run_gate
from conformance.ci.merge import merge_runs, missing_shards
from conformance.ci.shard import Shard, parse_shard
from conformance.errors import UsageError
from conformance.formats import write_reports
from conformance.isolation import Executor
from conformance.report.build import dumps, spec_set
from conformance.report.runfile import RunRecord, check_run, load_run, run_from_dict
from conformance.report.runlog import STREAM_SUFFIX, point_latest, rebuild, write_run
from conformance.run.results import ScenarioResult
from conformance.run.runner import TimingOptions
from conformance.spec.model import Scenario
from conformance.timing.checks import DEFAULT_CHECK, parse_check

DEFAULT_REPORT_DIR = "reports"
LATEST = Path("runs") / "latest.json"


# --- conformance run -------------------------------------------------------------------------


def add_run_options(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--timing-baseline",
        metavar="NAME",
        help="backend that timing ratios are taken against, timed in the same rounds "
        "(default: the --baseline backend when it runs)",
    )
    run.add_argument(
        "--bench-repeat",
        type=int,
        default=TimingOptions().bench_repeat,
        help=f"timed rounds for scenarios tagged bench (default {TimingOptions().bench_repeat}"
        "; at least --repeat)",
    )
    run.add_argument(
        "--bench-budget",
        type=float,
        default=TimingOptions().bench_budget_s,
        metavar="SECONDS",
        help="a bench scenario's timed rounds stop once they have taken this long and number "
        f"at least --bench-min-repeat (default {TimingOptions().bench_budget_s:g}; "
        "0: always --bench-repeat rounds)",
    )
    run.add_argument(
        "--bench-precision",
        type=float,
        default=TimingOptions().bench_precision,
        metavar="FRACTION",
        help="... and only once each backend's ratio is known within this fraction of it, by "
        f"its 95%% bootstrap interval (default {TimingOptions().bench_precision:g})",
    )
    run.add_argument(
        "--bench-min-repeat",
        type=int,
        default=TimingOptions().bench_min_repeat,
        help="timed rounds a bench scenario gets whatever its budget "
        f"(default {TimingOptions().bench_min_repeat})",
    )
    run.add_argument(
        "--shard",
        metavar="K/N",
        help="run only the K-th of N deterministic parts of the scenarios (for CI matrices; "
        "join the parts with `conformance merge`)",
    )
    run.add_argument(
        "--expectations",
        metavar="DIR",
        help="known-failure manifests, DIR/<backend>.yaml (default: REPORT_DIR/expectations)",
    )


@dataclass(frozen=True, slots=True)
class RunPlan:
    """What `conformance run` does beyond running: the scenarios of its shard, the timing
    baseline, the manifests, and what the report records about them."""

    scenarios: list[Scenario]
    shard: Shard | None
    timing_baseline: str | None
    expectations: Expectations
    specs: dict[str, Any]
    stale: list[str]

    def apply(self, results: Sequence[ScenarioResult]) -> list[ScenarioResult]:
        return [self.expectations.apply(result) for result in results]

    def report_fields(self) -> dict[str, Any]:
        return {
            "specs": self.specs,
            "shard": (self.shard.index, self.shard.count) if self.shard else None,
            "expectations": {"files": self.expectations.sources(), "stale": self.stale},
        }


def plan_run(
    args: argparse.Namespace,
    scenarios: list[Scenario],
    every_id: Sequence[str],
    backends: Sequence[Backend | Executor],
    baseline: Backend | Executor | None,
) -> RunPlan:
    """Check the reporting options and print stale manifest entries to stderr."""
    if args.bench_repeat < 0 or args.bench_min_repeat < 0:
        raise UsageError("--bench-repeat and --bench-min-repeat take counts of zero or more")
    if args.bench_budget < 0:
        raise UsageError("--bench-budget takes seconds, zero or more")
    if args.bench_precision < 0:
        raise UsageError("--bench-precision takes a fraction, zero or more")
    names = [backend.name for backend in backends]
    started_as = {getattr(backend, "target", backend.name): backend.name for backend in backends}
    timing_baseline = started_as.get(args.timing_baseline, args.timing_baseline)
    if timing_baseline and timing_baseline not in names:
        raise UsageError(
            f"--timing-baseline {timing_baseline}: it must be one of the backends run "
            f"({', '.join(names)}), so its ratios come from the same rounds"
        )
    if not timing_baseline and baseline is not None and baseline.name in names:
        timing_baseline = baseline.name
    shard = parse_shard(args.shard) if args.shard else None
    chosen = shard.take(scenarios) if shard else scenarios
    if not chosen:
        raise UsageError(f"--shard {shard}: this shard holds no scenario")
    directory = Path(args.expectations or Path(args.report_dir) / "expectations")
    if args.expectations and not directory.is_dir():
        raise UsageError(f"--expectations {directory}: no such folder")
    expectations = load_expectations(
        directory if directory.is_dir() else None, names, engine_versions(backends)
    )
    stale = expectations.stale(every_id)
    for warning in stale:
        print(f"conformance: warning: {warning}", file=sys.stderr)
    specs = spec_set(scenarios, getattr(args, "spec_sources", None))
    return RunPlan(chosen, shard, timing_baseline, expectations, specs, stale)


def write_all(report: dict[str, Any], directory: Path, stem: str | None = None) -> list[Path]:
    """The run JSON under `directory/runs/` (`<stem>.json`), then every other format beside
    it, then `runs/latest.json`: each file atomically, `latest` last, so it always names a
    run whose reports are all written."""
    if stem is None:
        stamp = report["created"].replace(":", "").replace("-", "")
        stem = f"{stamp}-{os.getpid()}"
    path = write_run(report, directory, stem)
    others = write_reports(run_from_dict(report, str(path)), directory)
    point_latest(report, directory)
    return [path, *others]


# --- conformance report | gate | merge ---------------------------------------------------


def register(commands: Any) -> None:
    """Add `report`, `gate` and `merge` to the CLI's subcommands."""
    report = commands.add_parser(
        "report",
        help="rebuild the JUnit XML, Markdown (report.md, summary.md) and HTML reports from a "
        "run JSON, or a killed run's stream",
    )
    report.add_argument(
        "run",
        metavar="RUN.json",
        help="a run file written by `conformance run`, or the RUN.jsonl stream a killed run "
        "left in runs/ (rebuilt as an incomplete run, with runs/latest.json moved to it)",
    )
    report.add_argument(
        "--report-dir",
        default=DEFAULT_REPORT_DIR,
        metavar="DIR",
        help=f"where the reports go (default: {DEFAULT_REPORT_DIR})",
    )
    report.set_defaults(command=report_command)

    gate = commands.add_parser(
        "gate", help="compare a run with a committed baseline; exit 1 on a regression"
    )
    gate.add_argument("--baseline", required=True, metavar="FILE", help="the baseline run JSON")
    gate.add_argument(
        "--current",
        default=str(Path(DEFAULT_REPORT_DIR) / LATEST),
        metavar="FILE",
        help=f"the run to judge (default: {Path(DEFAULT_REPORT_DIR) / LATEST})",
    )
    gate.add_argument(
        "--update",
        action="store_true",
        help="accept the current run as the new baseline (after showing what changes)",
    )
    gate.add_argument(
        "--timing-check",
        action="append",
        metavar="CHECK",
        help="a timing check such as ratio:50%% or median:2x@99 (default: "
        + DEFAULT_CHECK.replace("%", "%%")  # argparse formats help with %
        + ": the ratio to the timing baseline grew by over 50%%, with 95%% confidence)",
    )
    gate.add_argument(
        "--timing-tag",
        action="append",
        metavar="TAG",
        help=f"only time-check scenarios with this tag (default: {', '.join(DEFAULT_TIMING_TAGS)}"
        "; 'all' checks every timed scenario)",
    )
    gate.add_argument(
        "--allow-missing",
        action="store_true",
        help="do not fail when the run lacks results the baseline has (a knowingly partial "
        "run); sharded runs should `conformance merge` their shards and gate the merged run "
        "instead. An incomplete (interrupted) run fails regardless",
    )
    gate.add_argument(
        "--timing",
        choices=("enforce", "advisory"),
        default="enforce",
        help="advisory reports timing regressions without failing (default: enforce)",
    )
    gate.set_defaults(command=gate_command)

    merge = commands.add_parser("merge", help="join the run files of shards into one run")
    merge.add_argument("runs", nargs="+", metavar="RUN.json")
    merge.add_argument("-o", "--output", required=True, metavar="FILE", help="the merged run")
    merge.set_defaults(command=merge_command)


def report_command(args: argparse.Namespace) -> int:
    source = Path(args.run)
    if source.suffix == STREAM_SUFFIX:  # a run killed outright: rebuild it, marked incomplete
        report = rebuild(source)
        problem = check_run(report)  # checked like any run file before it is written
        if problem is not None:
            raise UsageError(f"{source}: malformed run stream: {problem}")
        paths = write_all(report, Path(args.report_dir), source.stem)
        source.unlink()
        print(f"rebuilt {source.name} as an incomplete run: {report['incomplete']}")
        for path in paths:
            print(f"wrote {path}")
        return 0
    run = load_run(args.run)
    for path in write_reports(run, Path(args.report_dir)):
        print(f"wrote {path}")
    return 0


def gate_command(args: argparse.Namespace) -> int:
    checks = [parse_check(text) for text in args.timing_check or [DEFAULT_CHECK]]
    tags = args.timing_tag or list(DEFAULT_TIMING_TAGS)
    current = load_run(args.current)
    if args.update and not Path(args.baseline).exists():
        if _refuse_incomplete(current, args.current):
            return 1
        _write(args.baseline, dumps(current.data))
        print(f"baseline created: {args.baseline} holds the run of {current.created}")
        return 0
    baseline = load_run(args.baseline)
    print(f"gate: {args.current} ({current.created}) against {args.baseline} ({baseline.created})")
    result = run_gate(
        baseline,
        current,
        checks,
        timing_tags=() if "all" in tags else tags,
        enforce_timing=args.timing == "enforce",
        allow_missing=args.allow_missing,
    )
    for line in result.lines():
        print(line)
    if args.update:
        if _refuse_incomplete(current, args.current):
            return 1
        _write(args.baseline, dumps(current.data))
        print(f"baseline updated: {args.baseline} now holds the run of {current.created}")
        return 0
    return 0 if result.passed else 1


def _refuse_incomplete(run: RunRecord, name: str) -> bool:
    """An interrupted run never becomes the baseline: later runs would be judged against a
    part of the matrix and lose the rest without a word."""
    if run.incomplete is None:
        return False
    print(f"baseline not updated: {name} is an incomplete run ({run.incomplete})")
    return True


def _write(path: str, text: str) -> None:
    """Write to a temporary name beside `path`, then rename: a kill mid-write leaves the old
    baseline (or no merged run), never a truncated file that the next gate would refuse."""
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, target)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise UsageError(
            f"{path}: cannot write it ({exc.strerror or type(exc).__name__})"
        ) from None


def merge_command(args: argparse.Namespace) -> int:
    runs = [(name, load_run(name)) for name in args.runs]
    merged = merge_runs(runs)
    for shard in missing_shards(runs):
        print(f"conformance: warning: shard {shard} is missing from the merge", file=sys.stderr)
    _write(args.output, dumps(merged))
    summary = ", ".join(f"{n} {status}" for status, n in merged["summary"].items() if n)
    print(f"merged {len(runs)} runs into {args.output}: {summary}")
    if merged.get("incomplete"):
        print(
            f"conformance: warning: the merged run is incomplete: {merged['incomplete']}",
            file=sys.stderr,
        )
    return 0


__all__ = ["RunPlan", "add_run_options", "plan_run", "register", "write_all"]
