"""`benchmarks/report.py` on a run narrowed with `-k`: a clear line, the report untouched."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_a_partial_run_leaves_the_report_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(ROOT))  # benchmarks/ is a folder of the checkout
    report = importlib.import_module("benchmarks.report")
    run = tmp_path / "bench.json"
    run.write_text(json.dumps({"benchmarks": [{"name": "test_side_by_side[chain_2x2]"}]}))
    out = tmp_path / "bench.md"
    out.write_text("the last whole run's report")

    assert report.main(["--json", str(run), "--out", str(out), "--no-profile"]) == 0

    said = capsys.readouterr().out
    assert "lacks 12 of the benchmarks" in said
    assert "test_side_by_side[mlp]" in said
    assert out.read_text() == "the last whole run's report"
    assert not out.with_suffix(".svg").exists()
