"""The HTML report: self-contained, and it works in a real browser (headless Chromium)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conformance.cli.main import main


@pytest.fixture(scope="module")
def page(sample_dir: Path) -> str:
    return (sample_dir / "report.html").read_text()


def test_the_page_needs_no_network(page: str) -> None:
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "@import" not in page and "<link" not in page


def test_the_page_is_well_formed_html(page: str) -> None:
    class Checker(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.ids: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.ids += [value or "" for name, value in attrs if name == "id"]

    checker = Checker()
    checker.feed(page)
    assert len(checker.ids) == len(set(checker.ids)), "duplicate element ids"
    assert {"matrix", "failures", "timing", "tag", "text"} <= set(checker.ids)


def test_the_matrix_cells_are_coloured_by_status(page: str) -> None:
    assert page.count('class="cell s-') == 27
    assert 'class="cell s-xfail"' in page and 'class="cell s-error"' in page
    assert '<option value="harness">harness</option>' in page  # the tag filter


def test_failures_expand_to_a_diff_and_a_copyable_repro(page: str) -> None:
    block = page.split('id="f-harness-cross-accumulate-torchlike-broken-accumulate"')[1]
    block = block.split("</details>")[0]
    assert "x.grad: values differ" in block
    assert 'class="copy"' in block and "import broken_accumulate as torch" in block


def test_known_failures_expand_too_and_an_xpass_says_why_it_fails(page: str) -> None:
    known = page.split("<h2>Known failures (1)</h2>")[1].split("<h2")[0]
    assert 'id="f-harness-accumulation-torchlike-broken-accumulate"' in known
    assert "backward overwrites .grad instead of adding into it" in known
    xpass = page.split('id="f-harness-cross-backend-torchlike-broken-accumulate"')[1]
    assert "expects a failure (listed on purpose" in xpass.split("</summary>")[0]


def test_the_timing_chart_is_inline_svg(page: str) -> None:
    chart = page.split('<h2 id="timing">')[1]
    assert "<svg" in chart and "bench.tutorial_chain_2x2 [reference]" in chart


def test_the_report_command_rebuilds_the_same_files(sample_dir: Path, tmp_path: Path) -> None:
    assert (
        main(["report", str(sample_dir / "runs" / "latest.json"), "--report-dir", str(tmp_path)])
        == 0
    )
    for name in ("junit.xml", "report.md", "report.html"):
        assert (tmp_path / name).read_text() == (sample_dir / name).read_text(), name


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _dump_dom(url: str) -> str:
    browser = _chromium()
    assert browser is not None
    with tempfile.TemporaryDirectory() as profile:
        completed = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout


@pytest.mark.skipif(
    _chromium() is None,
    reason="needs headless Chromium (apt-get install chromium; .ci/run installs it)",
)
def test_the_page_loads_in_headless_chromium_and_its_filters_work(sample_dir: Path) -> None:
    url = (sample_dir / "report.html").as_uri()
    dom = _dump_dom(url)
    assert 'data-ready="yes"' in dom, "the page's script did not run"
    assert '<table class="matrix" id="matrix">' in dom
    assert "9 of 9 scenarios shown" in dom
    filtered = _dump_dom(url + "#status=xpass&tag=cross")
    rows = re.findall(r'<tr data-id="([^"]+)"[^>]*?( hidden="")?>', filtered)
    shown = [scenario for scenario, hidden in rows if not hidden]
    assert shown == ["harness.cross_backend"], rows
    assert "1 of 9 scenarios shown" in filtered
