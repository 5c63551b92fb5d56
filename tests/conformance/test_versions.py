"""Version ranges: a manifest entry's `versions` and a spec's `torch`, each applying, not
applying (and saying so), or rejected at its file and line when malformed."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from conformance.backends import Unavailable, resolve_backend
from conformance.ci.expectations import engine_versions, load_expectations, manifest_path
from conformance.cli.main import main
from conformance.errors import SpecError
from conformance.run.results import ScenarioResult, Status
from conformance.run.runner import Runner, TimingOptions
from conformance.spec import load_spec
from conformance.spec.versions import holds, outside_torch_range, torch_version

DATA = Path(__file__).parent / "data"
SCENARIO = load_spec(DATA / "pass" / "accumulation.yaml")
ENTRY = "xfail:\n  - id: harness.accumulation\n    reason: overwrites .grad\n"


def manifest(directory: Path, versions: str, backend: str = "reference") -> Path:
    path = manifest_path(directory, backend)
    path.write_text(ENTRY + f"    versions: {versions}\n", encoding="utf-8")
    return path


# --- ranges ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "inside"),
    [
        ("2.5.1", True),
        ("2.6.0", False),
        ("2.5.0+cpu", True),
        ("2.6.0.dev20250101+cpu", False),  # a nightly of 2.6 is 2.6
        ("2.6.0a0+git1234", False),
        ("not a version", None),
    ],
)
def test_a_range_reads_pre_releases_and_local_builds_as_their_release(
    version: str, inside: bool | None
) -> None:
    assert holds(SpecifierSet("<2.6"), version) is inside


# --- manifest entries -------------------------------------------------------------------------


def test_an_entry_inside_its_range_applies(tmp_path: Path) -> None:
    manifest(tmp_path, '"<2.6"')
    expectations = load_expectations(tmp_path, ["reference"], {"reference": "2.5.0"})
    failed = expectations.apply(ScenarioResult(SCENARIO, "reference", Status.FAIL))
    assert failed.status is Status.XFAIL
    assert expectations.stale([SCENARIO.id]) == []


def test_an_entry_outside_its_range_is_not_used_and_says_so(tmp_path: Path) -> None:
    path = manifest(tmp_path, '"<2.6"')
    expectations = load_expectations(tmp_path, ["reference"], {"reference": "2.7"})
    failed = ScenarioResult(SCENARIO, "reference", Status.FAIL)
    assert expectations.apply(failed) == failed
    assert expectations.stale([SCENARIO.id]) == [
        f"{path}:2: harness.accumulation applies to reference<2.6; this is reference 2.7, "
        "so the entry is not used"
    ]
    assert expectations.sources() == [str(path)]
    # Still checked for a stale id, so a renamed scenario is noticed on any version.
    assert "matches no scenario" in expectations.stale([])[0]


def test_an_entry_is_used_when_the_version_is_unknown(tmp_path: Path) -> None:
    path = manifest(tmp_path, '">=1,<3"')
    failed = ScenarioResult(SCENARIO, "reference", Status.FAIL)
    unversioned = load_expectations(tmp_path, ["reference"], {"reference": None})
    assert unversioned.apply(failed).status is Status.XFAIL
    assert unversioned.stale([SCENARIO.id]) == [
        f"{path}:2: harness.accumulation applies to reference>=1,<3, but reference reports "
        "no version; the entry is used"
    ]
    unasked = load_expectations(tmp_path, ["reference"])  # no versions given at all
    assert unasked.apply(failed).status is Status.XFAIL
    assert unasked.stale([SCENARIO.id]) == []


@pytest.mark.parametrize(
    ("versions", "message"),
    [
        ('"abc"', 'versions: expected a PEP 440 version range like "<2.6"'),
        ('"<2.6 or so"', "versions: expected a PEP 440 version range"),
        ("2.6", 'versions: expected a quoted version range like "<2.6", found a number'),
    ],
)
def test_an_invalid_entry_range_names_file_and_line(
    tmp_path: Path, versions: str, message: str
) -> None:
    path = manifest(tmp_path, versions)
    with pytest.raises(SpecError) as caught:
        load_expectations(tmp_path, ["reference"])
    assert str(caught.value).startswith(f"{path}:4: {message}")


def test_engine_versions_come_from_info_of_available_backends() -> None:
    versions = engine_versions([resolve_backend("reference"), Unavailable("gone", "no GPU")])
    assert set(versions) == {"reference"}  # an unavailable backend runs nothing


def test_the_run_command_reports_an_entry_for_another_version(
    broken_modules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = "torchlike:broken_accumulate"  # its version is torch's, 2.3 or later
    (tmp_path / "expectations").mkdir()
    spec = DATA / "pass" / "accumulation.yaml"
    args = ["run", "--spec", str(spec), "--backend", backend, "--repeat", "0"]
    manifest(tmp_path / "expectations", '"<2.3"', backend)
    assert main([*args, "--report-dir", str(tmp_path)]) == 1  # the entry is not used
    err = capsys.readouterr().err
    assert f"harness.accumulation applies to {backend}<2.3; this is {backend} " in err
    manifest(tmp_path / "expectations", '">=2.3"', backend)
    assert main([*args, "--report-dir", str(tmp_path)]) == 0
    assert "1 xfail" in capsys.readouterr().out.splitlines()[-1]


# --- a spec's torch range ---------------------------------------------------------------------


def test_a_spec_outside_its_torch_range_is_unsupported_everywhere() -> None:
    pytest.importorskip("torch")
    torch_cpu = resolve_backend("torch-cpu")
    version = torch_version(torch_cpu)
    assert version is not None
    inside = dataclasses.replace(SCENARIO, torch_versions=">=2.3")
    outside = dataclasses.replace(SCENARIO, torch_versions="<2.3")
    runner = Runner(torch_cpu, TimingOptions(repeat=0))
    for backend in (torch_cpu, resolve_backend("reference")):
        assert runner.check(inside, backend).status is Status.PASS
        result = runner.check(outside, backend)
        assert result.status is Status.UNSUPPORTED
        assert result.reason == f"spec holds for torch <2.3; this is torch {version}"


def test_the_unsupported_reason_names_the_range_and_the_version() -> None:
    assert outside_torch_range(">=2.4", "2.3") == "spec holds for torch >=2.4; this is torch 2.3"
    assert outside_torch_range(">=2.4", "2.4.1+cu121") == ""
    assert outside_torch_range(">=2.4", None) == ""  # no torch here: nothing to judge by
    assert outside_torch_range(None, "2.3") == ""


def test_a_spec_reads_its_torch_range(write_spec: Callable[..., Path]) -> None:
    path = write_spec("  - x = ones(2)\n")
    path.write_text(path.read_text().replace("steps:", 'torch: ">=2.4, <3"\nsteps:'))
    assert load_spec(path).torch_versions == ">=2.4, <3"
    assert load_spec(write_spec("  - x = ones(2)\n", name="plain.yaml")).torch_versions is None


@pytest.mark.parametrize(
    ("torch", "message"),
    [
        ('"2.4+"', 'torch: expected a PEP 440 version range like "<2.6"'),
        ("2.4", 'torch: expected a quoted version range like "<2.6", found a number'),
        ('""', 'torch: expected a quoted version range like "<2.6", found an empty string'),
    ],
)
def test_an_invalid_torch_range_names_file_and_line(
    write_spec: Callable[..., Path], torch: str, message: str
) -> None:
    path = write_spec("  - x = ones(2)\n")
    path.write_text(path.read_text().replace("steps:", f"torch: {torch}\nsteps:"))
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert str(caught.value).startswith(f"{path}:8: {message}")
