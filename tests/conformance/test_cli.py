"""The `conformance` command: matrix, summary, JSON report and exit codes 0, 1 and 2."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.cli.main import main

DATA = Path(__file__).parent / "data"
PASS = str(DATA / "pass")
torch = pytest.importorskip("torch")


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conformance", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


def test_a_passing_run_exits_0_and_writes_the_report(tmp_path: Path) -> None:
    completed = run_cli("run", "--spec", PASS, "--report-dir", str(tmp_path), "--repeat", "2")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].split() == ["scenario", "reference", "torch-cpu"]
    assert any(line.startswith("harness.no_grad ") and line.count("pass") == 2 for line in lines)
    assert lines[-1].startswith("7 scenarios x 2 backends: 14 pass, 0 fail, 0 error in ")
    assert lines[-1].endswith(" running the scenarios)")
    report = json.loads((tmp_path / "runs" / "latest.json").read_text())
    assert report["environment"]["python"] == platform.python_version()
    assert report["environment"]["torch"] == importlib.metadata.version("torch")
    assert report["environment"]["numpy"] == importlib.metadata.version("numpy")
    assert report["baseline"] == "torch-cpu"
    assert [b["name"] for b in report["backends"]] == ["reference", "torch-cpu"]
    assert all(b["available"] and "hooks" in b["capabilities"] for b in report["backends"])
    assert report["summary"]["pass"] == 14 and len(report["results"]) == 14
    first = report["results"][0]
    assert first["status"] == "pass" and len(first["timing"]["samples_s"]) == 2


def test_spec_errors_exit_2_with_one_message_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("spec: 1\nid: [oops\n", encoding="utf-8")
    completed = run_cli("run", "--spec", str(bad), "--report-dir", str(tmp_path))
    assert completed.returncode == 2
    assert completed.stderr.startswith(f"conformance: error: {bad}:")
    assert "Traceback" not in completed.stderr and completed.stdout == ""


def test_failures_exit_1(write_spec, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_spec("  - x = ones(2)\n  - expect: x.sum()\n    value: 3.0\n")
    code = main(["run", "--spec", str(path), "--report-dir", str(tmp_path), "--repeat", "0"])
    assert code == 1
    out = capsys.readouterr().out
    assert "FAIL test.example [reference]" in out and "x.sum(): values differ" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--backend", "nope"], "unknown backend 'nope'"),
        (["run", "-k", "nothing_matches_this"], "no scenario matches"),
        (["run", "-k", "a and"], "-k 'a and': the expression ends too early"),
        (["run", "--baseline", "torch-cuda"], "baseline torch-cuda is unavailable"),
        (["show", "harness.no_gard"], "did you mean harness.no_grad"),
    ],
)
def test_usage_errors_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if "torch-cuda" in args and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main([*args, "--spec", PASS]) == 2
    assert message in capsys.readouterr().err


def test_unsupported_and_unavailable_do_not_fail_a_run(
    broken_modules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    args = [
        "run",
        "--spec",
        PASS,
        "--report-dir",
        str(tmp_path),
        "--repeat",
        "0",
        "--backend",
        "torchlike:torch_without_inference_mode",
        "--backend",
        "torch-cuda",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert (
        "harness.inference_mode [torchlike:torch_without_inference_mode]: needs inference_mode"
        in out
    )
    assert "torch-cuda: CUDA is not available" in out
    assert main([*args, "--fail-unavailable"]) == 1


def test_without_torch_the_default_is_reference_alone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    assert main(["run", "--spec", PASS, "--report-dir", str(tmp_path), "--repeat", "0"]) == 0
    captured = capsys.readouterr()
    assert "torch is not installed: running on reference only" in captured.err
    assert captured.out.splitlines()[0].split() == ["scenario", "reference"]
    assert "cross-backend" not in captured.out  # reference is its own baseline


def test_list_filters_by_keyword_and_tag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--spec", PASS, "-k", "grad and not leaf", "--tag", "harness"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{PASS}:" and out[-1] == "1 scenario" and len(out) == 3
    assert out[1].startswith("  harness.no_grad  [harness, no_grad]")


def test_show_prints_steps_with_lines_and_each_backend_result(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["show", "harness.inference_mode", "--spec", PASS, "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "harness.inference_mode: Tensors made under inference_mode do not require grad" in out
    assert "  requires: inference_mode" in out
    assert "       9  x = ones(2, requires_grad=True)" in out
    assert "      13  expect y.requires_grad == False" in out
    assert "PASS harness.inference_mode [reference]" in out
    assert "PASS harness.inference_mode [torch-cpu]" in out and "(median " in out


def test_backends_lists_availability_and_capabilities(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    assert "reference: available" in out and "torch-cpu: available" in out
    assert "torch-cuda: " in out
    assert "capabilities: autograd_grad, create_graph, float64" in out


def test_backends_names_a_factorys_backend_by_both_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The name given, which `--backend` takes, and the backend's own, which reports use."""
    (tmp_path / "alias_backend.py").write_text(
        "from conformance.backends import resolve_backend\n\n"
        "def make():\n    return resolve_backend('reference')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["backends", "--backend", "alias_backend:make"]) == 0
    assert "alias_backend:make (reference): available" in capsys.readouterr().out


def test_the_console_script_is_declared() -> None:
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["conformance"] == "conformance.__main__:main"


def test_only_the_whole_program_freezes_what_it_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`gc.freeze` spares the collector torch's objects for the rest of the process; a call
    in process (a test, a tool) must not freeze its caller's garbage for good."""
    import conformance.cli.main

    frozen: list[bool] = []
    monkeypatch.setattr(conformance.cli.main.gc, "freeze", lambda: frozen.append(True))
    args = ["run", "--spec", PASS, "-k", "no_grad", "--backend", "reference"]
    args += ["--repeat", "0", "--report-dir", str(tmp_path)]
    assert main(args) == 0 and frozen == []
    monkeypatch.setattr(sys, "argv", ["conformance", *args])
    assert main() == 0 and frozen == [True]


def test_every_command_prints_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    """argparse formats help text with %, so a stray % in one option's help (a default such
    as ratio:50%@95) breaks that command's --help; each must print and exit 0."""
    from conformance.cli.main import _parser

    parser = _parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name in commands.choices:
        with pytest.raises(SystemExit) as done:
            main([name, "--help"])
        assert done.value.code == 0, name
        assert "usage: conformance" in capsys.readouterr().out, name
