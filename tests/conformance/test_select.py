"""`-k` expressions and `--tag` pick scenarios by id and tags."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.errors import UsageError
from conformance.spec import find_spec_files, load_specs
from conformance.spec.select import select

SCENARIOS = load_specs(find_spec_files([str(Path(__file__).parent / "data" / "pass")]))


def ids(keyword: str | None = None, tags: tuple[str, ...] = ()) -> list[str]:
    return [scenario.id for scenario in select(SCENARIOS, keyword, tags)]


def test_words_match_part_of_the_id_or_a_whole_tag() -> None:
    assert ids("second") == ["harness.second_backward"]
    assert ids("retain_graph") == ["harness.second_backward"]  # a tag
    assert ids("ACCUM") == ["harness.accumulation", "harness.cross_accumulate"]


def test_and_or_not_and_parentheses_combine_words() -> None:
    assert ids("accum and not cross") == ["harness.accumulation"]
    assert ids("(no_grad or inference) and harness") == [
        "harness.inference_mode",
        "harness.no_grad",
    ]


def test_tags_select_any_of_them() -> None:
    assert ids(tags=("cross",)) == ["harness.cross_accumulate", "harness.cross_backend"]
    assert ids(tags=("cross", "non_leaf")) == [
        "harness.cross_accumulate",
        "harness.cross_backend",
        "harness.nonleaf_grad",
    ]


@pytest.mark.parametrize("bad", ["a and", "(a", "a b", "or a", ")"])
def test_malformed_expressions_are_usage_errors(bad: str) -> None:
    with pytest.raises(UsageError, match="-k"):
        ids(bad)
