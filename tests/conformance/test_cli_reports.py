"""`conformance run`'s reporting options: the report dir's files, the timing baseline, and
what a bad option says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.cli import main

DATA = Path(__file__).parent / "data"
PASS = str(DATA / "pass")
torch = pytest.importorskip("torch")


def test_run_writes_every_format_into_the_report_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--spec", PASS, "--repeat", "2", "--report-dir", str(tmp_path)]) == 0
    names = {path.name for path in tmp_path.iterdir()}
    assert names == {"runs", "junit.xml", "report.md", "report.html"}
    assert "(and junit.xml, report.md, report.html)" in capsys.readouterr().out


def test_the_timing_baseline_can_be_chosen_among_the_backends_run(tmp_path: Path) -> None:
    args = ["run", "--spec", PASS, "-k", "no_grad", "--repeat", "3", "--report-dir", str(tmp_path)]
    assert main([*args, "--timing-baseline", "reference"]) == 0
    report = json.loads((tmp_path / "runs" / "latest.json").read_text())
    assert report["timing"]["baseline"] == "reference" and report["baseline"] == "torch-cpu"
    timed = {r["backend"]: r["timing"] for r in report["results"]}
    assert timed["torch-cpu"]["ratio"]["to"] == "reference"
    assert "ratio" not in timed["reference"] or timed["reference"]["ratio"]["value"] == 1.0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--timing-baseline", "torch-cuda"], "--timing-baseline torch-cuda: it must be one of"),
        (["--bench-repeat", "-1"], "--bench-repeat takes a count"),
        (["--expectations", "/nonexistent/dir"], "--expectations /nonexistent/dir: no such"),
        (["--shard", "3/2"], "--shard 3/2: K must be between 1 and N"),
    ],
)
def test_bad_reporting_options_exit_2(
    tmp_path: Path, extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--spec", PASS, "--report-dir", str(tmp_path), *extra]) == 2
    assert message in capsys.readouterr().err


def test_report_refuses_a_file_that_is_not_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["report", str(bad), "--report-dir", str(tmp_path)]) == 2
    assert "not a readable run JSON" in capsys.readouterr().err
