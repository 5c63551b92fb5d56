"""`conformance run`'s reporting options: the report dir's files, the timing baseline, and
what a bad option says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.cli.main import main

DATA = Path(__file__).parent / "data"
PASS = str(DATA / "pass")
torch = pytest.importorskip("torch")


def test_run_writes_every_format_into_the_report_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--spec", PASS, "--repeat", "2", "--report-dir", str(tmp_path)]) == 0
    names = {path.name for path in tmp_path.iterdir()}
    assert names == {"runs", "junit.xml", "report.md", "summary.md", "report.html"}
    assert "(and junit.xml, report.md, summary.md, report.html)" in capsys.readouterr().out


def test_the_timing_baseline_can_be_chosen_among_the_backends_run(tmp_path: Path) -> None:
    args = ["run", "--spec", PASS, "-k", "no_grad", "--repeat", "3", "--report-dir", str(tmp_path)]
    assert main([*args, "--timing-baseline", "reference"]) == 0
    report = json.loads((tmp_path / "runs" / "latest.json").read_text())
    assert report["timing"]["baseline"] == "reference" and report["baseline"] == "torch-cpu"
    timed = {r["backend"]: r["timing"] for r in report["results"]}
    assert timed["torch-cpu"]["ratio"]["to"] == "reference"
    assert "ratio" not in timed["reference"] or timed["reference"]["ratio"]["value"] == 1.0


def test_a_bench_scenario_stops_at_its_budget_and_the_run_records_it(tmp_path: Path) -> None:
    bench = str(Path(__file__).parents[2] / "specs" / "bench" / "tutorial_chain_2x2.yaml")
    args = ["run", "--spec", bench, "--backend", "reference", "--report-dir", str(tmp_path)]
    budget = ["--bench-repeat", "30", "--bench-min-repeat", "6", "--bench-budget", "1e-9"]
    budget += ["--bench-precision", "100"]  # any measurement is precise enough
    assert main([*args, *budget]) == 0
    report = json.loads((tmp_path / "runs" / "latest.json").read_text())
    assert report["timing"]["bench_budget_s"] == 1e-9
    assert report["timing"]["bench_min_repeat"] == 6
    (result,) = report["results"]
    assert len(result["timing"]["samples_s"]) == 6
    assert report["timing"]["bench_precision"] == 100
    assert main([*args, *budget[:4], "--bench-budget", "0"]) == 0  # no budget: every round
    (result,) = json.loads((tmp_path / "runs" / "latest.json").read_text())["results"]
    assert len(result["timing"]["samples_s"]) == 30


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--timing-baseline", "torch-cuda"], "--timing-baseline torch-cuda: it must be one of"),
        (["--bench-repeat", "-1"], "--bench-repeat and --bench-min-repeat take counts"),
        (["--bench-min-repeat", "-1"], "--bench-repeat and --bench-min-repeat take counts"),
        (["--bench-budget", "-0.5"], "--bench-budget takes seconds"),
        (["--bench-precision", "-1"], "--bench-precision takes a fraction"),
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
