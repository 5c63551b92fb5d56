"""Kill tests: SIGINT, SIGTERM and SIGKILL at random moments of a run, and a death at every
file operation of report writing. Whatever happens, every file in the report folder parses and
`runs/latest.json` names a complete run or one explicitly marked incomplete."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from conformance.cli.main import main

REPO = Path(__file__).parents[2]
SPECS = REPO / "specs" / "semantics"
DELAYS = random.Random(15).sample([0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0], 3)


def _start(report_dir: Path) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "conformance", "run", "--spec", str(SPECS)]
    command += ["--backend", "reference", "--repeat", "1", "--report-dir", str(report_dir)]
    return subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _check_folder(report_dir: Path, temporaries: bool = True) -> dict[str, Any]:
    """Every file parses (but the hidden temporaries a death may leave, when `temporaries`);
    returns latest.json, which must be complete or say it is not."""
    for path in report_dir.rglob("*"):
        if path.is_dir():
            continue
        if path.name.startswith(".") and path.name.endswith(".tmp"):
            assert temporaries, f"a temporary file was left: {path}"
            continue
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".jsonl":
            lines = path.read_text().split("\n")
            for line in lines[:-2]:  # a torn last line is the one thing a kill may leave
                json.loads(line)
        elif path.suffix == ".xml":
            ET.parse(path)
        elif path.suffix in (".md", ".html"):
            assert path.read_text().strip()
    latest = json.loads((report_dir / "runs" / "latest.json").read_text())
    if "incomplete" not in latest:
        assert latest["summary"]["pass"] + latest["summary"]["fail"] > 0
    return latest


@pytest.mark.parametrize("delay", DELAYS)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_sigint_and_sigterm_keep_what_ran(signum: int, delay: float, tmp_path: Path) -> None:
    process = _start(tmp_path)
    time.sleep(delay)
    process.send_signal(signum)
    out, err = process.communicate(timeout=120)
    assert "Traceback" not in err
    name = signal.Signals(signum).name
    if not (tmp_path / "runs").exists():  # it came before the run began: nothing to keep
        assert process.returncode == 128 + signum
        assert err == f"conformance: interrupted by {name}\n"
        return
    latest = _check_folder(tmp_path, temporaries=False)
    if process.returncode in (0, 1):  # it had finished before the signal came
        assert "incomplete" not in latest
        return
    assert process.returncode == 128 + signum, err
    said = [line for line in err.splitlines() if not line.startswith("progress: ")]
    assert len(said) == 1, err  # one line, beside the progress lines a log gets
    assert latest["incomplete"].startswith(f"interrupted by {name} after ")
    assert f"interrupted by {name}" in err
    assert not list((tmp_path / "runs").glob("*.jsonl"))  # the stream became the run file


@pytest.mark.parametrize("delay", DELAYS)
def test_after_sigkill_the_stream_rebuilds_an_incomplete_run(
    delay: float, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    process = _start(tmp_path)
    time.sleep(delay)
    process.kill()
    process.communicate(timeout=60)
    if not (tmp_path / "runs").exists():  # killed before the run began
        return
    latest = _check_folder(tmp_path)
    streams = list((tmp_path / "runs").glob("*.jsonl"))
    if not streams:  # it had finished before the kill
        return
    assert latest["incomplete"].startswith("in progress")  # a gate cannot mistake it
    (stream,) = streams
    whole = sum(1 for line in stream.read_text().splitlines()[1:] if line.endswith("}"))
    assert main(["report", str(stream), "--report-dir", str(tmp_path)]) == 0
    latest = _check_folder(tmp_path)
    assert latest["incomplete"].startswith("the run was stopped before it finished")
    assert len(latest["results"]) >= whole - 1
    gate = ["gate", "--baseline", str(REPO / "reports" / "baseline.json")]
    assert main([*gate, "--current", str(tmp_path / "runs" / "latest.json")]) == 1
    assert "incomplete" in capsys.readouterr().out


class _Died(BaseException):
    """Stands for the process dying at this point of writing."""


def test_a_death_at_any_point_of_report_writing_leaves_readable_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = SPECS / "accumulation"
    args = ["run", "--spec", str(spec), "--backend", "reference", "--repeat", "0"]
    args += ["--isolation", "none", "--report-dir", str(tmp_path)]
    assert main(args) == 0  # a previous, complete run
    real_replace, real_unlink = os.replace, Path.unlink
    point = 1
    while True:
        calls = 0

        def counted(*a: Any, _real: Any = None, _point: int = point, **k: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == _point:
                raise _Died
            return _real(*a, **k)

        monkeypatch.setattr(os, "replace", lambda *a, **k: counted(*a, _real=real_replace, **k))
        monkeypatch.setattr(Path, "unlink", lambda *a, **k: counted(*a, _real=real_unlink, **k))
        try:
            main(args)
            died = False
        except _Died:
            died = True
        monkeypatch.undo()
        latest = _check_folder(tmp_path)
        if not died:
            assert "incomplete" not in latest
            break
        point += 1
    assert point > 5  # every rename and removal of a run's writing was a death point
