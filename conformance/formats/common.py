"""What every human-readable report shows the same way: status words, symbols, ordering."""

from __future__ import annotations

from conformance.report.runfile import ResultRecord, RunRecord
from conformance.run.results import Status

SYMBOL = {
    Status.PASS: "✅",
    Status.FAIL: "❌",
    Status.ERROR: "💥",
    Status.CRASH: "☠️",
    Status.TIMEOUT: "⏱️",
    Status.XFAIL: "🟡",
    Status.XPASS: "⚠️",
    Status.UNSUPPORTED: "➖",
    Status.UNAVAILABLE: "⛔",
}
# Worst first: the order problems are listed in.
SEVERITY = [
    Status.CRASH,
    Status.TIMEOUT,
    Status.ERROR,
    Status.FAIL,
    Status.XPASS,
    Status.XFAIL,
    Status.UNAVAILABLE,
    Status.UNSUPPORTED,
    Status.PASS,
]
PROBLEMS = (Status.FAIL, Status.ERROR, Status.CRASH, Status.TIMEOUT, Status.XPASS)
BENCH_TAG = "bench"


def seconds(value: float) -> str:
    if value < 1e-3:
        return f"{value * 1e6:.0f} µs"
    if value < 1:
        return f"{value * 1e3:.2f} ms"
    return f"{value:.2f} s"


def verdict(run: RunRecord) -> str:
    return "PASS" if run.ok else "FAIL"


def summary_text(run: RunRecord) -> str:
    scenarios = len(run.scenario_ids())
    counts = ", ".join(f"{n} {status}" for status, n in run.summary.items() if n)
    return f"{scenarios} scenarios × {len(run.backends)} backends: {counts}"


def environment_text(run: RunRecord) -> str:
    env = run.environment
    parts = [
        f"Python {env.get('python')}",
        f"numpy {env.get('numpy')}",
        f"torch {env.get('torch') or 'not installed'}",
        f"{env.get('platform')} ({env.get('cpu_count')} CPUs)",
    ]
    isolation = run.data.get("isolation")
    if isolation:  # runs made before isolation existed say nothing of it or of threads
        threads = run.data.get("threads")
        parts.append(f"threads per backend: {threads or 'library default'}")
        in_workers = isolation.get("mode") == "process"
        parts.append("each backend in its own process" if in_workers else "one process")
    return " · ".join(parts)


def spec_set_text(run: RunRecord, code: str = "`") -> str:
    """The spec set a run used, by name and hash: "0.1.0 (installed) `sha256:0123abcd…`";
    the hash alone for a run file that does not name the set. `code` quotes the hash."""
    digest = f"{code}{(run.spec_hash or '')[:19]}…{code}"
    return f"{run.spec_set_name} {digest}" if run.spec_set_name else digest


def problems(run: RunRecord) -> list[ResultRecord]:
    """Results a reader must act on, worst first: errors, failures, strict xpasses."""
    found = [r for r in run.results if r.status in PROBLEMS and not r.ok]
    return sorted(found, key=lambda r: (SEVERITY.index(r.status), r.scenario, r.backend))


def known(run: RunRecord) -> list[ResultRecord]:
    """Failures a manifest expects (xfail), and tolerated non-strict xpasses."""
    found = [r for r in run.results if r.status in (Status.XFAIL, Status.XPASS) and r.ok]
    return sorted(found, key=lambda r: (r.scenario, r.backend))


def matrix_rows(run: RunRecord) -> list[tuple[str, dict[str, ResultRecord]]]:
    """One row per scenario, rows with a problem first, then in id order."""
    rows: dict[str, dict[str, ResultRecord]] = {}
    for result in run.results:
        rows.setdefault(result.scenario, {})[result.backend] = result

    def rank(item: tuple[str, dict[str, ResultRecord]]) -> tuple[int, str]:
        worst = min(SEVERITY.index(r.status) for r in item[1].values())
        return (worst, item[0])

    return sorted(rows.items(), key=rank)


def timed(run: RunRecord) -> list[ResultRecord]:
    """Timed results, bench scenarios first."""
    found = [r for r in run.results if r.timing is not None]
    return sorted(found, key=lambda r: (BENCH_TAG not in r.tags, r.scenario, r.backend))
