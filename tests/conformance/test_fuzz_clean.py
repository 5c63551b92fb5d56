"""A short clean run: reference and torch-cpu agree on every generated program. (The long
runs, 2,000 programs and more, are `tox -e fuzz` and the README's numbers.)"""

from __future__ import annotations

import pytest

from conformance.backends import resolve_backend
from conformance.fuzz.differential import Differential
from conformance.fuzz.session import Options, fuzz

pytest.importorskip("torch")


def test_reference_agrees_with_torch_on_random_programs() -> None:
    differential = Differential(resolve_backend("reference"), resolve_backend("torch-cpu"))
    result = fuzz(differential, Options(max_examples=150, seed=11))
    if result.verdict is not None:
        mismatches = "\n".join(m.message() for m in result.verdict.mismatches)
        pytest.fail(f"{result.verdict.program.listing()}\n{mismatches}")
    assert result.stats.programs == 150
