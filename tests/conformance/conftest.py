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


# A scenario whose middle step is `body`; `faulty_engine` breaks `exp`, so `exp(x)` is the fault.
FAULT_SPEC = """\
spec: 1
id: faults.{name}
title: "{name}"
tags: [faults]
requires: []
source: tests
rationale: exercises worker isolation
steps:
  - x = ones(2, requires_grad=True)
  - y = {body}
  - y.sum().backward()
  - expect: x.grad
"""


@pytest.fixture
def fault_spec() -> Callable[[str, str], str]:
    """The text of a fault-injection scenario `faults.NAME` computing `y = BODY`."""
    return lambda name, body: FAULT_SPEC.format(name=name, body=body)


@pytest.fixture
def fault_specs(tmp_path: Path, fault_spec: Callable[[str, str], str]) -> Path:
    """Three specs: the middle one calls `exp`, which the faulty engine breaks; the last one
    passes only if the worker came back after the fault."""
    folder = tmp_path / "specs"
    folder.mkdir()
    for name, body in (("a_before", "x * 2"), ("b_exp", "exp(x)"), ("c_after", "x * 3")):
        (folder / f"{name}.yaml").write_text(fault_spec(name, body))
    return folder
