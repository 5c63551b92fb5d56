"""Known-failure manifests: xfail and xpass, stale ids, and errors that name file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.ci.expectations import load_expectations, manifest_path
from conformance.cli.main import main
from conformance.errors import SpecError
from conformance.run.results import ScenarioResult, Status
from conformance.spec import load_spec

DATA = Path(__file__).parent / "data"
SCENARIO = load_spec(DATA / "pass" / "accumulation.yaml")


def manifest(tmp_path: Path, text: str, backend: str = "reference") -> Path:
    path = manifest_path(tmp_path, backend)
    path.write_text(text, encoding="utf-8")
    return path


def test_a_listed_failure_is_xfail_and_a_listed_pass_is_a_strict_xpass(tmp_path: Path) -> None:
    manifest(tmp_path, "xfail:\n  - id: harness.accumulation\n    reason: not yet\n")
    expectations = load_expectations(tmp_path, ["reference", "torch-cpu"])
    failed = expectations.apply(ScenarioResult(SCENARIO, "reference", Status.FAIL))
    assert failed.status is Status.XFAIL and failed.ok
    assert failed.expected is not None and failed.expected.reason == "not yet"
    assert failed.expected.source == f"{tmp_path / 'reference.yaml'}:2"
    passed = expectations.apply(ScenarioResult(SCENARIO, "reference", Status.PASS))
    assert passed.status is Status.XPASS and not passed.ok
    other = expectations.apply(ScenarioResult(SCENARIO, "torch-cpu", Status.FAIL))
    assert other.status is Status.FAIL  # the manifest is per backend
    unsupported = ScenarioResult(SCENARIO, "reference", Status.UNSUPPORTED, "needs hooks")
    assert expectations.apply(unsupported) == unsupported


def test_a_non_strict_entry_lets_an_xpass_through(tmp_path: Path) -> None:
    manifest(
        tmp_path, "xfail:\n  - id: harness.accumulation\n    reason: flaky\n    strict: false\n"
    )
    expectations = load_expectations(tmp_path, ["reference"])
    passed = expectations.apply(ScenarioResult(SCENARIO, "reference", Status.PASS))
    assert passed.status is Status.XPASS and passed.ok


def test_ids_that_match_no_scenario_are_stale(tmp_path: Path) -> None:
    path = manifest(
        tmp_path, "xfail:\n  - id: a.real\n    reason: r\n  - id: a.gone\n    reason: r\n"
    )
    expectations = load_expectations(tmp_path, ["reference"])
    assert expectations.stale(["a.real"]) == [
        f"{path}:4: a.gone matches no scenario; remove the stale entry"
    ]


def test_backend_names_map_to_safe_file_names(tmp_path: Path) -> None:
    assert manifest_path(tmp_path, "torchlike:my.mod").name == "torchlike_my.mod.yaml"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("- id: x\n", 1, "expected a mapping with one key, xfail"),
        ("xfail: 3\n", 1, "xfail: expected a list, found an integer (3)"),
        ("xfail:\n  - id: x\n", 2, "an entry needs reason"),
        ("xfail:\n  - id: x\n    reason: r\n    why: y\n", 2, "unknown key 'why'"),
        ("xfail:\n  - id: x\n    reason: ''\n", 3, "reason: expected a str"),
        ("xfail:\n  - {id: x, reason: r}\n  - {id: x, reason: s}\n", 3, "x is listed twice"),
    ],
)
def test_malformed_manifests_name_file_and_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = manifest(tmp_path, text)
    with pytest.raises(SpecError) as caught:
        load_expectations(tmp_path, ["reference"])
    assert str(caught.value).startswith(f"{path}:{line}: {message}")


def test_the_run_command_applies_manifests_from_the_report_dir(
    broken_modules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = "torchlike:broken_accumulate"
    (tmp_path / "expectations").mkdir()
    manifest(
        tmp_path / "expectations",
        "xfail:\n"
        "  - id: harness.accumulation\n    reason: overwrites .grad\n"
        "  - id: harness.cross_accumulate\n    reason: overwrites .grad\n"
        "  - id: harness.second_backward\n    reason: overwrites .grad\n"
        "  - id: harness.renamed\n    reason: old\n",
        backend,
    )
    args = ["run", "--spec", str(DATA / "pass"), "--backend", backend, "--repeat", "0"]
    assert main([*args, "--report-dir", str(tmp_path)]) == 0  # only expected failures
    captured = capsys.readouterr()
    assert "harness.renamed matches no scenario" in captured.err
    assert "harness.accumulation [torchlike:broken_accumulate]: overwrites .grad" in captured.out
    assert "3 xfail" in captured.out.splitlines()[-1]
    other = tmp_path / "other"
    other.mkdir()
    manifest(other, "xfail:\n  - id: harness.no_grad\n    reason: wrong\n", backend)
    assert main([*args, "--report-dir", str(tmp_path), "--expectations", str(other)]) == 1
    assert "XPASS harness.no_grad" in capsys.readouterr().out
