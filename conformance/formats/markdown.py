"""Markdown for pull requests: the verdict, the matrix, each failure with its diff and repro,
and the timing table with ratios. Long parts fold into `<details>` so the page stays short."""

from __future__ import annotations

from conformance.formats.common import (
    BENCH_TAG,
    SYMBOL,
    environment_text,
    known,
    matrix_rows,
    problems,
    seconds,
    spec_set_text,
    summary_text,
    timed,
    verdict,
)
from conformance.report.runfile import ResultRecord, RunRecord
from conformance.run.results import Status


def markdown(run: RunRecord) -> str:
    lines = [
        "# Conformance report",
        "",
        f"**{verdict(run)}** · {summary_text(run)}",
        "",
        f"{environment_text(run)} · run {run.created}"
        + (f" · spec set {spec_set_text(run)}" if run.spec_hash else ""),
        "",
        "Backends: " + ", ".join(_backend(run, name) for name in run.backend_names()),
        "",
    ]
    if run.incomplete is not None:
        # First thing after the verdict: the counts above cover only what finished.
        lines += [
            f"> ⛔ **Incomplete run:** {run.incomplete}. Only the results finished by "
            "then are shown; the gate fails this run.",
            "",
        ]
    lines += [f"> ⚠️ {warning}" for warning in run.stale]
    lines += _matrix(run)
    lines += _problems(run)
    lines += _expected(run)
    lines += _timing(run)
    return "\n".join(lines).rstrip() + "\n"


def _backend(run: RunRecord, name: str) -> str:
    record = next(b for b in run.backends if b.name == name)
    if not record.available:
        return f"`{name}` (unavailable: {record.reason})"
    version = record.info.get("version")
    return f"`{name}`" + (f" ({record.info.get('module')} {version})" if version else "")


def _cell(result: ResultRecord | None) -> str:
    if result is None:
        return ""
    return f"{SYMBOL[result.status]} {result.status.value}"


def _table(run: RunRecord, rows: list[tuple[str, dict[str, ResultRecord]]]) -> list[str]:
    names = run.backend_names()
    lines = ["| scenario | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for scenario, cells in rows:
        lines.append(
            f"| `{scenario}` | " + " | ".join(_cell(cells.get(name)) for name in names) + " |"
        )
    return lines


def _matrix(run: RunRecord) -> list[str]:
    rows = matrix_rows(run)
    notable = [row for row in rows if any(r.status is not Status.PASS for r in row[1].values())]
    lines = ["## Matrix", ""]
    if notable:
        lines += ["Scenarios that do not pass everywhere:", "", *_table(run, notable), ""]
    else:
        lines += ["Every scenario passes on every backend.", ""]
    lines += [
        f"<details><summary>All {len(rows)} scenarios</summary>",
        "",
        *_table(run, rows),
        "",
        "</details>",
        "",
    ]
    return lines


def _problems(run: RunRecord) -> list[str]:
    found = problems(run)
    lines = [f"## Failures ({len(found)})", ""]
    if not found:
        return [*lines, "None.", ""]
    for result in found:
        lines += [
            f"### {SYMBOL[result.status]} `{result.scenario}` [{result.backend}]: "
            f"{result.status.value}",
            "",
            f"{result.title} (`{result.file}`)",
            "",
            "```text",
            result.details() or result.headline(),
            "```",
            "",
        ]
        if result.repro_command:
            lines += [f"Rerun alone: `{result.repro_command}`", ""]
        if result.repro_snippet:
            lines += [
                "<details><summary>Standalone repro</summary>",
                "",
                "```python",
                result.repro_snippet.rstrip(),
                "```",
                "",
                "</details>",
                "",
            ]
    return lines


def _expected(run: RunRecord) -> list[str]:
    found = known(run)
    if not found:
        return []
    lines = [f"## Known failures ({len(found)})", "", "| scenario | backend | status | reason |"]
    lines.append("|---|---|---|---|")
    for result in found:
        reason = (result.expected or {}).get("reason", "")
        lines.append(
            f"| `{result.scenario}` | {result.backend} | {_cell(result)} | {_escape(reason)} |"
        )
    return [*lines, ""]


def _timing(run: RunRecord) -> list[str]:
    results = timed(run)
    if not results:
        return []
    against = run.timing_baseline
    bench = [r for r in results if BENCH_TAG in r.tags]
    rest = [r for r in results if BENCH_TAG not in r.tags]
    rounds = max(len(r.timing.samples) for r in results if r.timing)
    lines = [
        "## Timing",
        "",
        f"Median and interquartile range over up to {rounds} rounds, each running every "
        "backend once in a rotating order"
        + (
            f"; the ratio to `{against}` is the median over blocks of one full rotation "
            "(95% bootstrap interval)."
            if against
            else "."
        ),
        "",
    ]
    if bench:
        lines += [*_timing_table(bench, against), ""]
    if rest:
        lines += [
            f"<details><summary>Every other timed scenario ({len(rest)})</summary>",
            "",
            *_timing_table(rest, against),
            "",
            "</details>",
            "",
        ]
    return lines


def _timing_table(results: list[ResultRecord], against: str | None) -> list[str]:
    header = "| scenario | backend | median | IQR |"
    rule = "|---|---|---:|---:|"
    if against:
        header += f" ratio to {against} |"
        rule += "---:|"
    lines = [header, rule]
    for result in results:
        timing = result.timing
        assert timing is not None
        row = (
            f"| `{result.scenario}` | {result.backend} | {seconds(timing.median)} | "
            f"{seconds(timing.iqr)} |"
        )
        if against:
            ratio = timing.ratio
            row += (
                f" {ratio.value:.2f}× ({ratio.low:.2f}–{ratio.high:.2f}) |"
                if ratio is not None and result.backend != against
                else " 1× |"
                if result.backend == against
                else " – |"
            )
        lines.append(row)
    return lines


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
