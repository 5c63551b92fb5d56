"""The peers matrix: how engines written apart from torch fare on every spec, from one run.

For each engine its version and the run's thread count, then pass, fail, unsupported,
error, crash and timeout counts by area (a spec's folder: `semantics/grad_fn`, `tutorial`,
...), then each divergence with the explanation its manifest
(reports/expectations/<engine>.yaml) gives and, folded under it, the manifest's snippet that
confirms it on the engine. The reason comes from the run; the snippet is read from the
manifests (`--expectations`). With `--bench`, a second run of the `bench`-tagged scenarios
with timing on (the backends timed side by side in interleaved rounds), it adds, per engine
and bench scenario, the median time and the ratio to the timing baseline (torch-cpu), with
the thread count. Writes `matrix.html` and `summary.md`:

    python -m conformance.formats.peers reports/runs/latest.json --out reports/peers \
        --bench reports/bench/runs/latest.json
"""

from __future__ import annotations

import argparse
import html
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from conformance.ci.expectations import load_expectations
from conformance.report.runfile import ResultRecord, RunRecord, load_run
from conformance.run.results import Status

COLUMNS = ("pass", "fail", "unsupported", "error", "crash", "timeout")
_BAD = ("fail", "error", "crash", "timeout")


@dataclass(frozen=True)
class Divergence:
    scenario: str
    file: str
    headline: str
    explanation: str | None  # the manifest's reason; None when the manifest does not list it
    snippet: str | None = None  # the manifest's confirming snippet, when it has one


def area(result: ResultRecord) -> str:
    """The spec's folder under specs/: `semantics/grad_fn`, `tutorial`, `regressions`."""
    parts = PurePosixPath(result.file).parent.parts
    return "/".join(parts[parts.index("specs") + 1 :] if "specs" in parts else parts[-1:]) or "."


def column(result: ResultRecord) -> str:
    """Which count a result goes to; a known failure counts as what it is (fail or error)."""
    status = result.status
    if status in (Status.PASS, Status.XPASS):
        return "pass"
    if status in (Status.UNSUPPORTED, Status.UNAVAILABLE):
        return "unsupported"
    if status in (Status.CRASH, Status.TIMEOUT):
        return status.value
    if status is Status.ERROR or result.error is not None:
        return "error"
    return "fail"


def counts(run: RunRecord, engine: str) -> dict[str, Counter[str]]:
    """Per area, the engine's results by column."""
    table: dict[str, Counter[str]] = {}
    for result in run.results:
        if result.backend == engine:
            table.setdefault(area(result), Counter())[column(result)] += 1
    return dict(sorted(table.items()))


def divergences(
    run: RunRecord, engine: str, snippets: dict[str, str] | None = None
) -> list[Divergence]:
    """The engine's fail, error, crash and timeout results; `snippets` maps a scenario id to
    its manifest entry's snippet."""
    found = []
    for result in run.results:
        if result.backend != engine or column(result) not in _BAD:
            continue
        reason = str(result.expected["reason"]) if result.expected else None
        snippet = (snippets or {}).get(result.scenario)
        found.append(Divergence(result.scenario, result.file, result.headline(), reason, snippet))
    return found


def snippets(directory: Path | None, engines: list[str]) -> dict[str, dict[str, str]]:
    """Per engine, scenario id -> the snippet its manifest entry carries."""
    if directory is None or not directory.is_dir():
        return {}
    loaded = load_expectations(directory, engines)
    return {
        engine: {id: entry.snippet for id, entry in by_id.items() if entry.snippet}
        for engine, by_id in loaded.entries.items()
    }


def threads(run: RunRecord) -> str:
    """The thread count each backend's math libraries had (0: each library's default)."""
    value = run.data.get("threads")
    return "?" if value is None else "library default" if value == 0 else str(value)


@dataclass(frozen=True)
class Timed:
    """One engine's time on one bench scenario: the median of its timed rounds, and its ratio
    to the timing baseline with the 95% interval; `diverges` when its result differs from
    torch's (a known failure: the time is still that of the engine's own computation)."""

    median_s: float
    rounds: int
    ratio: float | None
    low: float | None
    high: float | None
    to: str | None
    diverges: bool

    def text(self) -> str:
        cell = _duration(self.median_s)
        if self.ratio is not None:
            cell += f" ({self.ratio:.3g}x"
            if self.low is not None and self.high is not None and self.low != self.high:
                cell += f", {self.low:.3g}-{self.high:.3g}"
            cell += ")"
        return cell + (" *" if self.diverges else "")


def timings(run: RunRecord) -> dict[str, dict[str, Timed | str]]:
    """Per bench-tagged scenario, per engine: its timing, or why there is none (its status)."""
    table: dict[str, dict[str, Timed | str]] = {}
    for result in run.results:
        if "bench" not in result.tags:
            continue
        row = table.setdefault(result.scenario, {})
        timing = result.timing
        if timing is None:
            row[result.backend] = column(result)
            continue
        ratio = timing.ratio
        row[result.backend] = Timed(
            median_s=timing.median,
            rounds=len(timing.samples),
            ratio=ratio.value if ratio else None,
            low=ratio.low if ratio else None,
            high=ratio.high if ratio else None,
            to=ratio.to if ratio else None,
            diverges=column(result) in _BAD,
        )
    return dict(sorted(table.items()))


