"""`conformance fuzz` and `conformance gradcheck`: their arguments and what they print.

`conformance.cli.main` adds them with `add_commands`; the heavy imports (hypothesis, the session)
happen only when one of them runs, so other commands start as fast as before.
"""

from __future__ import annotations

import argparse
import importlib.util
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from conformance.cli.options import add_isolation_options, isolation_from
from conformance.errors import UsageError

DEFAULT_DATABASE = Path(".hypothesis") / "conformance-fuzz"
DEFAULT_MAX_ACTIONS = 16
PROGRESS_EVERY = 250  # programs between progress lines when stderr is not a terminal


def add_commands(commands: Any) -> None:
    """Add the `fuzz` and `gradcheck` subcommands to the CLI's subparsers."""
    from conformance.fuzz.features import FEATURES

    fuzz = commands.add_parser(
        "fuzz",
        help="run random programs on two backends; shrink a divergence to a spec",
        description="Generate random autograd programs in the spec language, run each on "
        "--backend and --against, diff them, and shrink the first divergence to a minimal "
        "spec that reproduces it. Exit 1 when a divergence is found.",
    )
    fuzz.add_argument("--backend", required=True, metavar="NAME", help="the backend under test")
    fuzz.add_argument(
        "--against", default="torch-cpu", metavar="NAME", help="the oracle (default: torch-cpu)"
    )
    fuzz.add_argument(
        "--max-examples", type=int, default=200, metavar="N", help="programs to run (default 200)"
    )
    fuzz.add_argument(
        "--seed", type=int, default=0, metavar="S", help="hypothesis seed (default 0)"
    )
    fuzz.add_argument(
        "--out",
        metavar="DIR",
        help="where the shrunk spec goes (default: specs/regressions under the working "
        "folder: in a checkout, the shipped spec set's own; elsewhere, run yours beside the "
        "installed set with `conformance run --extend-spec specs/regressions`)",
    )
    fuzz.add_argument(
        "--tag",
        action="append",
        metavar="FEATURE",
        help="only these feature groups (repeatable): " + ", ".join(FEATURES),
    )
    fuzz.add_argument(
        "--skip",
        action="append",
        metavar="FEATURE",
        help="leave these feature groups out (repeatable), e.g. --skip copy_slices for a "
        "backend that does not record in-place ops through views",
    )
    fuzz.add_argument(
        "--max-actions",
        type=int,
        default=DEFAULT_MAX_ACTIONS,
        metavar="K",
        help=f"longest program, in actions (default {DEFAULT_MAX_ACTIONS})",
    )
    fuzz.add_argument(
        "--db",
        metavar="DIR",
        help=f"hypothesis example database, for replay (default: {DEFAULT_DATABASE})",
    )
    fuzz.add_argument("--no-db", action="store_true", help="use no example database")
    add_isolation_options(fuzz.add_argument, scenarios=False)
    fuzz.set_defaults(command=fuzz_command)

    gradcheck = commands.add_parser(
        "gradcheck",
        help="check each differentiable op against finite differences (float64)",
    )
    gradcheck.add_argument(
        "--backend",
        required=True,
        metavar="NAME",
        help="the backend whose gradients are checked (it needs float64)",
    )
    gradcheck.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="S",
        help="seeds the points each op is checked at (default 0)",
    )
    add_isolation_options(gradcheck.add_argument, scenarios=False)
    gradcheck.set_defaults(command=gradcheck_command)


