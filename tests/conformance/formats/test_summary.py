"""The compact summary for PR comments: counts, each failure's first line and rerun command, and
never more than 60,000 bytes, even when every scenario fails on two backends."""

from __future__ import annotations

import copy
import re
import shlex
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from conformance.cli.main import main
from conformance.formats import FILES
from conformance.formats.common import problems
from conformance.formats.summary import LIMIT, first_line, rerun_command, summary
from conformance.report.runfile import RunRecord, load_run, run_from_dict
from conformance.run.results import Status
from conformance.spec import find_spec_files, load_specs

ROOT = Path(__file__).parents[3]
BACKENDS = ("torchlike:mylib", "torchlike:mylib_nightly")
CRASH_REASON = "the worker died: signal 9 (SIGKILL) while running the scenario"


def _entries(sample_json: dict[str, Any], status: str) -> list[dict[str, Any]]:
    return [r for r in sample_json["results"] if r["status"] == status and r.get("repro")]


def _with_results(sample_json: dict[str, Any], results: list[dict[str, Any]]) -> RunRecord:
    data = copy.deepcopy(sample_json)
    names = list(dict.fromkeys(r["backend"] for r in results))
    data["backends"] = [
        next(
            (b for b in sample_json["backends"] if b["name"] == name),
            {"name": name, "available": True, "reason": "", "capabilities": [], "info": {}},
        )
        for name in names
    ]
    counts = Counter(r["status"] for r in results)
    data["summary"] = {status.value: counts.get(status.value, 0) for status in Status}
    data["results"] = results
    return run_from_dict(data)


@pytest.fixture(scope="module")
def every_failure(sample_json: dict[str, Any]) -> RunRecord:
    """The whole spec set failing on two backends: the real run's fail and error results
    (diffs, tracebacks, repros) replayed onto every scenario, with crashes and timeouts."""
    fail = max(_entries(sample_json, "fail"), key=lambda r: len(r["diffs"][0]["message"]))
    error = _entries(sample_json, "error")[0]
    scenarios = load_specs(find_spec_files([str(ROOT / "specs")]))
    results = []
    for index, scenario in enumerate(scenarios):
        line = scenario.steps[-1].where.line
        for backend in BACKENDS:
            kind = ("fail", "fail", "error", "crash", "timeout")[index % 5]
            entry = copy.deepcopy({"fail": fail, "error": error}.get(kind, {}))
            path = scenario.where.path
            entry.update(
                scenario=scenario.id,
                title=scenario.title,
                file=path,
                tags=list(scenario.tags),
                backend=backend,
                status=kind,
                ok=False,
            )
            for diff in entry.get("diffs", []):
                diff["step"] = f"{path}:{line}"
            if "error" in entry:
                entry["error"]["step"] = f"{path}:{line}"
            if kind in ("crash", "timeout"):
                entry["reason"] = CRASH_REASON if kind == "crash" else "ran past its 60 s limit"
            else:
                command = ["conformance", "show", scenario.id, "--spec", path]
                entry["repro"]["command"] = shlex.join([*command, "--backend", backend])
            results.append(entry)
    return _with_results(sample_json, results)


def test_every_scenario_failing_on_two_backends_stays_under_60_kb(
    every_failure: RunRecord,
) -> None:
    text = summary(every_failure)
    assert len(text.encode("utf-8")) < 60_000
    assert LIMIT == 60_000
    total = len(problems(every_failure))
    assert total == 2 * len(every_failure.scenario_ids()) > 400
    listed = text.count("\n  rerun: `")
    match = re.search(r"\*\*(\d+) more failures left out\*\* \(([^)]*)\)", text)
    assert match, text[-500:]
    assert listed + int(match[1]) == total
    assert listed > 100  # it fills the room it has, not a token few
    left = dict(part.split(" ")[::-1] for part in match[2].split(", "))
    assert sum(int(n) for n in left.values()) == int(match[1])
    assert f"the full report, `report.html`, lists all {total}." in text
    assert "`report.html`" in text.splitlines()[-1]
    # Worst first: every crash is listed before any timeout, error or plain failure.
    listed_statuses = re.findall(r"^- \S+ \*\*(\w+)", text, flags=re.M)
    assert listed_statuses == sorted(
        listed_statuses, key=["crash", "timeout", "error", "fail"].index
    )


