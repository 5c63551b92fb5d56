"""The gate cannot be fooled and cannot be crashed: missing results and incomplete runs fail
it, and any malformed run file is one line on stderr with exit 2, never a traceback.

The property mutates one real run file (read once per session) in memory: keys dropped,
types changed, bytes truncated or replaced, deep nesting, wrong statuses, huge numbers, NaN.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.cli import main as cli
from conformance.cli.main import main
from conformance.formats.html import html_report as html
from conformance.formats.markdown import markdown
from conformance.report.runfile import check_run, run_from_dict

ROOT = Path(__file__).parents[2]
EXAMPLES = 10_000 if os.environ.get("CI") else 300
PREFIX = "conformance: error: "


@pytest.fixture(scope="session")
def real_run() -> dict[str, Any]:
    """A part of the committed baseline (a real run of `conformance run`: a bench scenario,
    timed, and six others on two backends), with results of each failing status
    and an xfail made from real entries, so every part of the schema is present."""
    data: dict[str, Any] = json.loads((ROOT / "reports" / "baseline.json").read_text())
    bench = [r for r in data["results"] if "bench" in r["tags"]][:2]  # one scenario, timed
    others = [r for r in data["results"] if "bench" not in r["tags"]][:12]
    for entry, status in zip(others[1::2], ("fail", "error", "crash", "timeout", "xfail", "xpass")):
        entry.update(status=status, ok=status in ("xfail", "xpass"), reason="")
    others[1]["diffs"] = [
        {"step": f"{others[1]['file']}:12", "path": "x.grad", "problem": "values differ",
         "expected": "[1.]", "got": "[2.]", "detail": "", "message": "x.grad: values differ"}
    ]  # fmt: skip
    others[3]["error"] = {
        "step": f"{others[3]['file']}:9", "type": "RuntimeError", "message": "boom",
        "traceback": "Traceback (most recent call last):\n  ...\nRuntimeError: boom",
    }  # fmt: skip
    others[5]["reason"] = "crashed: SIGSEGV"
    others[7]["reason"] = "timed out after 60 s"
    for entry, strict in (others[9], True), (others[11], False):  # a non-strict xpass is ok
        entry["expected"] = {"reason": "known", "source": "expectations/x.yaml:3", "strict": strict}
    data["results"] = bench + others
    statuses = [r["status"] for r in data["results"]]
    data["summary"] = {s: statuses.count(s) for s in [*data["summary"], "crash", "timeout"]}
    assert check_run(data) is None
    return data


@pytest.fixture(scope="session")
def files(real_run: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the real run as `baseline.json`, where each test writes its current."""
    directory = tmp_path_factory.mktemp("gate")
    (directory / "baseline.json").write_text(json.dumps(real_run))
    return directory


def gate(
    directory: Path, *extra: str, current: str = "current.json", baseline: str = "baseline.json"
) -> tuple[int, str, str]:
    """`conformance gate` in process: its exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    base, now = str(directory / baseline), str(directory / current)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["gate", "--baseline", base, "--current", now, *extra])
    return code, out.getvalue(), err.getvalue()


def write(directory: Path, data: Any, name: str = "current.json") -> Path:
    path = directory / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def assert_one_line_error(code: int, err: str, *words: str) -> None:
    assert code == 2, err
    assert err.startswith(PREFIX) and err.endswith("\n") and err.count("\n") == 1, err
    for word in words:
        assert word in err, err


# --- the property ----------------------------------------------------------------------------

# Values a mutation puts in place of another; the strings in capitals are spliced in as raw
# text after encoding, since json.dumps cannot write them (or not quickly).
ODD_VALUES = [
    None, True, 0, -1, 1.5, -0.0, 5e-324, 1e308, 10**30, "", "x", "\ud800", "a\nb", [], {},
    [1, [2]], {"x": 1}, "pass", "crash", "timeout", "flaky", "PASS",
    "@NAN@", "@INF@", "@HUGE_FLOAT@", "@HUGE_INT@", "@DEEP_40@", "@DEEP_2000@", "@DEEP_100000@",
]  # fmt: skip
RAW = {
    '"@NAN@"': "NaN",
    '"@INF@"': "-Infinity",
    '"@HUGE_FLOAT@"': "1e400",
    '"@HUGE_INT@"': "9" * 5000,
    '"@DEEP_40@"': "[" * 40 + "]" * 40,
    '"@DEEP_2000@"': "{" + '"a":{' * 1999 + "}" * 2000,
    '"@DEEP_100000@"': "[" * 100_000 + "]" * 100_000,
}
MUTATIONS = ["drop", "replace", "status", "duplicate", "add_key", "incomplete", "empty_list"]
# Byte damage, "none" most often, so that most files parse and reach the schema or the gate.
BYTES = ["none"] * 6 + ["truncate", "garble", "empty", "bom", "latin1"]


def paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in the document but its root, as a tuple of keys and indices."""
    found = [at] if at else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*at, index))
    return found