def fuzz_command(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("hypothesis") is None:
        raise UsageError(
            "conformance fuzz draws programs with hypothesis, which is not installed "
            "(pip install 'autograd-conformance[fuzz]')"
        )
    from conformance.isolation import start_executors

    if args.max_examples < 1 or args.max_actions < 1:
        raise UsageError("--max-examples and --max-actions take counts of one or more")
    isolation = isolation_from(lambda option: getattr(args, option, None))
    executors = start_executors(list(dict.fromkeys([args.backend, args.against])), isolation)
    try:
        tested, oracle = executors[0], executors[-1]
        for executor in executors:
            _require_available(executor)
        return _fuzz(args, tested, oracle)
    finally:
        for executor in executors:
            executor.close()


def _fuzz(args: argparse.Namespace, tested: Any, oracle: Any) -> int:
    from conformance.fuzz import regression
    from conformance.fuzz.differential import Differential
    from conformance.fuzz.generator import Config
    from conformance.fuzz.session import Options, fuzz

    config = Config(
        features=_features(args.tag) - _features(args.skip, "--skip", frozenset()),
        capabilities=tested.capabilities() & oracle.capabilities(),
        max_actions=args.max_actions,
    )
    database = None if args.no_db else Path(args.db) if args.db else DEFAULT_DATABASE
    options = Options(args.max_examples, args.seed, database, config)
    print(
        f"fuzzing {tested.name} against {oracle.name}: up to {args.max_examples} programs, "
        f"seed {args.seed}, features {', '.join(sorted(config.features))}"
    )
    with _Progress(args.max_examples) as progress:
        result = fuzz(Differential(tested, oracle), options, progress.update)
    verdict = result.verdict
    if verdict is not None:
        origin = regression.Origin(tested.name, oracle.name, _command_line(args))
        out = Path(args.out) if args.out else regression.DEFAULT_DIR
        found = regression.build(verdict, origin, tested, oracle, out)
        _show_divergence(found, result.stats.programs)
    print("\n" + result.stats.summary())
    return 1 if verdict is not None else 0


def _show_divergence(found: Any, programs: int) -> None:
    path = found.write()
    print(f"\ndivergence found after {programs} programs, shrunk to {found.steps} steps:\n")
    print(found.text)
    print(found.tested_result.report())
    if not found.reproduces:
        print(
            f"\nnote: the spec does not reproduce the divergence on its own "
            f"({found.oracle_result.backend}: {found.oracle_result.status.value}, "
            f"{found.tested_result.backend}: {found.tested_result.status.value}); "
            f"the diff above is the fuzzer's",
        )
    command = (
        f"conformance run --spec {shlex.quote(str(path))} --backend "
        f"{shlex.quote(found.tested_result.backend)} --backend "
        f"{shlex.quote(found.oracle_result.backend)}"
    )
    print(f"\nwritten: {path}\nreproduce: {command}")


def gradcheck_command(args: argparse.Namespace) -> int:
    from conformance.fuzz.gradcheck import gradcheck
    from conformance.isolation import start_executors

    isolation = isolation_from(lambda option: getattr(args, option, None))
    (backend,) = start_executors([args.backend], isolation)
    try:
        _require_available(backend)
        if "float64" not in backend.capabilities():
            reason = backend.missing_reason("float64")
            print(f"{backend.name}: unsupported: gradcheck needs float64 ({reason})")
            return 0
        return _show_gradcheck(backend.name, gradcheck(backend, args.seed))
    finally:
        backend.close()


def _show_gradcheck(name: str, outcomes: list[Any]) -> int:
    width = max(len(outcome.case.expression) for outcome in outcomes)
    for outcome in outcomes:
        case = outcome.case
        status = "pass" if outcome.passed else "FAIL"
        tolerance = f"rtol={case.rtol:g} atol={case.atol:g}"
        print(f"{status}  {case.expression:<{width}}  {tolerance:<22}  {case.reason}")
        if not outcome.passed:
            print(f"      {outcome.detail}")
    failed = sum(not outcome.passed for outcome in outcomes)
    print(f"\n{len(outcomes)} cases on {name}: {len(outcomes) - failed} pass, {failed} fail")
    return 1 if failed else 0


# --- helpers ---------------------------------------------------------------------------------


def _require_available(backend: Any) -> None:
    broken = getattr(backend, "broken", "")  # a worker that could not load the backend
    if broken:
        raise UsageError(f"backend {backend.name}: {broken}")
    availability = backend.availability()
    if not availability.available:
        raise UsageError(f"backend {backend.name} is unavailable: {availability.reason}")


def _features(
    tags: Sequence[str] | None, option: str = "--tag", default: frozenset[str] | None = None
) -> frozenset[str]:
    from conformance.fuzz.features import ALL_FEATURES

    if not tags:
        return ALL_FEATURES if default is None else default
    unknown = sorted(set(tags) - ALL_FEATURES)
    if unknown:
        raise UsageError(
            f"{option} {', '.join(unknown)}: unknown feature; expected one of "
            f"{', '.join(sorted(ALL_FEATURES))}"
        )
    return frozenset(tags)


def _command_line(args: argparse.Namespace) -> str:
    parts = ["conformance", "fuzz", "--backend", args.backend, "--against", args.against]
    parts += ["--seed", str(args.seed), "--max-examples", str(args.max_examples)]
    if args.max_actions != DEFAULT_MAX_ACTIONS:
        parts += ["--max-actions", str(args.max_actions)]
    for tag in args.tag or ():
        parts += ["--tag", tag]
    for tag in args.skip or ():
        parts += ["--skip", tag]
    return " ".join(shlex.quote(part) for part in parts)


class _Progress:
    """A tqdm bar at a terminal; otherwise a line every `PROGRESS_EVERY` programs."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.bar: Any = None
        self.shown = 0

    def __enter__(self) -> _Progress:
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, file=sys.stderr, unit="program", leave=False)
        return self

    def update(self, stats: Any) -> None:
        if self.bar is not None:
            self.bar.n = stats.programs
            self.bar.set_postfix_str(
                f"shrinking ({stats.shrink_runs} runs)" if stats.shrink_runs else "", refresh=False
            )
            self.bar.refresh()
        elif stats.programs - self.shown >= PROGRESS_EVERY and not stats.shrink_runs:
            self.shown = stats.programs
            print(
                f"fuzz: {stats.programs}/{self.total} programs, {stats.rate:.0f} programs/s",
                file=sys.stderr,
                flush=True,
            )

    def __exit__(self, *exc_info: object) -> None:
        if self.bar is not None:
            self.bar.close()
