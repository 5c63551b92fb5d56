"""`conformance gate`: each trigger fails it (a new failure, a strict xpass, a timing
regression), a clean run passes, and --update ratchets the baseline."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conformance.cli.main import main

BENCH = "bench.mlp"


def samples(center: float, seed: int, rounds: int = 30) -> list[float]:
    return list(np.random.default_rng(seed).lognormal(np.log(center), 0.15, rounds))


def result(
    scenario: str,
    backend: str,
    status: str = "pass",
    *,
    timing: list[float] | None = None,
    ok: bool | None = None,
    strict: bool = True,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "scenario": scenario,
        "title": scenario,
        "file": f"specs/{scenario}.yaml",
        "tags": ["bench"] if scenario.startswith("bench") else ["semantics"],
        "backend": backend,
        "status": status,
        "ok": status not in ("fail", "error", "xpass") if ok is None else ok,
    }
    if status == "fail":
        entry["diffs"] = [
            {
                "step": f"specs/{scenario}.yaml:12",
                "path": "x.grad",
                "problem": "values differ",
                "expected": "[1.]",
                "got": "[2.]",
                "detail": "",
                "message": "x.grad: values differ",
            }
        ]
    if status in ("xfail", "xpass"):
        entry["expected"] = {"reason": "known", "source": "exp/reference.yaml:3", "strict": strict}
    if timing is not None:
        q1, median, q3 = np.percentile(timing, [25, 50, 75])
        entry["timing"] = {
            "median_s": median,
            "q1_s": q1,
            "q3_s": q3,
            "iqr_s": q3 - q1,
            "samples_s": timing,
            "warmup": 1,
        }
    return entry


def run(results: list[dict[str, Any]]) -> dict[str, Any]:
    statuses = ["pass", "fail", "error", "unsupported", "unavailable", "xfail", "xpass"]
    return {
        "format": 2,
        "created": "2026-01-01T00:00:00Z",
        "command": ["conformance", "run"],
        "environment": {"python": "3.11", "numpy": "2", "torch": "2", "platform": "x",
                        "machine": "x", "cpu_count": 2},
        "specs": {"hash": "sha256:" + "0" * 64, "count": 2},
        "shard": None,
        "baseline": "torch-cpu",
        "timing": {"warmup": 1, "repeat": 5, "bench_repeat": 30, "baseline": "torch-cpu"},
        "expectations": {"files": [], "stale": []},
        "elapsed_s": 1.0,
        "backends": [
            {"name": name, "available": True, "reason": "", "capabilities": [], "info": {}}
            for name in ("reference", "torch-cpu")
        ],
        "summary": {s: sum(r["status"] == s for r in results) for s in statuses},
        "results": results,
    }  # fmt: skip


def healthy(seed: int, *, slowdown: float = 1.0, status: str = "pass") -> dict[str, Any]:
    """Two scenarios on two backends; the bench one timed on both, in the same rounds."""
    drift = np.random.default_rng(seed + 50).lognormal(0, 0.3, 30)  # shared machine load
    torch_times = [t * d for t, d in zip(samples(1e-3, seed), drift)]
    reference_times = [slowdown * t * d for t, d in zip(samples(3e-3, seed + 1), drift)]
    return run(
        [
            result(BENCH, "reference", timing=reference_times),
            result(BENCH, "torch-cpu", timing=torch_times),
            result("semantics.grad", "reference", status),
            result("semantics.grad", "torch-cpu"),
        ]
    )


@pytest.fixture
def gate_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run `conformance gate` on two runs; returns its exit code and output."""

    def call(baseline: dict[str, Any], current: dict[str, Any], *extra: str) -> tuple[int, str]:
        base, now = tmp_path / "baseline.json", tmp_path / "current.json"
        base.write_text(json.dumps(baseline))
        now.write_text(json.dumps(current))
        code = main(["gate", "--baseline", str(base), "--current", str(now), *extra])
        return code, capsys.readouterr().out

    return call


def test_a_clean_run_passes(gate_out) -> None:  # type: ignore[no-untyped-def]
    code, out = gate_out(healthy(0), healthy(1))
    assert code == 0, out
    assert out.splitlines()[-1] == "gate: PASS"
    assert "bench.mlp [reference]: 1.0" in out or "bench.mlp [reference]: 0.9" in out


def test_a_new_failure_fails_and_says_what_failed(gate_out) -> None:  # type: ignore[no-untyped-def]
    code, out = gate_out(healthy(0), healthy(1, status="fail"))
    assert code == 1
    assert (
        "REGRESSION semantics.grad [reference]: pass -> fail: "
        "specs/semantics.grad.yaml:12: x.grad: values differ" in out
    )
    assert out.splitlines()[-1] == "gate: FAIL: 1 regression"


