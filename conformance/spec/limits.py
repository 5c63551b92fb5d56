"""Bounds on what a spec may ask for, so loading and running one stays bounded in time and
memory. Each bound is far above what a real spec needs; a spec past one is a typo or an
attack, and is refused with a message that names the bound.
"""

from __future__ import annotations

import math

MAX_STATEMENT_CHARS = 10_000  # one string step; the longest shipped one is under 500
MAX_EXPRESSION_DEPTH = 100  # nested calls, indexing and operators; shipped specs need 15
MAX_INT_DIGITS = 100  # an integer literal
MAX_POWER_DIGITS = 10_000  # the result of `int ** int`, at load time and at run time
MAX_PATTERN_CHARS = 500  # a `match:` regex; the longest shipped one is under 200
MAX_PATTERN_REPEATS = 3  # unbounded quantifiers in one regex: each multiplies backtracking


def power_digits(base: object, exponent: object) -> float:
    """About how many digits `base ** exponent` has when both are plain Python integers
    (0 otherwise): Python computes such a power exactly, however long that takes."""
    if not (isinstance(base, int) and isinstance(exponent, int)):
        return 0.0
    if exponent <= 0 or abs(base) <= 1:
        return 1.0
    return exponent * math.log10(abs(base))


def power_problem(base: object, exponent: object) -> str | None:
    """Why `base ** exponent` is refused, or None when it is small enough to compute."""
    digits = power_digits(base, exponent)
    if digits <= MAX_POWER_DIGITS:
        return None
    return (
        f"expected an integer power of at most {MAX_POWER_DIGITS:,} digits, found one of "
        f"about {digits:,.0f} digits"
    )


# --- regular expressions ----------------------------------------------------------------------


def pattern_problem(pattern: str) -> str | None:
    """Why a `match:` regex could backtrack for ever, or None when it cannot.

    A repeated group that holds a quantifier or an alternative, as in `(a+)+` or `(a|a)*`,
    can try exponentially many ways to fail; many unbounded quantifiers in a row (`.*.*.*`)
    polynomially many. Both are refused. A `?` may wrap anything: it tries at most twice.
    """
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"expected a regex of at most {MAX_PATTERN_CHARS} characters, found {len(pattern)}"
    scan = _PatternScan(pattern)
    scan.run()
    if scan.nested:
        return (
            f"expected a regex without nested repetition, found {scan.nested!r} "
            "(a repeated group holding a quantifier or |, which can backtrack for ever)"
        )
    if scan.repeats > MAX_PATTERN_REPEATS:
        return (
            f"expected a regex with at most {MAX_PATTERN_REPEATS} unbounded repeats "
            f"(* + {{n,}}), found {scan.repeats}"
        )
    return None


class _PatternScan:
    """One pass over a regex that already compiles: finds repeated groups that repeat
    something inside them, and counts unbounded quantifiers."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.i = 0
        self.groups: list[tuple[int, bool]] = []  # open groups: (start, holds a repeat or |)
        self.top_holds = False  # the same, for the pattern outside any group
        self.last: tuple[int, bool] | None = None  # the atom before here: (start, holds ...)
        self.nested = ""
        self.repeats = 0

    def run(self) -> None:
        while self.i < len(self.pattern) and not self.nested:
            self._step(self.pattern[self.i])

    def _step(self, char: str) -> None:
        start = self.i
        if char == "\\":
            self.i += 2
            self.last = (start, False)
        elif char == "[":
            self.i = _class_end(self.pattern, self.i)
            self.last = (start, False)
        elif char == "(":
            self._open()
        elif char == ")":
            self.i += 1
            self.last = self.groups.pop() if self.groups else None
            if self.last is not None and self.last[1]:
                self._mark()
        elif char == "|":
            self.i += 1
            self._mark()
            self.last = None
        elif char in "*+?" or (char == "{" and _braces(self.pattern, self.i)):
            self._quantifier(char)
        else:
            self.i += 1
            self.last = (start, False)

    def _open(self) -> None:
        """A group (its `(?:`, `(?P<name>`, `(?=` ... prefix skipped), or an extension that
        opens none: `(?i)` flags, a `(?#...)` comment, a `(?P=name)` backreference."""
        start = self.i
        rest = self.pattern[start:]
        if rest.startswith(("(?#", "(?P=")) or _is_flags(rest):
            self.i = self.pattern.find(")", start) + 1 or len(self.pattern)
            self.last = (start, False) if rest.startswith("(?P=") else None
            return
        self.i += _group_prefix(rest)
        self.groups.append((start, False))
        self.last = None

    def _mark(self) -> None:
        """The innermost open group (or the whole pattern) holds a repeat or an alternative."""
        if self.groups:
            self.groups[-1] = (self.groups[-1][0], True)
        else:
            self.top_holds = True

    def _quantifier(self, char: str) -> None:
        start = self.i
        if char == "{":
            end = self.pattern.index("}", start)
            most = _most(self.pattern[start + 1 : end])
            self.i = end + 1
        else:
            self.i += 1
            most = 1 if char == "?" else None
        if self.pattern[self.i : self.i + 1] in ("?", "+"):
            self.i += 1  # lazy or possessive: the same backtracking in the worst case
        self.repeats += most is None
        if self.last is not None and self.last[1] and (most is None or most > 1):
            self.nested = self.pattern[self.last[0] : self.i]
        self._mark()
        self.last = None


def _most(inside: str) -> int | None:
    """The most repeats a `{...}` quantifier allows (None: no limit)."""
    low, comma, high = inside.partition(",")
    if not comma:
        return int(low)
    return int(high) if high else None


def _group_prefix(rest: str) -> int:
    """How long the opening of the group at the start of `rest` is: `(`, `(?:`, `(?P<n>`..."""
    if not rest.startswith("(?"):
        return 1
    kind = rest[2:3]
    if rest.startswith("(?P<"):
        return rest.find(">") + 1 or len(rest)
    if kind == "(":  # a conditional, `(?(1)yes|no)`
        return rest.find(")") + 1 or len(rest)
    if rest.startswith(("(?<=", "(?<!")):
        return 4
    if kind in (":", "=", "!", ">"):
        return 3
    return rest.find(":") + 1 or len(rest)  # scoped flags, `(?i:...)`


def _class_end(pattern: str, i: int) -> int:
    """The index after a character class `[...]` starting at `i`."""
    i += 1
    if pattern[i : i + 1] == "^":
        i += 1
    if pattern[i : i + 1] == "]":
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i + 1


def _braces(pattern: str, i: int) -> bool:
    """Whether `{` at `i` starts a quantifier (`{3}`, `{2,}`, `{,5}`, `{1,4}`), not a literal."""
    end = pattern.find("}", i)
    if end < 0:
        return False
    low, comma, high = pattern[i + 1 : end].partition(",")
    if not comma:
        return low.isascii() and low.isdigit()
    return all(part.isascii() and part.isdigit() for part in (low, high) if part)


def _is_flags(rest: str) -> bool:
    """Whether `rest` starts with inline flags that open no group, like `(?i)` or `(?aiLmsux)`."""
    end = rest.find(")")
    return end > 2 and rest.startswith("(?") and rest[2:end].isalpha()