def test_the_counts_cover_every_result_even_when_failures_are_left_out(
    every_failure: RunRecord,
) -> None:
    text = summary(every_failure)
    scenarios = len(every_failure.scenario_ids())
    assert f"**FAIL** · {scenarios} scenarios × 2 backends" in text
    header = "| backend | ☠️ crash | ⏱️ timeout | 💥 error | ❌ fail |"
    assert header in text
    for backend in BACKENDS:
        row = next(line for line in text.splitlines() if line.startswith(f"| `{backend}` |"))
        assert sum(int(cell) for cell in row.strip("|").split("|")[1:]) == scenarios


def test_a_tight_limit_still_holds(every_failure: RunRecord) -> None:
    for limit in (5_000, 1_200, 300):
        text = summary(every_failure, limit=limit, full_report="https://ci.example/report.html")
        assert len(text.encode("utf-8")) <= limit
        assert "https://ci.example/report.html" in text


def test_a_passing_run_is_short(sample_json: dict[str, Any]) -> None:
    results = []
    for entry in sample_json["results"]:
        passed = {k: v for k, v in entry.items() if k not in ("diffs", "error", "repro")}
        results.append({**passed, "status": "pass", "ok": True, "reason": ""})
    text = summary(_with_results(sample_json, results))
    assert len(text.encode("utf-8")) < 800
    assert "**PASS** · 9 scenarios × 3 backends" in text
    assert "| `reference` | 9 |" in text
    assert "## Failures (0)\n\nNone.\n" in text
    assert "left out" not in text and "rerun" not in text


def test_each_failure_has_its_first_diff_line_and_its_rerun_command(
    sample_run: RunRecord,
) -> None:
    text = summary(sample_run)
    found = problems(sample_run)
    assert "## Failures (6)" in text and len(found) == 6
    for result in found:
        entry = (
            f"{result.status.value}{' (strict)' if result.status is Status.XPASS else ''}** "
            f"`{result.scenario}` on `{result.backend}`: `{first_line(result)}`\n"
            f"  rerun: `{rerun_command(result)}`"
        )
        assert entry in text
    fail = next(r for r in found if r.scenario == "harness.cross_accumulate")
    assert first_line(fail).startswith("line ")
    assert ": x.grad: values differ: " in first_line(fail)  # with the diff's detail
    assert "elements differ" in first_line(fail) and "\n" not in first_line(fail)
    assert rerun_command(fail) == fail.repro_command
    error = next(r for r in found if r.status is Status.ERROR)
    assert "RuntimeError" in first_line(error)
    xpass = next(r for r in found if r.status is Status.XPASS)
    assert xpass.repro_command is None  # the run records none: the summary builds it
    assert rerun_command(xpass).startswith(f"conformance show {xpass.scenario} --spec ")
    assert rerun_command(xpass).endswith(f"--backend {xpass.backend}")
    assert "left out" not in text
    assert text.count("\n") < 40


def test_known_failures_are_counted_but_not_listed(sample_run: RunRecord) -> None:
    text = summary(sample_run)
    assert "🟡 xfail" in text.split("## Failures")[0]
    assert "harness.accumulation` on `torchlike:broken_accumulate" not in text


def test_a_crash_without_a_repro_gets_a_command_and_its_reason(
    sample_json: dict[str, Any],
) -> None:
    entry = copy.deepcopy(_entries(sample_json, "fail")[0])
    for key in ("diffs", "repro"):
        entry.pop(key)
    entry.update(status="crash", reason=CRASH_REASON + "\nand a second line")
    text = summary(_with_results(sample_json, [entry]))
    assert f"`{CRASH_REASON} and a second line`" in text
    assert f"rerun: `conformance show {entry['scenario']} --spec {entry['file']}" in text


def test_backticks_in_a_message_keep_the_code_span_whole(sample_json: dict[str, Any]) -> None:
    entry = copy.deepcopy(_entries(sample_json, "error")[0])
    entry["error"]["message"] = "bad `x` here"
    text = summary(_with_results(sample_json, [entry]))
    assert ": RuntimeError: bad `x` here``" in text


def test_run_and_report_write_it_beside_report_md(sample_dir: Path, tmp_path: Path) -> None:
    assert list(FILES)[:3] == ["junit.xml", "report.md", "summary.md"]
    written = (sample_dir / "summary.md").read_text(encoding="utf-8")
    assert written == summary(load_run(sample_dir / "runs" / "latest.json"))
    rebuild = ["report", str(sample_dir / "runs" / "latest.json"), "--report-dir", str(tmp_path)]
    assert main(rebuild) == 0
    assert (tmp_path / "summary.md").read_text(encoding="utf-8") == written
