"""How many of the broken-backend catalogue's bugs the shipped specs and the fuzzer catch.

    python benchmarks/kill_rate.py [--out reports/kill_rate.json] [--examples 500] [--seed 1]

The catalogue is tests/conformance/fixtures/broken_*.py: real torch behind a proxy that
changes one rule each (see tests/conformance/test_broken_catalogue.py). For each module:

- the specs: every spec under specs/ runs on it, in this process, as `conformance run --spec
  specs --backend torchlike:MODULE --repeat 0` would, against torch-cpu as baseline; the bug is
  caught when any scenario fails or errors, and the count of those is recorded;
- the fuzzer: the first `--examples` programs the fuzzer's generator draws from `--seed` (all
  features, default size, the capabilities the clean proxy and torch-cpu share;
  `conformance.fuzz.generator.sample`), the same ones for every
  module, run on it and on torch-cpu until the first divergence. The programs are drawn once,
  up front, so that each module meets the same ones whatever ran before it in this process;
  a `conformance fuzz` session draws from the same generator but steers by what it has seen,
  and shrinks what it finds (which costs more than finding it and decides nothing here).

A clean proxy (the same wrapper, no rule changed) runs first as the control: the specs and
the fuzzer must find nothing on it, or every "caught" below would be suspect; its fuzz run
of the whole budget gives the fuzzer's programs per second. `tox -e bench` runs this, and
benchmarks/report.py puts the table in reports/bench.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import types
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "conformance" / "fixtures"
CONTROL = "clean_proxy"


@dataclass
class Measured:
    module: str
    bug: str
    spec_failures: list[str] = field(default_factory=list)
    spec_seconds: float = 0.0
    fuzz_found: bool = False
    fuzz_programs: int = 0
    fuzz_seconds: float = 0.0
    fuzz_divergence: str = ""  # the first mismatch of the first diverging program

    @property
    def by_specs(self) -> bool:
        return bool(self.spec_failures)


def catalogue() -> list[str]:
    return sorted(path.stem for path in FIXTURES.glob("broken_*.py"))


def _backend(module: str) -> Any:
    from conformance.backends import TorchLike, resolve_backend

    if module != CONTROL:
        return resolve_backend(f"torchlike:{module}")
    from wrapped_torch import NodeRewriteTensor, module_getattr  # type: ignore[import-not-found]

    # The most intrusive of the proxies (it reads every result's grad_fn), changing nothing.
    clean = types.ModuleType(CONTROL, "torch behind the catalogue's proxy, no rule changed")
    clean.__getattr__ = module_getattr(NodeRewriteTensor)  # type: ignore[method-assign]
    return TorchLike(clean, name=f"torchlike:{CONTROL}")


def _bug(module: str) -> str:
    if module == CONTROL:
        return "none (the control)"
    text = (FIXTURES / f"{module}.py").read_text(encoding="utf-8")
    doc = text.split('"""')[1] if text.startswith('"""') else ""
    return " ".join(doc.split())


def run_specs(runner: Any, scenarios: list[Any], backend: Any) -> list[str]:
    from conformance.run.results import Status

    results = runner.run_all(scenarios, [backend])
    return [r.scenario.id for r in results if r.status in (Status.FAIL, Status.ERROR)]


def fuzz_programs(
    examples: int, seed: int, capabilities: frozenset[str]
) -> tuple[list[Any], float]:
    """The fuzzer's first `examples` programs from `seed` (all features, default size, the
    capabilities both backends have, as `conformance fuzz` takes them), and the seconds
    generating them took."""
    from conformance.fuzz.generator import Config, sample

    started = time.perf_counter()
    found = sample(examples, Config(capabilities=capabilities), at=seed)
    return found, time.perf_counter() - started


def run_fuzzer(backend: Any, oracle: Any, programs: list[Any]) -> tuple[bool, int, float, str]:
    """Whether one of `programs` diverges, how many ran until then, in how many seconds,
    and the divergence (its first mismatch)."""
    from conformance.fuzz.differential import Differential

    differential = Differential(backend, oracle)
    started = time.perf_counter()
    for ran, program in enumerate(programs, 1):
        verdict = differential.run(program)
        if verdict.diverged:
            first = verdict.mismatches[0]
            shown = f"{first.path}: {first.problem}; expected {first.expected}, got {first.got}"
            return True, ran, time.perf_counter() - started, shown[:400]
    return False, len(programs), time.perf_counter() - started, ""


def measure(modules: list[str], examples: int, seed: int, log: Any = print) -> dict[str, Any]:
    import torch

    from conformance.backends import resolve_backend
    from conformance.run.runner import Runner, TimingOptions
    from conformance.spec import find_spec_files, load_specs

    torch.set_num_threads(1)
    if str(FIXTURES) not in sys.path:
        sys.path.insert(0, str(FIXTURES))
    scenarios = load_specs(find_spec_files([str(ROOT / "specs")]))
    oracle = resolve_backend("torch-cpu")
    runner = Runner(oracle, TimingOptions(0, 0))
    run_specs(runner, scenarios, oracle)  # the baseline's values, once, before any timing
    capabilities = oracle.capabilities() & _backend(CONTROL).capabilities()
    programs, generating = fuzz_programs(examples, seed, capabilities)
    rows = []
    for module in [CONTROL, *modules]:
        row = Measured(module, _bug(module))
        backend = _backend(module)
        started = time.perf_counter()
        row.spec_failures = run_specs(runner, scenarios, backend)
        row.spec_seconds = time.perf_counter() - started
        row.fuzz_found, row.fuzz_programs, row.fuzz_seconds, row.fuzz_divergence = run_fuzzer(
            backend, oracle, programs
        )
        torch.set_grad_enabled(True)  # whatever a broken grad mode left behind
        log(
            f"{module:40} specs: {len(row.spec_failures):3} failing   fuzzer: "
            f"{'found' if row.fuzz_found else 'missed':6} after {row.fuzz_programs:3} programs "
            f"({row.fuzz_seconds:.1f} s)"
        )
        rows.append(row)
    control, broken = rows[0], rows[1:]
    ran = sum(r.fuzz_programs for r in rows)
    seconds = sum(r.fuzz_seconds for r in rows)
    return {
        "examples": examples,
        "seed": seed,
        "specs": len(scenarios),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "programs": len(programs),
        "generating_s": generating,
        # the fuzzer's speed: generating a program and running it on both backends
        "control": {
            **asdict(control),
            "programs_per_s": len(programs) / (generating + control.fuzz_seconds),
        },
        "running_per_s": ran / seconds if seconds else 0.0,
        "modules": [asdict(r) for r in broken],
        "caught_by_specs": sum(r.by_specs for r in broken),
        "caught_by_fuzzer": sum(r.fuzz_found for r in broken),
        "caught_by_either": sum(r.by_specs or r.fuzz_found for r in broken),
        "caught_by_one_scenario": sum(len(r.spec_failures) == 1 for r in broken),
    }


def markdown(data: dict[str, Any]) -> list[str]:
    """The "Kill rate" section of reports/bench.md."""
    modules = data["modules"]
    total = len(modules)

    def share(count: int) -> str:
        return f"{count} of {total} ({count / total:.0%})" if total else "0"

    control = data["control"]
    lines = [
        "## Kill rate",
        "",
        f"The broken-backend catalogue (`tests/conformance/fixtures/broken_*.py`, {total} "
        "modules, each real torch with one subtle bug) against the shipped specs "
        f"({data['specs']} scenarios, `conformance run --spec specs --repeat 0`) and the fuzzer "
        f"(the same first {data['programs']} programs from seed {data['seed']} for every "
        f"module, all features, against torch-cpu). Measured {data['date']}, torch "
        f"{data['torch']}, by `python benchmarks/kill_rate.py`.",
        "",
        f"- caught by the specs: **{share(data['caught_by_specs'])}**; by a single scenario: "
        f"{data['caught_by_one_scenario']}",
        f"- caught by the fuzzer: **{share(data['caught_by_fuzzer'])}**",
        f"- caught by either: {share(data['caught_by_either'])}",
        f"- fuzzer speed: {control['programs_per_s']:.0f} programs/s (generating "
        f"{data['programs']} programs took {data['generating_s']:.1f} s; running them on the "
        f"clean proxy and torch-cpu, {control['fuzz_seconds']:.1f} s); "
        f"{data['running_per_s']:.0f} programs/s run over the whole measurement",
        f"- control (the proxy with no bug): {len(control['spec_failures'])} scenarios fail, "
        f"fuzzer {'**found a divergence**' if control['fuzz_found'] else 'found nothing'}",
        "",
        "| bug | specs: scenarios failing | fuzzer: programs to find it |",
        "| --- | --- | --- |",
    ]
    for row in modules:
        specs = str(len(row["spec_failures"])) if row["spec_failures"] else "**missed**"
        fuzz = str(row["fuzz_programs"]) if row["fuzz_found"] else "**missed**"
        lines.append(f"| `{row['module'].removeprefix('broken_')}` | {specs} | {fuzz} |")
    lines += ["", "What each module breaks is in its docstring.", ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "kill_rate.json")
    parser.add_argument("--examples", type=int, default=500, help="fuzz budget per module")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", action="append", help="only this module (repeatable)")
    args = parser.parse_args(argv)
    modules = args.only or catalogue()
    data = measure(modules, args.examples, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print("\n".join(markdown(data)[4:9]))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
