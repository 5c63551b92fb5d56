"""Markdown for pull requests: verdict, matrix, each failure with diff and repro, timing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def text(sample_dir: Path) -> str:
    return (sample_dir / "report.md").read_text()


def test_it_opens_with_the_verdict_and_the_counts(text: str) -> None:
    lines = text.splitlines()
    assert lines[0] == "# Conformance report"
    assert lines[2].startswith("**FAIL** · 9 scenarios × 3 backends: ")
    assert "1 xfail, 1 xpass" in lines[2]
    assert "harness.gone matches no scenario" in text


def test_the_matrix_lists_problem_rows_first(text: str) -> None:
    matrix = text.split("## Matrix")[1].split("<details>")[0]
    rows = [line for line in matrix.splitlines() if line.startswith("| `")]
    assert rows[0].startswith("| `harness.raises_midway` | 💥 error | 💥 error | 💥 error |")
    assert any("harness.cross_backend" in row and "⚠️ xpass" in row for row in rows)


def test_every_failure_has_its_diff_and_a_repro(text: str) -> None:
    failures = text.split("## Failures (")[1].split("## Known failures")[0]
    assert failures.startswith("6)")  # 3 errors, 2 failures, 1 strict xpass
    section = failures.split("`harness.cross_accumulate` [torchlike:broken_accumulate]")[1]
    assert "x.grad: values differ" in section
    assert "Rerun alone: `conformance show harness.cross_accumulate" in section
    assert "```python\n# harness.cross_accumulate on torchlike:broken_accumulate: fail" in section


def test_known_failures_and_timing_tables(text: str) -> None:
    assert "| `harness.accumulation` | torchlike:broken_accumulate | 🟡 xfail |" in text
    timing = text.split("## Timing")[1]
    assert "ratio to torch-cpu |" in timing
    row = next(line for line in timing.splitlines() if "tutorial_chain_2x2` | reference" in line)
    assert re.search(r"\| \d+\.\d\d× \(\d+\.\d\d–\d+\.\d\d\) \|$", row), row