def mutate(
    doc: dict[str, Any], places: list[tuple[Any, ...]], change: tuple[str, int, Any]
) -> None:
    """One change to `doc`, in place, at one of the real run's places; a place an earlier
    change removed is left alone."""
    kind, where, value = change
    path = places[where % len(places)]
    try:
        container = doc
        for key in path[:-1]:
            container = container[key]
        key = path[-1]
        container[key]  # noqa: B018 (the place must still exist)
    except (KeyError, IndexError, TypeError):
        return
    results = doc.get("results") if isinstance(doc.get("results"), list) else []
    if kind == "drop":
        del container[key]
    elif kind == "replace":
        container[key] = copy.deepcopy(value)
    elif kind == "status" and results and isinstance(results[where % len(results)], dict):
        results[where % len(results)]["status"] = value
    elif kind == "duplicate" and results:
        results.append(copy.deepcopy(results[where % len(results)]))
    elif kind == "add_key" and isinstance(container, dict):
        container["surprise"] = copy.deepcopy(value)
    elif kind == "incomplete":
        doc["incomplete"] = value
    elif kind == "empty_list" and isinstance(container[key], list):
        container[key] = []


def encode(doc: dict[str, Any], damage: str, at: int) -> bytes:
    text = json.dumps(doc)
    for marker, raw in RAW.items():
        text = text.replace(marker, raw)
    data = text.encode("utf-8", "surrogatepass")
    if damage == "truncate":
        return data[: at % max(len(data), 1)]
    if damage == "garble":
        index = at % max(len(data), 1)
        return data[:index] + b"\xff\xfe\x80" + data[index + 1 :]
    if damage == "empty":
        return b""
    if damage == "bom":
        return b"\xef\xbb\xbf" + data
    if damage == "latin1":
        return text.replace("pass", "pässé").encode("latin-1", "replace")
    return data


@dataclass(frozen=True)
class Pristine:
    """The real run as text, to copy quickly, and its places, listed once."""

    text: str
    places: list[tuple[Any, ...]]


@pytest.fixture(scope="session")
def pristine(real_run: dict[str, Any]) -> Pristine:
    return Pristine(json.dumps(real_run), paths(real_run))


@pytest.fixture(scope="module")
def quick_parser() -> Iterator[None]:
    """`main` builds its argument parser on every call, a third of a clean gate's time;
    building it once keeps 10,000 examples within two minutes."""
    parser = cli._parser()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli, "_parser", lambda: parser)
        yield


damages = st.tuples(
    st.lists(
        st.tuples(st.sampled_from(MUTATIONS), st.integers(0, 10**6), st.sampled_from(ODD_VALUES)),
        min_size=0,
        max_size=3,
    ),
    st.sampled_from(BYTES),
    st.integers(0, 10**6),
    st.booleans(),
)


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(damage=damages)
def test_any_run_file_gates_cleanly_or_is_one_line_with_exit_2(
    files: Path, pristine: Pristine, quick_parser: None, damage: tuple[Any, ...]
) -> None:
    mutations, byte_damage, at, as_baseline = damage
    doc = json.loads(pristine.text)
    for change in mutations:
        mutate(doc, pristine.places, change)
    (files / "mutated.json").write_bytes(encode(doc, byte_damage, at))
    if as_baseline:  # the damaged file is the baseline, the real run the one judged
        code, _, err = gate(files, current="baseline.json", baseline="mutated.json")
    else:
        code, _, err = gate(files, current="mutated.json")
    if code == 2:
        assert_one_line_error(code, err, "mutated.json: ")
    else:
        assert code in (0, 1) and err == "", (code, err)


@settings(max_examples=min(EXAMPLES, 500), derandomize=True, database=None, deadline=None)
@given(
    mutations=st.lists(
        st.tuples(
            st.sampled_from(MUTATIONS), st.integers(0, 10**6), st.sampled_from(ODD_VALUES[:22])
        ),
        min_size=1,
        max_size=3,
    )
)
def test_what_the_loader_accepts_the_schema_accepts(
    pristine: Pristine, mutations: list[tuple[str, int, Any]]
) -> None:
    """The loader's own schema check is never laxer than JSON Schema itself (it may be
    stricter: integers that are ints, one result per key, known backends, bounded depth)."""
    jsonschema = pytest.importorskip("jsonschema")
    from conformance.formats.schema import run_schema

    doc = json.loads(pristine.text)
    for change in mutations:
        mutate(doc, pristine.places, change)
    if check_run(doc) is None:
        errors = list(jsonschema.Draft202012Validator(run_schema()).iter_errors(doc))
        assert not errors, [e.message for e in errors]


