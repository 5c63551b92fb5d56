"""benchmarks/kill_rate.py measures what it says on a small budget: the control finds nothing,
a module the fuzzer finds at once is found (`accumulate`: program 8 of 30 from seed 1, while
the fuzzer's generator stays as it is), and the report section renders."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("hypothesis")
ROOT = Path(__file__).resolve().parents[1]


def test_kill_rate_on_two_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT))  # benchmarks/; sys.path is restored after
    kill_rate = importlib.import_module("benchmarks.kill_rate")

    out = tmp_path / "kill_rate.json"
    argv = ["--out", str(out), "--examples", "30", "--only", "broken_accumulate"]
    assert kill_rate.main([*argv, "--only", "broken_inference_mode_flag"]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    control = data["control"]
    assert control["spec_failures"] == [] and not control["fuzz_found"]
    rows = {row["module"]: row for row in data["modules"]}
    assert rows["broken_accumulate"]["spec_failures"]
    assert rows["broken_accumulate"]["fuzz_found"]
    assert "ignores `mode`" in rows["broken_inference_mode_flag"]["bug"]
    text = "\n".join(kill_rate.markdown(data))
    assert "## Kill rate" in text
    assert "| `accumulate` |" in text
