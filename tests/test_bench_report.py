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


def _chart(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.syspath_prepend(str(ROOT))
    report = importlib.import_module("benchmarks.report")
    targets = [
        report.Target("chain 2×2: reference / torch", 0.49, 0.5, "x"),
        report.Target("full run, backends in workers / in one process", 1.08, 1.15, "x"),
        report.Target("full run beyond importing torch", 3.27, 1.0, "s"),
        report.Target("full run beyond importing torch + sympy", 2.49, 1.0, "s"),
    ]
    return str(report._svg(targets))


def test_the_chart_draws_every_bar_to_scale_and_labels_beside_the_plot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import xml.etree.ElementTree as ET

    svg = ET.fromstring(_chart(monkeypatch))
    ns = "{http://www.w3.org/2000/svg}"
    width = float(svg.get("width", 0))
    bars = [float(rect.get("width", 0)) for rect in svg.iter(f"{ns}rect")]
    assert bars[2] / bars[3] == pytest.approx(3.27 / 2.49, rel=0.01)  # no cap evens them out
    (line,) = svg.iter(f"{ns}line")
    values = [t for t in svg.iter(f"{ns}text") if t.get("class") == "value"]
    assert len(values) == 4
    assert all(float(t.get("x", 0)) > float(line.get("x1", 0)) for t in values)
    assert all(
        float(r.get("x", 0)) + float(r.get("width", 0)) < width for r in svg.iter(f"{ns}rect")
    )


def _chromium() -> str | None:
    import shutil

    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    _chromium() is None,
    reason="needs headless Chromium (apt-get install chromium; .ci/run installs it)",
)
def test_the_chart_has_no_clipped_or_crossed_label_in_a_browser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chromium lays the text out: every label's box lies inside the picture, and the limit
    line crosses none of them."""
    import re
    import subprocess

    script = """
    const svg = document.querySelector('svg');
    const w = svg.width.baseVal.value, h = svg.height.baseVal.value;
    const x = svg.querySelector('line').x1.baseVal.value;
    const bad = [];
    for (const t of svg.querySelectorAll('text')) {
      const b = t.getBBox();
      const out = b.x < 0 || b.y < 0 || b.x + b.width > w || b.y + b.height > h;
      if (out) bad.push('clipped:' + t.textContent);
      const crossed = b.x < x && x < b.x + b.width && t.getAttribute('y') > 20;
      if (crossed) bad.push('crossed:' + t.textContent);
    }
    document.body.setAttribute('data-bad', bad.join('|') || 'none');
    """
    page = tmp_path / "chart.html"
    page.write_text(f"<html><body>{_chart(monkeypatch)}<script>{script}</script></body></html>")
    completed = subprocess.run(
        [
            str(_chromium()), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-2000:]
    found = re.search(r'data-bad="([^"]*)"', completed.stdout)
    assert found is not None, completed.stdout[-2000:]
    assert found.group(1) == "none"
