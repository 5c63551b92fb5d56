"""Fixtures for the harness's tests: test specs, spec-writing helpers and the broken modules."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
# The harness's own test specs are inputs of these tests, never tests themselves, even under
# `pytest --conformance` (one of them errors on purpose).
collect_ignore = ["data"]

# Every spec written by `write_spec` starts with these 8 lines, so its first step is on line 9.
HEADER = """\
spec: 1
id: {id}
title: A test scenario
tags: [test]
requires: []
source: tests
rationale: exercises the harness
steps:
"""


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[..., Path]:
    """Write a spec whose steps (YAML text, indented under `steps:`) start on line 9."""

    def write(steps: str, *, id: str = "test.example", name: str = "example.yaml") -> Path:
        path = tmp_path / name
        path.write_text(HEADER.format(id=id) + steps, encoding="utf-8")
        return path

    return write


@pytest.fixture
def broken_modules(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make the torch-shaped fixture modules importable by name, for `torchlike:NAME`."""
    pytest.importorskip("torch")
    monkeypatch.syspath_prepend(str(FIXTURES))
    return FIXTURES