def _duration(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.3g} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} us"


def _timing_baseline(run: RunRecord) -> str:
    timing = run.data.get("timing") or {}
    return str(timing.get("baseline") or run.data.get("baseline") or "?")


def _timing_intro(bench: RunRecord) -> str:
    timing = bench.data.get("timing") or {}
    rounds = [
        t.rounds for row in timings(bench).values() for t in row.values() if isinstance(t, Timed)
    ]
    spread = "no" if not rounds else str(min(rounds)) if min(rounds) == max(rounds) else ""
    spread = spread or f"{min(rounds)} to {max(rounds)}"
    precision = timing.get("bench_precision")
    within = f"{precision:.0%}" if isinstance(precision, (int, float)) else "?"
    cpus = (bench.data.get("environment") or {}).get("cpu_count")
    return (
        f"From run {bench.created} of the `bench` scenarios with timing on"
        + (f", on a machine with {cpus} CPUs" if cpus else "")
        + ": the backends are timed side by side in interleaved rounds (each in a worker "
        f"process of its own with {threads(bench)} thread(s); {timing.get('warmup', '?')} "
        f"untimed warm-up run, then {spread} timed rounds: until each ratio is known within "
        f"{within} or {timing.get('bench_repeat', '?')} rounds), and a lazy engine is "
        "realised before the clock stops. A cell is the median "
        f"time of one run of the scenario and its ratio to {_timing_baseline(bench)} with the "
        "95% interval (lower is faster); * marks an engine whose result differs from torch "
        "there (a divergence listed below; the time is still that of its own computation); "
        "a status instead of a time means the scenario did not run to the end."
    )


def version(run: RunRecord, engine: str) -> str:
    for backend in run.backends:
        if backend.name == engine:
            if not backend.available:
                return f"unavailable: {backend.reason}"
            return backend.info.get("version", "?")
    return "?"


def markdown(
    run: RunRecord,
    found_snippets: dict[str, dict[str, str]] | None = None,
    bench: RunRecord | None = None,
) -> str:
    engines = run.backend_names()
    lines = [
        "# Peers: engines written apart from torch, on every spec",
        "",
        f"Run {run.created}"
        + (f" · spec set `{run.spec_hash[:19]}`" if run.spec_hash else "")
        + ". Regenerate with `tox -e peers`; the HTML matrix is [matrix.html](matrix.html).",
        "",
        "A cell is " + " / ".join(COLUMNS) + ". *unsupported* means the engine lacks a",
        "capability the scenario needs (the reason is in the run); every fail, error, crash",
        "and timeout is a divergence from torch, explained below from the engine's manifest in",
        "`reports/expectations/`, with the snippet that confirms it on the engine.",
        f"Each backend ran in a worker process of its own with {threads(run)} thread(s).",
        "",
        "| engine | version | threads | " + " | ".join(COLUMNS) + " |",
        "| --- | --- | ---: | " + " | ".join("---:" for _ in COLUMNS) + " |",
    ]
    for engine in engines:
        total: Counter[str] = Counter()
        for by_column in counts(run, engine).values():
            total.update(by_column)
        cells = " | ".join(str(total[name]) for name in COLUMNS)
        lines.append(f"| {engine} | {version(run, engine)} | {threads(run)} | {cells} |")
    areas = sorted({area(result) for result in run.results})
    tables = {engine: counts(run, engine) for engine in engines}
    lines += ["", "## By area", "", "| area | " + " | ".join(engines) + " |"]
    lines.append("| --- | " + " | ".join("---" for _ in engines) + " |")
    for name in areas:
        row = [_cell(tables[engine].get(name, Counter())) for engine in engines]
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    if bench is not None and timings(bench):
        timed_engines = bench.backend_names()
        lines += ["", "## Timing: bench scenarios", "", _timing_intro(bench), ""]
        lines.append(
            "| scenario | "
            + " | ".join(f"{engine} ({threads(bench)} thr.)" for engine in timed_engines)
            + " |"
        )
        lines.append("| --- | " + " | ".join("---:" for _ in timed_engines) + " |")
        for scenario, timed in timings(bench).items():
            shown = [_timed_text(timed.get(engine)) for engine in timed_engines]
            lines.append(f"| `{scenario}` | " + " | ".join(shown) + " |")
    for engine in engines:
        found = divergences(run, engine, (found_snippets or {}).get(engine))
        if not found:
            continue
        lines += ["", f"## {engine} {version(run, engine)}: {len(found)} divergences", ""]
        for item in found:
            explanation = item.explanation or "**not explained: missing from the manifest**"
            lines.append(f"- `{item.scenario}`: {explanation}")
            lines.append(f"  <br>seen: {_one_line(item.headline)}")
            if item.snippet:
                fence = "````" if "```" in item.snippet else "```"
                lines += ["", "  <details><summary>snippet</summary>", "", f"  {fence}python"]
                lines += [f"  {line}".rstrip() for line in item.snippet.splitlines()]
                lines += [f"  {fence}", "", "  </details>", ""]
    return "\n".join(lines) + "\n"


