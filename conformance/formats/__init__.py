"""The reports a run writes: JUnit XML, Markdown, a compact Markdown summary for PR comments
and HTML, all built from the run JSON."""

from __future__ import annotations

import os
from pathlib import Path

from conformance.formats.html import html_report
from conformance.formats.junit import junit_xml
from conformance.formats.markdown import markdown
from conformance.formats.summary import summary
from conformance.report.runfile import RunRecord
from conformance.report.runlog import write_atomic

FILES = {
    "junit.xml": junit_xml,
    "report.md": markdown,
    "summary.md": summary,
    "report.html": html_report,
}

__all__ = ["FILES", "html_report", "junit_xml", "markdown", "summary", "write_reports"]


def write_reports(run: RunRecord, directory: Path) -> list[Path]:
    """Write every format into `directory` (created if needed); returns the paths.

    All are rendered first, then the previous run's reports are removed before the new ones
    are renamed into place, so an interruption leaves some reports missing (`conformance
    report` rebuilds them) but never one run's report beside another's."""
    directory.mkdir(parents=True, exist_ok=True)
    texts = {name: render(run) for name, render in FILES.items()}
    staged = {}
    for name, text in texts.items():
        staged[name] = directory / f".{name}.{os.getpid()}.tmp"
        write_atomic(staged[name], text)
    for name in FILES:
        (directory / name).unlink(missing_ok=True)
    paths = []
    for name, temporary in staged.items():
        os.replace(temporary, directory / name)
        paths.append(directory / name)
    return paths
