"""The reports a run writes: JUnit XML, Markdown, a compact Markdown summary for PR comments
and HTML, all built from the run JSON."""

from __future__ import annotations

from pathlib import Path

from conformance.formats.html import html_report
from conformance.formats.junit import junit_xml
from conformance.formats.markdown import markdown
from conformance.formats.summary import summary
from conformance.runfile import RunRecord

FILES = {
    "junit.xml": junit_xml,
    "report.md": markdown,
    "summary.md": summary,
    "report.html": html_report,
}

__all__ = ["FILES", "html_report", "junit_xml", "markdown", "summary", "write_reports"]


def write_reports(run: RunRecord, directory: Path) -> list[Path]:
    """Write every format into `directory` (created if needed); returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, render in FILES.items():
        path = directory / name
        path.write_text(render(run), encoding="utf-8")
        paths.append(path)
    return paths