def render_html(
    run: RunRecord,
    found_snippets: dict[str, dict[str, str]] | None = None,
    bench: RunRecord | None = None,
) -> str:
    engines = run.backend_names()
    areas = sorted({area(result) for result in run.results})
    tables = {engine: counts(run, engine) for engine in engines}
    head = "".join(
        f"<th>{html.escape(engine)}<br><small>{html.escape(version(run, engine))}, "
        f"{html.escape(threads(run))} thread(s)</small></th>"
        for engine in engines
    )
    rows = []
    for name in areas:
        cells = "".join(_html_cell(tables[engine].get(name, Counter())) for engine in engines)
        rows.append(f"<tr><th>{html.escape(name)}</th>{cells}</tr>")
    sections = []
    if bench is not None and timings(bench):
        timed_engines = bench.backend_names()
        head_t = "".join(
            f"<th>{html.escape(engine)}<br><small>{html.escape(threads(bench))} thread(s)"
            "</small></th>"
            for engine in timed_engines
        )
        body = "".join(
            f"<tr><th><code>{html.escape(scenario)}</code></th>"
            + "".join(
                f"<td>{html.escape(_timed_text(row.get(engine)))}</td>" for engine in timed_engines
            )
            + "</tr>"
            for scenario, row in timings(bench).items()
        )
        sections.append(
            f"<h2>Timing: bench scenarios</h2><p>{html.escape(_timing_intro(bench))}</p>"
            f"<table><tr><th>scenario</th>{head_t}</tr>{body}</table>"
        )
    for engine in engines:
        found = divergences(run, engine, (found_snippets or {}).get(engine))
        if not found:
            continue
        items = "".join(
            f"<li><code>{html.escape(item.scenario)}</code>: "
            f"{html.escape(item.explanation or 'not explained: missing from the manifest')}"
            f"<br><small>seen: {html.escape(_one_line(item.headline))}</small>"
            + (
                f"<details><summary>snippet</summary><pre>{html.escape(item.snippet)}</pre>"
                "</details>"
                if item.snippet
                else ""
            )
            + "</li>"
            for item in found
        )
        title = f"{engine} {version(run, engine)}: {len(found)} divergences"
        sections.append(f"<h2>{html.escape(title)}</h2><ul>{items}</ul>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Peers matrix</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left}"
        ".pass{background:#dfd}.fail{background:#fdd}.mixed{background:#ffd}"
        ".none{background:#eee}li{margin:.4em 0}pre{background:#f6f6f6;padding:.5em}"
        "</style></head><body>"
        "<h1>Peers: engines written apart from torch, on every spec</h1>"
        f"<p>Run {html.escape(run.created)}, each backend in a worker process of its own with "
        f"{html.escape(threads(run))} thread(s). A cell is {' / '.join(COLUMNS)} by spec "
        "folder; each fail, error, crash and timeout is explained below from the engine's "
        "manifest in <code>reports/expectations/</code>, with the snippet that confirms it on "
        "the engine.</p>"
        f"<table><tr><th>area</th>{head}</tr>{''.join(rows)}</table>"
        f"{''.join(sections)}</body></html>\n"
    )


def _timed_text(timed: Timed | str | None) -> str:
    if timed is None:
        return "not run"
    return timed if isinstance(timed, str) else timed.text()


def _cell(by_column: Counter[str]) -> str:
    return " / ".join(str(by_column[name]) for name in COLUMNS)


def _html_cell(by_column: Counter[str]) -> str:
    bad = sum(by_column[name] for name in _BAD)
    kind = "none" if not by_column["pass"] and not bad else "pass" if not bad else "fail"
    if bad and by_column["pass"]:
        kind = "mixed"
    return f"<td class='{kind}'>{_cell(by_column)}</td>"


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 200 else line[:197] + "..."


def write(
    run: RunRecord, out: Path, expectations: Path | None = None, bench: RunRecord | None = None
) -> list[Path]:
    """Write both files; `expectations` is the manifests' folder the snippets come from, and
    `bench` a timed run of the bench scenarios whose times go in a table of their own."""
    found = snippets(expectations, list(run.backend_names()))
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "summary.md", out / "matrix.html"]
    paths[0].write_text(markdown(run, found, bench), encoding="utf-8")
    paths[1].write_text(render_html(run, found, bench), encoding="utf-8")
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.formats.peers")
    parser.add_argument("run", help="a run JSON (conformance run writes RUN_DIR/runs/latest.json)")
    parser.add_argument("--out", default="reports/peers", help="where the two files go")
    parser.add_argument(
        "--expectations",
        default="reports/expectations",
        help="the manifests whose snippets go under each divergence (default: %(default)s)",
    )
    parser.add_argument(
        "--bench",
        help="a run JSON of the bench scenarios with timing on (conformance run --tag bench): "
        "its median times and ratios go in a timing table",
    )
    args = parser.parse_args(argv)
    bench = load_run(args.bench) if args.bench else None
    for path in write(load_run(args.run), Path(args.out), Path(args.expectations), bench):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
