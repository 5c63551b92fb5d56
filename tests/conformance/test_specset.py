"""The spec set: the installed one by default, `--spec` replaces it, `--extend-spec` adds to
it; `list` and the run JSON say where each scenario came from."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import pytest

from conformance.cli.main import main
from conformance.errors import UsageError
from conformance.report.runfile import load_run
from conformance.spec import find_spec_files, load_each_spec, specset

pytest_plugins = ["pytester"]
ROOT = Path(__file__).parents[2]
PASS = str(Path(__file__).parent / "data" / "pass")
VERSION = importlib.metadata.version("autograd-conformance")


def installed_ids() -> list[str]:
    scenarios, _ = load_each_spec(find_spec_files([str(ROOT / "specs")]))
    return [scenario.id for scenario in scenarios]


def headings(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.endswith(":")]


def test_in_a_checkout_the_installed_set_is_the_repository_specs_folder() -> None:
    assert specset.installed_folder().resolve() == (ROOT / "specs").resolve()
    source = specset.installed_source()
    assert source.origin == specset.INSTALLED and source.version == VERSION
    assert len(source.files) == len(find_spec_files([str(ROOT / "specs")]))


def test_list_runs_the_installed_set_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no specs/ folder here
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert headings(out) == [f"installed spec set {VERSION} ({ROOT / 'specs'}):"]
    assert out.splitlines()[-1] == f"{len(installed_ids())} scenarios"


def test_extend_spec_adds_to_the_installed_set_and_list_names_each_source(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["list", "--extend-spec", PASS]) == 0
    out = capsys.readouterr().out
    installed = f"installed spec set {VERSION} ({specset.installed_source().location}):"
    assert headings(out) == [installed, f"{PASS}:"]
    extra = len(find_spec_files([PASS]))
    assert out.splitlines()[-1] == f"{len(installed_ids()) + extra} scenarios"
    lines = out.splitlines()
    assert lines.index(f"{PASS}:") < lines.index(next(x for x in lines if "harness.no_grad" in x))


def test_spec_replaces_the_installed_set(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--spec", PASS]) == 0
    assert headings(capsys.readouterr().out) == [f"{PASS}:"]


def test_a_file_named_twice_belongs_to_its_first_source(capsys: pytest.CaptureFixture[str]) -> None:
    one = str(ROOT / "specs" / "tutorial" / "in27_add.yaml")
    assert main(["list", "--extend-spec", one]) == 0  # already in the installed set
    out = capsys.readouterr().out
    assert f"{one}:" not in headings(out)
    assert out.splitlines()[-1] == f"{len(installed_ids())} scenarios"  # no duplicate id


def test_a_missing_extend_spec_path_is_a_usage_error_naming_its_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["list", "--extend-spec", "no/such/folder"]) == 2
    assert "--extend-spec no/such/folder: no such file" in capsys.readouterr().err


def test_a_missing_installed_set_says_how_to_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(specset.importlib.resources, "files", lambda package: tmp_path / "pkg")
    with pytest.raises(UsageError, match="installed spec set is missing.*--spec PATH_OR_GLOB"):
        specset.installed_folder()


def test_the_run_json_and_reports_name_the_spec_sets_version_and_sources(
    tmp_path: Path,
) -> None:
    args = ["run", "--extend-spec", PASS, "-k", "in27_add or harness.no_grad"]
    args += ["--backend", "reference", "--repeat", "0", "--report-dir", str(tmp_path)]
    assert main(args) == 0
    run = load_run(tmp_path / "runs" / "latest.json")  # checked against the strict schema
    specs = run.data["specs"]
    assert specs["count"] == 2 and specs["version"] == VERSION
    assert specs["sources"] == [
        {
            "origin": "installed",
            "location": specset.installed_source().location,
            "version": VERSION,
            "count": 1,
        },
        {"origin": "path", "location": PASS, "count": 1},
    ]
    assert run.spec_set_name == f"{VERSION} (installed) + {PASS}"
    expected = f"spec set {VERSION} (installed) + {PASS} `{run.spec_hash[:19]}…`"
    assert expected in (tmp_path / "report.md").read_text(encoding="utf-8")
    assert expected in (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert f'name="spec_set" value="{VERSION} (installed) + {PASS}"' in (
        tmp_path / "junit.xml"
    ).read_text(encoding="utf-8")


def test_paths_alone_record_no_version(tmp_path: Path) -> None:
    args = ["run", "--spec", PASS, "-k", "harness.no_grad", "--backend", "reference"]
    assert main([*args, "--repeat", "0", "--report-dir", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "runs" / "latest.json").read_text(encoding="utf-8"))
    assert data["specs"]["version"] is None
    assert [source["origin"] for source in data["specs"]["sources"]] == ["path"]


def test_the_pytest_plugin_collects_the_installed_set_on_request(
    pytester: pytest.Pytester,
) -> None:
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--conformance-installed", "--conformance-backend",
        "reference", "-k", "in27_add", "-v",
    )  # fmt: skip
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*in27_add.yaml::tutorial.in27_add?reference? PASSED*"])
