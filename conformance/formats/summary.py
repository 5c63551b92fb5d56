"""A compact Markdown summary for a PR comment or GitHub's job summary ($GITHUB_STEP_SUMMARY).

It gives the verdict, the counts per backend and status, and one entry per failure (fail,
error, crash, timeout, strict xpass): its first diff line and the command that reruns it. It
always fits in `LIMIT` bytes of UTF-8 (GitHub caps a comment at 65,536 characters): when the
failures do not all fit, it lists the worst first and says how many it left out and where the
full report is. The full `report.md` and `report.html` keep every detail.
"""

from __future__ import annotations

import shlex

from conformance.formats.common import SEVERITY, SYMBOL, problems, spec_set_text, verdict
from conformance.report.runfile import ResultRecord, RunRecord
from conformance.run.results import Status

LIMIT = 60_000  # bytes of UTF-8
FULL_REPORT = "report.html"
_LINE = 240  # characters at most in a failure's first line, and in a command
_RESERVE = 400  # bytes kept for the line that says what was left out


def summary(run: RunRecord, *, limit: int = LIMIT, full_report: str = FULL_REPORT) -> str:
    """The run in at most `limit` bytes of UTF-8; `full_report` names the file (or URL) that
    holds everything this leaves out."""
    head = _head(run)
    found = problems(run)
    lines = [*head, f"## Failures ({len(found)})", ""]
    if not found:
        lines += ["None.", ""]
    size = _size(lines)
    budget = limit - _RESERVE
    shown = 0
    for result in found:
        entry = _entry(result)
        if size + _size(entry) > budget:
            break
        lines += entry
        size += _size(entry)
        shown += 1
    if shown < len(found):
        left = found[shown:]
        kinds: dict[str, int] = {}
        for result in left:
            kinds[result.status.value] = kinds.get(result.status.value, 0) + 1
        lines += [
            "",
            f"**{len(left)} more {_plural(len(left), 'failure')} left out** "
            f"({', '.join(f'{n} {kind}' for kind, n in kinds.items())}) to keep this summary "
            f"under {limit:,} bytes; the full report, `{full_report}`, lists all {len(found)}.",
        ]
    elif found:
        lines += ["", f"Diffs, tracebacks and standalone repros: `{full_report}`."]
    text = "\n".join(lines).rstrip() + "\n"
    return _fit(text, limit, full_report)


def _head(run: RunRecord) -> list[str]:
    names = run.backend_names()
    scenarios = len(run.scenario_ids())
    lines = [
        "## Conformance summary",
        "",
        f"**{verdict(run)}** · {scenarios} {_plural(scenarios, 'scenario')} × {len(names)} "
        f"{_plural(len(names), 'backend')}"
        + (f" · spec set {spec_set_text(run)}" if run.spec_hash else ""),
        "",
    ]
    counts: dict[str, dict[Status, int]] = {name: {} for name in names}
    for result in run.results:
        per_backend = counts.setdefault(result.backend, {})
        per_backend[result.status] = per_backend.get(result.status, 0) + 1
    # Pass first, then the rest worst first; a status no backend has gets no column.
    statuses = [Status.PASS, *(s for s in SEVERITY if s is not Status.PASS)]
    columns = [s for s in statuses if any(c.get(s) for c in counts.values())]
    if not columns:
        return [*lines, "No results.", ""]
    lines += [
        "| backend | " + " | ".join(f"{SYMBOL[s]} {s.value}" for s in columns) + " |",
        "|---" + "|---:" * len(columns) + "|",
    ]
    for name, by_status in counts.items():
        cells = " | ".join(str(by_status.get(s, 0)) for s in columns)
        lines.append(f"| {_code(name)} | {cells} |")
    lines.append("")
    lines += [f"> ⚠️ {_clip(warning)}" for warning in run.stale[:5]]
    if len(run.stale) > 5:
        lines.append(f"> ⚠️ and {len(run.stale) - 5} more stale manifest entries")
    if run.stale:
        lines.append("")
    return lines


def _entry(result: ResultRecord) -> list[str]:
    status = result.status.value + (" (strict)" if result.status is Status.XPASS else "")
    return [
        f"- {SYMBOL[result.status]} **{status}** {_code(result.scenario)} on "
        f"{_code(result.backend)}: {_code(first_line(result))}",
        f"  rerun: {_code(_clip(rerun_command(result)))}",
    ]


def first_line(result: ResultRecord) -> str:
    """What went wrong, on one line: the first diff (with its values when they are short),
    the error, or the reason a worker gave."""
    if result.status is Status.XPASS or not (result.diffs or result.error):
        text = result.headline()
    elif result.diffs:
        diff = result.diffs[0]
        text = f"{_where(result, diff['step'])}: {diff['path']}: {diff['problem']}"
        expected, got = diff.get("expected", ""), diff.get("got", "")
        if expected and got and len(expected) + len(got) < 80 and "\n" not in expected + got:
            text += f": expected {expected}, got {got}"
        elif diff.get("detail"):
            text += f": {diff['detail']}"
        if len(result.diffs) > 1:
            text += f" (+{len(result.diffs) - 1} more)"
    else:
        assert result.error is not None
        error = result.error
        message = error["message"].strip().splitlines()
        text = f"{_where(result, error['step'])}: {error['type']}: {message[0] if message else ''}"
    return _clip(" ".join(text.split()) or result.status.value)


def rerun_command(result: ResultRecord) -> str:
    """The run JSON's repro command, or (for a crash, a timeout or an xpass, which have none)
    the same `conformance show` command built from the result."""
    if result.repro_command:
        return result.repro_command
    command = ["conformance", "show", result.scenario]
    if result.file:
        command += ["--spec", result.file]
    return shlex.join([*command, "--backend", result.backend])


def _where(result: ResultRecord, step: str) -> str:
    """`line 12` for a step in the scenario's own file, else the step as written."""
    path, _, line = step.rpartition(":")
    return f"line {line}" if path == result.file and line.isdigit() else step


def _code(text: str) -> str:
    """`text` as a Markdown code span, whatever backticks it holds."""
    run = longest = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _clip(text: str) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= _LINE else text[: _LINE - 1] + "…"


def _plural(count: int, word: str) -> str:
    return word if count == 1 else word + "s"


def _size(lines: list[str]) -> int:
    return sum(len(line.encode("utf-8")) + 1 for line in lines)


def _fit(text: str, limit: int, full_report: str) -> str:
    """A last guard for a head that alone outgrows `limit` (thousands of backends, say): cut
    at a line and say so."""
    if len(text.encode("utf-8")) <= limit:
        return text
    note = f"\n\n**Summary cut at {limit:,} bytes**; see `{full_report}`.\n"
    room = limit - len(note.encode("utf-8"))
    cut = text.encode("utf-8")[:room].decode("utf-8", errors="ignore")
    return cut.rpartition("\n")[0] + note