# --- explicit cases --------------------------------------------------------------------------


def without(run: dict[str, Any], keys: set[tuple[str, str]]) -> dict[str, Any]:
    kept = [r for r in run["results"] if (r["scenario"], r["backend"]) not in keys]
    return {**run, "results": kept}


def test_missing_results_fail_and_are_named(files: Path, real_run: dict[str, Any]) -> None:
    gone = {(r["scenario"], r["backend"]) for r in real_run["results"][:4]}
    write(files, without(real_run, gone))
    code, out, err = gate(files)
    assert code == 1 and err == ""
    line = next(line for line in out.splitlines() if line.startswith("MISSING"))
    assert f"4 of the baseline's {len(real_run['results'])} results are not in the run" in line
    for scenario, backend in gone:
        assert scenario in line and backend in line
    assert "--allow-missing" in line and "merge" in line
    assert out.splitlines()[-1] == "gate: FAIL: 4 missing results"


def test_a_long_list_of_missing_results_is_capped(tmp_path: Path) -> None:
    whole = json.loads((ROOT / "reports" / "baseline.json").read_text())
    write(tmp_path, whole, "baseline.json")
    write(tmp_path, {**whole, "results": whole["results"][:10]})
    code, out, _ = gate(tmp_path)
    line = next(line for line in out.splitlines() if line.startswith("MISSING"))
    scenarios = len({r["scenario"] for r in whole["results"][10:]})
    assert code == 1 and f"and {scenarios - 8} more scenarios; run them" in line
    assert len(line) < 1000


def test_allow_missing_passes_with_a_note(files: Path, real_run: dict[str, Any]) -> None:
    keep = real_run["results"][:10]
    write(files, {**real_run, "results": keep})
    code, out, _ = gate(files, "--allow-missing")
    assert code == 0, out
    assert "were not run (--allow-missing)" in out and out.splitlines()[-1] == "gate: PASS"


def test_a_run_with_no_results_fails(files: Path, real_run: dict[str, Any]) -> None:
    write(files, {**real_run, "results": []})
    code, out, _ = gate(files)
    assert code == 1 and "the run holds no results" in out
    code, out, _ = gate(files, "--allow-missing")
    assert code == 1 and "INCOMPLETE the run holds no results" in out


def test_an_incomplete_run_fails_even_with_allow_missing(
    files: Path, real_run: dict[str, Any]
) -> None:
    write(files, {**real_run, "incomplete": "interrupted by SIGINT"})
    for extra in ([], ["--allow-missing"]):
        code, out, _ = gate(files, *extra)
        assert code == 1
        assert "INCOMPLETE the run did not finish (interrupted by SIGINT)" in out
        assert out.splitlines()[-1] == "gate: FAIL: 1 incomplete run"
    write(files, {**real_run, "incomplete": None})
    assert gate(files)[0] == 0


def test_an_incomplete_run_never_becomes_the_baseline(
    files: Path, real_run: dict[str, Any], tmp_path: Path
) -> None:
    write(files, {**real_run, "incomplete": "interrupted by SIGTERM"})
    new = tmp_path / "new-baseline.json"
    code = main(["gate", "--baseline", str(new), "--current", str(files / "current.json"),
                 "--update"])  # fmt: skip
    assert code == 1 and not new.exists()


def test_a_complete_run_with_every_result_passes(files: Path, real_run: dict[str, Any]) -> None:
    extra = {"isolation": {"mode": "process", "timeout_s": 60, "memory_limit_mb": 4096}}
    write(files, {**real_run, **extra, "threads": 1, "incomplete": None})
    code, out, err = gate(files)
    assert (code, err) == (0, "") and out.splitlines()[-1] == "gate: PASS"


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda run: {k: v for k, v in run.items() if k != "created"}, "'created' is missing"),
        (lambda run: {**run, "environment": []}, "environment: expected object"),
        (lambda run: {**run, "results": [[]] + run["results"]}, "results[0]: expected object"),
        (lambda run: {**run, "expectations": {"files": [], "stale": {}}}, "expectations.stale"),
        (lambda run: {**run, "incomplete": 3}, "incomplete: expected string or null"),
        (lambda run: {**run, "results": run["results"] * 2}, "appears twice"),
        (lambda run: {**run, "backends": run["backends"][:1]}, "is not among the backends"),
    ],
)
def test_a_malformed_run_file_is_one_line_and_exit_2(
    files: Path, real_run: dict[str, Any], damage: Any, words: str
) -> None:
    write(files, damage(real_run))
    code, _, err = gate(files)
    assert_one_line_error(code, err, "current.json: malformed run file: ", words)


