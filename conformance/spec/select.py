"""Choose scenarios by tag and by a `-k` expression, as pytest's `-k` reads.

A word in the expression matches a scenario when it is part of its id or is one of its tags
(ignoring case); words combine with `and`, `or`, `not` and parentheses.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from conformance.errors import UsageError
from conformance.spec.model import Scenario

_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")
Matcher = Callable[[Scenario], bool]


def select(
    scenarios: Sequence[Scenario], keyword: str | None = None, tags: Sequence[str] = ()
) -> list[Scenario]:
    """The scenarios with any of `tags` (all when none) that match `keyword`."""
    matches = parse_keyword(keyword) if keyword else None
    wanted = {tag.lower() for tag in tags}
    return [
        scenario
        for scenario in scenarios
        if (not wanted or wanted & {tag.lower() for tag in scenario.tags})
        and (matches is None or matches(scenario))
    ]


def parse_keyword(expression: str) -> Matcher:
    """Compile a `-k` expression; a malformed one is a `UsageError`."""
    tokens = _TOKEN.findall(expression)
    parser = _Parser(tokens, expression)
    matcher = parser.disjunction()
    if parser.position != len(tokens):
        parser.fail(f"unexpected {tokens[parser.position]!r}")
    return matcher


class _Parser:
    def __init__(self, tokens: list[str], expression: str) -> None:
        self.tokens = tokens
        self.expression = expression
        self.position = 0

    def fail(self, problem: str) -> None:
        raise UsageError(f"-k {self.expression!r}: {problem}")

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            self.fail("the expression ends too early")
        self.position += 1
        return token  # type: ignore[return-value]

    def disjunction(self) -> Matcher:
        parts = [self.conjunction()]
        while self.peek() == "or":
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else lambda s: any(part(s) for part in parts)

    def conjunction(self) -> Matcher:
        parts = [self.negation()]
        while self.peek() == "and":
            self.take()
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else lambda s: all(part(s) for part in parts)

    def negation(self) -> Matcher:
        if self.peek() == "not":
            self.take()
            inner = self.negation()
            return lambda s: not inner(s)
        token = self.take()
        if token == "(":
            inner = self.disjunction()
            if self.take() != ")":
                self.fail("expected ')'")
            return inner
        if token in (")", "and", "or"):
            self.fail(f"expected a word, found {token!r}")
        word = token.lower()
        return lambda s: word in s.id.lower() or word in (tag.lower() for tag in s.tags)
