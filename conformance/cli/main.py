"""`conformance run | list | show | backends`: the command line over the runner.

Exit codes: 0 when everything ran passes (unsupported and unavailable do not fail a run),
1 when anything fails or errors, 2 for usage and spec errors, printed without a traceback.
"""

from __future__ import annotations

import argparse
import difflib
import gc
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from conformance.backends import (
    choose_baseline,
    default_backend_names,
    known_backends,
)
from conformance.cli import reports as cli_reports
from conformance.cli.options import add_backend_options, add_isolation_options, isolation_from
from conformance.errors import SpecError, SpecErrors, UsageError
from conformance.fuzz.commands import add_commands as add_fuzz_commands
from conformance.isolation import Isolation, Worker
from conformance.isolation.worker import Launch
from conformance.report import terminal as render
from conformance.report.build import finish_report, report_head, result_entries
from conformance.report.progress import Progress
from conformance.report.runlog import RunLog
from conformance.run.interrupt import Interrupted, signals_deferred, signals_raise
from conformance.run.results import ScenarioResult
from conformance.run.runner import Runner, TimingOptions
from conformance.spec import load_each_spec, specset
from conformance.spec.model import Expect, Raises, Run, Scenario, Warns
from conformance.spec.select import select


def main(argv: Sequence[str] | None = None) -> int:
    """The `conformance` command; `argv=None` reads the process's own command line and means
    that this call is the whole program (the command, `python -m conformance`)."""
    args = _parser().parse_args(argv)
    args.whole_process = argv is None
    args.started = time.perf_counter()
    command: Callable[[argparse.Namespace], int] = args.command
    try:
        with signals_raise():
            code = command(args)
    except (UsageError, SpecError) as exc:
        print(f"conformance: error: {exc}", file=sys.stderr)
        return 2
    except Interrupted as exc:  # before a run started, or in a command with nothing to keep
        print(f"conformance: interrupted by {exc.name}", file=sys.stderr)
        return exc.exit_code
    return _after_spec_errors(args, code)


# --- commands --------------------------------------------------------------------------------


def run_command(args: argparse.Namespace) -> int:
    isolation = _isolation(args)
    launch = Launch(_backend_names(args), isolation)  # engines import while the specs load
    try:
        every = _scenarios(args, filtered=False)
        scenarios = _scenarios(args, loaded=every)
        return _run(args, every, scenarios, launch, isolation)
    finally:
        launch.close()


def _run(
    args: argparse.Namespace,
    every: list[Scenario],
    scenarios: list[Scenario],
    launch: Launch,
    isolation: Isolation,
) -> int:
    backends = launch.ready()
    if args.whole_process:
        # What is loaded by now (torch, the specs) lives as long as the process, so the
        # collector need not scan it again: a full collection over torch's objects costs
        # ~0.1 s, and sympy (which torch imports on first use) and the interpreter's exit
        # each cause one. Not when called in process (tests): frozen garbage is never freed.
        gc.freeze()
    baseline = choose_baseline(backends, args.baseline, start=launch.start)
    runner = Runner(baseline, _timing(args))
    every_id = [scenario.id for scenario in every]
    plan = cli_reports.plan_run(args, scenarios, every_id, backends, runner.baseline)
    scenarios = plan.scenarios
    names = [backend.name for backend in backends]
    if runner.baseline is not None and runner.baseline.name not in names:
        print(f"unpinned expectations compare with {runner.baseline.name} (the baseline)")
    baseline_name = runner.baseline.name if runner.baseline else None
    head = report_head(
        backends,
        baseline=baseline_name,
        timing={
            "warmup": runner.timing.warmup,
            "repeat": runner.timing.repeat,
            "bench_repeat": runner.timing.bench_repeat,
            "bench_budget_s": runner.timing.bench_budget_s,
            "bench_min_repeat": runner.timing.bench_min_repeat,
            "bench_precision": runner.timing.bench_precision,
            "baseline": plan.timing_baseline,
        },
        isolation=isolation.record(),
        threads=isolation.threads,
        **plan.report_fields(),
    )
    log = RunLog(Path(args.report_dir), head)
    results: list[ScenarioResult] = []
    interrupted: Interrupted | None = None
    started = time.perf_counter()
    try:
        progress = Progress(len(scenarios) * len(backends), names)
        with signals_raise(), progress as advance:
            for found in runner.each_scenario(scenarios, backends, on_result=advance):
                found = plan.apply(found)
                log.append(result_entries(found, backends, baseline_name, plan.timing_baseline))
                results.extend(found)
    except Interrupted as exc:
        interrupted = exc
    elapsed = time.perf_counter() - started
    incomplete = None
    if interrupted is not None:
        done = len({result.scenario.id for result in results})
        incomplete = f"interrupted by {interrupted.name} after {done} of {len(scenarios)} scenarios"
    with signals_deferred():  # the files of a run are written whole, whatever comes now
        report = finish_report(head, log.entries, elapsed, incomplete)
        path, *others = cli_reports.write_all(report, Path(args.report_dir), log.stem)
        log.close(remove=True)
    if interrupted is not None:
        print(f"conformance: {incomplete}; kept as an incomplete run: {path}", file=sys.stderr)
        return interrupted.exit_code
    print(render.matrix(results, names))
    details = render.details(results, backends)
    if details:
        print("\n" + details)
    print(f"\nreport: {path} (and {', '.join(other.name for other in others)})")
    total = time.perf_counter() - args.started
    print(render.summary_line(results, len(backends), elapsed, total))
    if args.fail_unavailable and any(not b.availability().available for b in backends):
        print("conformance: a chosen backend is unavailable (--fail-unavailable)", file=sys.stderr)
        return 1
    return _exit_code(results)