@pytest.mark.parametrize(
    "content, words",
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deep"),
        (b"@DEEP@", "environment.deep: nested deeper than 32"),
        (b"", "empty"),
        (b"  \n", "empty"),
        (b'{"format": 2, "\xff": 1}', "not UTF-8"),
        (b'{"format": 2, "elapsed_s": NaN}', "NaN is not a JSON number"),
        (b'{"format": 2, "elapsed_s": 1e999}', "out of range"),
        (b'{"format": 2, "elapsed_s": ' + b"9" * 5000 + b"}", "not a readable run JSON"),
        (b"@SURROGATE@", "results[0].title: the string '\\ud800' holds a lone surrogate"),
        (b'{"format": 2, ', "not a readable run JSON"),
        (b"[]", "expected a run file of format 2, found list"),
    ],
)
def test_an_unreadable_run_file_is_one_line_and_exit_2(
    files: Path, real_run: dict[str, Any], content: bytes, words: str
) -> None:
    """Some damage is spliced into the real run as text, so it is the only problem."""
    if content == b"@DEEP@":
        environment = {**real_run["environment"], "deep": "@"}
        text = json.dumps({**real_run, "environment": environment})
        content = text.replace('"@"', "[" * 500 + "]" * 500).encode()
    elif content == b"@SURROGATE@":
        results = [{**real_run["results"][0], "title": "@"}, *real_run["results"][1:]]
        text = json.dumps({**real_run, "results": results})
        content = text.replace('"@"', '"\\ud800"').encode()
    (files / "current.json").write_bytes(content)
    code, _, err = gate(files)
    assert_one_line_error(code, err, "current.json: ", words)


def test_a_folder_or_a_missing_file_is_one_line_and_exit_2(files: Path) -> None:
    (files / "folder.json").mkdir(exist_ok=True)
    assert_one_line_error(*gate(files, current="folder.json")[::2], "a folder, not a run file")
    assert_one_line_error(*gate(files, current="gone.json")[::2], "no such run file")


def test_report_and_merge_refuse_a_malformed_file_in_one_line(
    files: Path, real_run: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write(files, {**real_run, "backends": {}}, "bad.json")
    assert main(["report", str(bad), "--report-dir", str(files / "reports")]) == 2
    assert_one_line_error(2, capsys.readouterr().err, "backends: expected array")
    assert main(["merge", str(bad), "-o", str(files / "merged.json")]) == 2
    assert_one_line_error(2, capsys.readouterr().err, "backends: expected array")


def test_merge_carries_incompleteness_over(
    files: Path, real_run: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    half = len(real_run["results"]) // 2
    first = write(files, {**real_run, "results": real_run["results"][:half]}, "a.json")
    second = write(
        files,
        {**real_run, "results": real_run["results"][half:], "incomplete": "interrupted by SIGINT"},
        "b.json",
    )
    merged = files / "merged.json"
    assert main(["merge", str(first), str(second), "-o", str(merged)]) == 0
    assert "the merged run is incomplete" in capsys.readouterr().err
    data = json.loads(merged.read_text())
    assert data["incomplete"] == f"1 of 2 inputs did not finish ({second}: interrupted by SIGINT)"
    assert check_run(data) is None
    whole = write(files, real_run, "whole.json")
    assert main(["merge", str(whole), "-o", str(merged)]) == 0
    assert "incomplete" not in json.loads(merged.read_text())


def test_reports_show_an_incomplete_run(real_run: dict[str, Any]) -> None:
    run = run_from_dict({**real_run, "incomplete": "interrupted by SIGTERM"})
    assert run.incomplete == "interrupted by SIGTERM"
    assert "> ⛔ **Incomplete run:** interrupted by SIGTERM." in markdown(run)
    assert "<b>Incomplete run:</b> interrupted by SIGTERM." in html(run)
    whole = run_from_dict(real_run)
    assert whole.incomplete is None
    assert "Incomplete run" not in markdown(whole) and "Incomplete run" not in html(whole)