def test_a_failing_scenario_new_to_the_baseline_fails(gate_out) -> None:  # type: ignore[no-untyped-def]
    current = healthy(1)
    current["results"].append(result("semantics.new", "reference", "error"))
    code, out = gate_out(healthy(0), current)
    assert code == 1 and "NEW FAILURE semantics.new [reference]: error" in out


def test_a_strict_xpass_fails_and_a_lenient_one_does_not(gate_out) -> None:  # type: ignore[no-untyped-def]
    code, out = gate_out(healthy(0), healthy(1, status="xpass"))
    assert code == 1
    assert (
        "STRICT XPASS semantics.grad [reference]: passes, but exp/reference.yaml:3 expects it "
        "to fail; remove the entry" in out
    )
    lenient = healthy(1)
    lenient["results"][2] = result("semantics.grad", "reference", "xpass", ok=True, strict=False)
    code, out = gate_out(healthy(0), lenient)
    assert code == 1  # it did pass in the baseline and xpass is not pass: still a regression
    assert "STRICT XPASS" not in out and "pass -> xpass" in out


def test_a_doubled_time_on_one_backend_is_a_timing_regression(gate_out) -> None:  # type: ignore[no-untyped-def]
    code, out = gate_out(healthy(0), healthy(1, slowdown=2.0))
    assert code == 1
    line = next(line for line in out.splitlines() if line.startswith("TIMING REGRESSION"))
    found = re.match(r"TIMING REGRESSION bench.mlp \[reference\]: (\d\.\d\d)x slower relative to "
                     r"torch-cpu \(ratio 3\.\d+ -> (\d\.\d+); 90% interval", line)  # fmt: skip
    assert found and 1.8 < float(found[1]) < 2.2 and 5.4 < float(found[2]) < 6.6, line
    assert "P(slowdown > 1.5x) = " in line and "[check ratio:50%@95]" in line
    assert out.splitlines()[-1] == "gate: FAIL: 1 timing regression"


def test_timing_can_be_advisory(gate_out) -> None:  # type: ignore[no-untyped-def]
    code, out = gate_out(healthy(0), healthy(1, slowdown=2.0), "--timing", "advisory")
    assert code == 0
    assert "ADVISORY TIMING REGRESSION bench.mlp [reference]" in out
    assert out.splitlines()[-1] == "gate: PASS (timing advisory): 1 timing regression"


def test_a_whole_machine_slowdown_is_not_a_regression(gate_out) -> None:  # type: ignore[no-untyped-def]
    slower = healthy(1)
    for entry in slower["results"]:
        if "timing" in entry:
            entry["timing"]["samples_s"] = [3 * t for t in entry["timing"]["samples_s"]]
    code, out = gate_out(healthy(0), slower)
    assert code == 0, out


def test_timing_checks_and_tags_are_options(gate_out) -> None:  # type: ignore[no-untyped-def]
    code, out = gate_out(healthy(0), healthy(1, slowdown=1.4), "--timing-check", "ratio:20%@90")
    assert code == 1 and "[check ratio:20%@90]" in out
    code, out = gate_out(healthy(0), healthy(1, slowdown=2.0), "--timing-tag", "semantics")
    assert code == 0 and "timing compared" not in out


def test_a_fix_is_reported_and_update_ratchets_the_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, now = tmp_path / "baseline.json", tmp_path / "current.json"
    base.write_text(json.dumps(healthy(0, status="fail")))
    now.write_text(json.dumps(healthy(1)))
    assert main(["gate", "--baseline", str(base), "--current", str(now)]) == 0
    assert "FIXED semantics.grad [reference]: fail -> pass" in capsys.readouterr().out
    assert main(["gate", "--baseline", str(base), "--current", str(now), "--update"]) == 0
    assert json.loads(base.read_text()) == json.loads(now.read_text())
    assert "baseline updated" in capsys.readouterr().out
    # Ratcheted: the same failure that was tolerated before is now a regression.
    now.write_text(json.dumps(healthy(2, status="fail")))
    assert main(["gate", "--baseline", str(base), "--current", str(now)]) == 1


def test_update_creates_a_missing_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, now = tmp_path / "baseline.json", tmp_path / "current.json"
    now.write_text(json.dumps(healthy(1)))
    assert main(["gate", "--baseline", str(base), "--current", str(now), "--update"]) == 0
    assert json.loads(base.read_text()) == healthy(1)
    assert "baseline created" in capsys.readouterr().out


def test_a_missing_or_old_run_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"format": 1, "results": []}))
    assert main(["gate", "--baseline", str(old), "--current", str(old)]) == 2
    assert "expected a run file of format 2, found 1" in capsys.readouterr().err
    now = tmp_path / "current.json"
    now.write_text(json.dumps(healthy(1)))
    assert main(["gate", "--baseline", str(tmp_path / "none.json"), "--current", str(now)]) == 2
    assert "no such run file" in capsys.readouterr().err