def list_command(args: argparse.Namespace) -> int:
    """The scenarios under a heading per source: the installed set, or a path as given."""
    scenarios = _scenarios(args)
    width = max(len(scenario.id) for scenario in scenarios)
    owner = specset.source_by_file(args.spec_sources)
    groups: dict[str, list[Scenario]] = {}
    for scenario in scenarios:
        source = owner.get(scenario.where.path)
        groups.setdefault(source.label if source else "elsewhere", []).append(scenario)
    for label, members in groups.items():
        print(f"{label}:")
        for scenario in members:
            needs = f"  (requires {', '.join(sorted(scenario.needs))})" if scenario.needs else ""
            print(f"  {scenario.id:<{width}}  [{', '.join(scenario.tags)}]{needs}")
    print(render.count(len(scenarios), "scenario"))
    return 0


def show_command(args: argparse.Namespace) -> int:
    scenarios = {scenario.id: scenario for scenario in _scenarios(args, filtered=False)}
    scenario = scenarios.get(args.id)
    if scenario is None:
        close = difflib.get_close_matches(args.id, list(scenarios), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UsageError(f"no scenario with id {args.id!r}{hint}")
    print(_describe(scenario))
    launch = Launch(_backend_names(args), _isolation(args))
    try:
        backends = launch.ready()
        runner = Runner(choose_baseline(backends, args.baseline, start=launch.start), _timing(args))
        results = runner.run_all([scenario], backends)
    finally:
        launch.close()
    for result in results:
        timing = f" (median {render.seconds(result.timing.median)})" if result.timing else ""
        print(f"\n{result.report()}{timing}")
    return _exit_code(results)


def backends_command(args: argparse.Namespace) -> int:
    """Each backend is loaded in a worker of its own, side by side, so one engine's import
    (paddle patches distutils, a plug-in may crash) cannot change or end the listing."""
    names = list(dict.fromkeys([*known_backends(), *(args.backend or [])]))
    workers = [Worker(name, Isolation()) for name in names]
    code = 0
    for worker in workers:
        problem = worker.wait_ready()
        worker.close()
        if problem or worker.broken:
            print(f"{worker.name}: cannot load\n  {problem or worker.broken}")
            code = 1
            continue
        availability = worker.availability()
        named = worker.name if worker.name == worker.target else f"{worker.target} ({worker.name})"
        print(f"{named}: {'available' if availability.available else 'unavailable'}")
        if not availability.available:
            print(f"  reason: {availability.reason}")
            continue
        info = ", ".join(f"{key} {value}" for key, value in worker.info().items())
        print(f"  {info}")
        print(f"  capabilities: {', '.join(sorted(worker.capabilities())) or 'none'}")
    print(
        "\nalso: torch:DEVICE (torch on any device it can name: torch:cuda:1, torch:mps, "
        "torch:xpu, a PrivateUse1 device), torchlike:MODULE, package.module:factory"
    )
    return code


# --- helpers ---------------------------------------------------------------------------------


def _scenarios(
    args: argparse.Namespace, filtered: bool = True, loaded: list[Scenario] | None = None
) -> list[Scenario]:
    """The scenarios the arguments choose; ``loaded``: the specs, if already read."""
    if loaded is not None:
        scenarios = loaded
    else:
        args.spec_sources = specset.resolve(args.spec, args.extend_spec)
        scenarios = _load(args, specset.files_of(args.spec_sources))
    if filtered:
        scenarios = select(scenarios, args.keyword, args.tag or ())
    if not scenarios:
        raise UsageError("no scenario matches the given --spec, --extend-spec, -k and --tag")
    return scenarios


def _load(args: argparse.Namespace, files: Sequence[Path]) -> list[Scenario]:
    """Every spec that loads. Each one that does not is reported here, where it was met, and
    the command goes on and exits 2 at its end, so one bad file hides no other's results."""
    scenarios, errors = load_each_spec(files)
    if errors and not scenarios:
        raise errors[0] if len(errors) == 1 else SpecErrors(errors)
    for error in errors:
        print(f"conformance: error: {error}", file=sys.stderr)
    args.spec_errors = len(errors)
    return scenarios


def _after_spec_errors(args: argparse.Namespace, code: int) -> int:
    """Exit 2 after a command that went on past bad specs, saying so again at the end, where
    the reader of a long run looks. An interrupt's own exit code stands."""
    count = getattr(args, "spec_errors", 0)
    if not count or code not in (0, 1):
        return code
    files = f"{count} spec file{'s' * (count > 1)}"
    print(f"conformance: error: {files} could not be loaded (see above)", file=sys.stderr)
    return 2


def _backend_names(args: argparse.Namespace) -> list[str]:
    names = args.backend
    if not names:
        names, note = default_backend_names()
        if note:
            print(note, file=sys.stderr)
    return list(dict.fromkeys(names))


def _isolation(args: argparse.Namespace) -> Isolation:
    return isolation_from(lambda option: getattr(args, option))


def _timing(args: argparse.Namespace) -> TimingOptions:
    if args.warmup < 0 or args.repeat < 0:
        raise UsageError("--warmup and --repeat take counts of zero or more")
    defaults = TimingOptions()
    return TimingOptions(
        warmup=args.warmup,
        repeat=args.repeat,
        bench_repeat=getattr(args, "bench_repeat", defaults.bench_repeat),
        bench_budget_s=getattr(args, "bench_budget", defaults.bench_budget_s),
        bench_min_repeat=getattr(args, "bench_min_repeat", defaults.bench_min_repeat),
        bench_precision=getattr(args, "bench_precision", defaults.bench_precision),
    )


def _exit_code(results: Sequence[ScenarioResult]) -> int:
    return 0 if all(result.ok for result in results) else 1


def _describe(scenario: Scenario) -> str:
    """A scenario's metadata and steps, each step with its file:line."""
    lines = [
        f"{scenario.id}: {scenario.title}",
        f"  file: {scenario.where}",
        f"  source: {scenario.source}",
        f"  rationale: {scenario.rationale}",
        f"  tags: {', '.join(scenario.tags)}",
        f"  requires: {', '.join(sorted(scenario.needs)) or 'nothing'}",
        "  steps:",
    ]
    for step in scenario.steps:
        if isinstance(step, Run):
            text = step.source.rstrip()
        elif isinstance(step, Expect):
            value = (
                f" == {step.value!r}"
                if step.pinned
                else " (vs baseline)"
                if step.cross_backend
                else ""
            )
            meta = "".join(f", {check.key}={check.expected!r}" for check in step.meta)
            text = f"expect {step.source}{value}{meta}"
        elif isinstance(step, (Raises, Warns)):
            verb = "raises" if isinstance(step, Raises) else "warns"
            text = f"{step.source.rstrip()}  # {verb} {step.expected.describe()}"
        first, *rest = text.splitlines()
        lines.append(f"    {step.where.line:>4}  {first}")
        lines.extend(f"          {line}" for line in rest)
    return "\n".join(lines)


# --- arguments -------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="conformance",
        description="Run YAML autograd scenarios on several backends and diff what they do.",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    selection = argparse.ArgumentParser(add_help=False)
    selection.add_argument(
        "--spec",
        action="append",
        metavar="PATH_OR_GLOB",
        help="spec files, folders (searched recursively) or globs to run instead of the "
        "installed spec set (repeatable; default: the installed set, shipped with the package "
        "and versioned with it; `conformance list` shows where it is)",
    )
    selection.add_argument(
        "--extend-spec",
        action="append",
        metavar="PATH_OR_GLOB",
        help="spec files, folders or globs to run as well as the installed set (or as well as "
        "the --spec paths), e.g. your own engine's scenarios (repeatable)",
    )
    selection.add_argument(
        "-k",
        dest="keyword",
        metavar="EXPR",
        help="only scenarios whose id or tags match, e.g. 'grad and not cuda'",
    )
    selection.add_argument("--tag", action="append", help="only scenarios with this tag")

    running = argparse.ArgumentParser(add_help=False)
    add_backend_options(running.add_argument)  # shared with the pytest plugin
    running.add_argument("--warmup", type=int, default=1, help="untimed re-runs (default 1)")
    running.add_argument(
        "--repeat", type=int, default=5, help="timed re-runs; 0 turns timing off (default 5)"
    )
    add_isolation_options(running.add_argument)

    run = commands.add_parser("run", parents=[selection, running], help="run the matrix")
    run.add_argument(
        "--report-dir",
        default="reports",
        metavar="DIR",
        help="where the reports go: the run JSON under DIR/runs/ (streamed there as it runs), "
        "then junit.xml, report.md, summary.md (sized for a PR comment) and report.html "
        "(default: reports)",
    )
    run.add_argument(
        "--fail-unavailable",
        action="store_true",
        help="exit 1 when a chosen backend is unavailable here (for jobs that need a GPU)",
    )
    cli_reports.add_run_options(run)
    run.set_defaults(command=run_command)

    listing = commands.add_parser("list", parents=[selection], help="list scenarios and tags")
    listing.set_defaults(command=list_command)

    show = commands.add_parser(
        "show", parents=[selection, running], help="show a scenario's steps and results"
    )
    show.add_argument("id", help="the scenario id")
    show.set_defaults(command=show_command)

    backends = commands.add_parser("backends", help="list backends and their capabilities")
    backends.add_argument("--backend", action="append", metavar="NAME", help="also this one")
    backends.set_defaults(command=backends_command)
    add_fuzz_commands(commands)
    cli_reports.register(commands)
    return parser


if __name__ == "__main__":
    sys.exit(main())
