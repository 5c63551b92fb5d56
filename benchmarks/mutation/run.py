"""Mutation testing of reference's core with mutmut, as `tox -e mutation` runs it.

    python benchmarks/mutation/run.py [--sample 300] [--seed 17] [--max-children 1]

mutmut (configured in pyproject.toml's [tool.mutmut]) mutates reference/engine.py,
reference/function.py and reference/ops/arithmetic.py, and for each mutant runs the specs
that reach the mutated function, on reference (benchmarks/mutation/specs_on_reference.py).
`--sample N` runs N mutants drawn with a fixed seed instead of all of them (about 1,400,
over an hour on one core); `--sample 0` runs all. It prints the score and the survivors,
which are the specs' gaps (docs/mutation.md). mutmut's work folder is mutants/ (ignored).
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MUTMUT = [sys.executable, "-m", "mutmut"]


def _results() -> dict[str, str]:
    out = subprocess.run(
        [*MUTMUT, "results", "--all", "true"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    found = {}
    for line in out.splitlines():
        name, _, status = line.strip().partition(": ")
        if name and status:
            found[name] = status
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=300, help="mutants to run; 0: all")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--max-children", type=int, default=1)
    args = parser.parse_args(argv)
    chosen: list[str] = []
    if args.sample:
        # mutmut generates the mutants and maps tests to functions before it runs any; a
        # filter that matches nothing stops it there (it then exits with an error).
        print("mutmut: generating the mutants and mapping the specs to functions")
        subprocess.run(
            [*MUTMUT, "run", "--max-children", "1", "none-of-them"],
            cwd=ROOT, capture_output=True, check=False,
        )  # fmt: skip
        names = sorted(_results())
        if not names:
            print("mutmut generated no mutants", file=sys.stderr)
            return 2
        random.Random(args.seed).shuffle(names)
        chosen = sorted(names[: args.sample])
        print(f"running {len(chosen)} of {len(names)} mutants (seed {args.seed})")
    subprocess.run([*MUTMUT, "run", "--max-children", str(args.max_children), *chosen], cwd=ROOT)
    results = _results()
    ran = {name: results[name] for name in chosen} if chosen else results
    counts = Counter(ran.values())
    killed = counts["killed"]
    judged = sum(n for status, n in counts.items() if status != "not checked")
    print(dict(counts))
    if judged:
        print(f"score: {killed} killed of {judged} ({killed / judged:.0%})")
    for name, status in sorted(ran.items()):
        if status not in ("killed", "not checked"):
            print(f"{status:12} {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
