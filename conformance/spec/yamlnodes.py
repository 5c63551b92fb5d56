"""Read YAML safely into values that remember their line, so every error can name it.

Reading is bounded: the text's size, the nesting depth and what aliases expand to are all
limited, so a malformed or hostile spec is a `SpecError`, never a hang or a crash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from conformance.errors import Location, SpecError

_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_CHARS = 1_000_000  # a spec is a page of YAML; the largest shipped one is under 4 kB
MAX_DEPTH = 50  # nested lists and mappings; a spec needs about 10
MAX_NODES = 100_000  # values once every alias is expanded (a billion-laughs bomb has 10**9)
MAX_ALIASES = 1_000  # alias uses (`*name`) in one file
MAX_INT_DIGITS = 100  # integers beyond this are typos or attacks, never tensor data

_BREAKS = "\r\n\x85\u2028\u2029"  # what YAML counts as a line break
_YAML_LINES = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_PY_NEWLINES = re.compile("\r\n|\r|\n")  # what Python's parser counts as a line break
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}


class _Loader(_Base):  # type: ignore[valid-type,misc]
    """SafeLoader that also reads `1e-5` as a float, as YAML 1.2 and every spec author do."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


@dataclass(frozen=True, slots=True)
class Lines:
    """Which file line each line of a string's text is on, so a statement's error names it.

    `starts` holds the line of each text line when known (quoted and plain strings, whose
    `\\n` escapes and folded breaks do not follow the file); otherwise text line k is on
    `first + k - 1`. Either way no line past `last` is ever named.
    """

    first: int
    last: int
    starts: tuple[int, ...] = ()

    def __call__(self, k: int) -> int:
        """The file line of the text's 1-based line `k`."""
        if self.starts:
            return self.starts[k - 1] if 0 < k <= len(self.starts) else self.last
        return max(self.first, min(self.first + k - 1, self.last))


@dataclass(frozen=True, slots=True)
class Node:
    """A YAML value and where it starts. Mappings hold `dict[str, Node]`, lists `list[Node]`."""

    value: object
    where: Location
    style: str | None = None
    lines: Lines | None = None

    @property
    def content_where(self) -> Location:
        """Where a string's text starts: the line after the `|` of a block scalar."""
        if self.style in ("|", ">"):
            return Location(self.where.path, self.where.line + 1)
        return self.where

    def line_of(self) -> Lines:
        """The file line of each line of this string's text."""
        if self.lines is not None:
            return self.lines
        first = self.content_where.line
        return Lines(first, first + str(self.value).count("\n"))

    def kind(self) -> str:
        """The value's kind as a reader says it: 'a string', 'a list', ..."""
        return describe(self.value)


def describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return _describe_int(value)
    if isinstance(value, float):
        return f"a number ({value})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ({shown!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _describe_int(number: int) -> str:
    """An integer as text, elided when long (Python refuses to print one over 4300 digits)."""
    if number.bit_length() > 200:
        return f"an integer of about {int(number.bit_length() * 0.30103)} digits"
    text = str(number)
    return f"an integer ({text if len(text) <= 40 else text[:18] + '...' + text[-18:]})"


def read_yaml(text: str, path: str) -> Node:
    """Parse one YAML document; malformed YAML, unsafe tags and duplicate keys are SpecErrors."""
    if len(text) > MAX_CHARS:
        raise SpecError(
            Location(path, 1),
            f"expected a spec of at most {MAX_CHARS:,} characters, found {len(text):,}",
        )
    loader = _Loader(text)
    try:
        root = _compose(loader, path)
        return _Converter(loader, path, text).convert(root, 1)
    except yaml.MarkedYAMLError as exc:
        last = len(_YAML_LINES.findall(text)) + 1  # the parser puts the end of input past it
        where = Location(path, min(_mark_location(exc, path).line, last))
        raise SpecError(where, f"malformed YAML: {_yaml_problem(exc)}") from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow: a NUL, say
        line = len(_YAML_LINES.findall(text, 0, exc.position)) + 1
        problem = f"unacceptable character #x{exc.character:04x}: {exc.reason}"
        raise SpecError(Location(path, line), f"malformed YAML: {problem}") from None
    except yaml.YAMLError as exc:
        problem = " ".join(str(exc).split())
        raise SpecError(Location(path, 1), f"malformed YAML: {problem}") from None
    finally:
        loader.dispose()


def _compose(loader: yaml.SafeLoader, path: str) -> yaml.Node:
    """The document's node graph, before any alias is expanded."""
    try:
        root = loader.get_single_node()
    except RecursionError:  # the pure-Python composer recurses; libyaml stops at 1000 levels
        raise SpecError(
            Location(path, 1), f"expected YAML nested at most {MAX_DEPTH} deep, found deeper"
        ) from None
    if root is None:
        raise SpecError(Location(path, 1), "expected a YAML mapping, found an empty file")
    return root


def _mark_location(exc: yaml.MarkedYAMLError, path: str) -> Location:
    mark = exc.problem_mark or exc.context_mark
    return Location(path, mark.line + 1 if mark is not None else 1)


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    """The parser's complaint on one line: its context, then its problem."""
    line = _mark_location(exc, "").line
    context = exc.context or ""
    if context and exc.context_mark is not None and exc.context_mark.line + 1 != line:
        context += f" (from line {exc.context_mark.line + 1})"
    problem = ", ".join(part for part in (context, exc.problem) if part)
    return " ".join(problem.split())


_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


class _Converter:
    """Turns a node graph into `Node`s, counting what aliases expand to as it goes.

    An alias is the same yaml node met again: its converted `Node` is shared, not rebuilt,
    but its expanded size still counts, since whoever walks the result pays for it.
    """

    def __init__(self, loader: yaml.SafeLoader, path: str, text: str) -> None:
        self.loader = loader
        self.path = path
        self.text = text
        self.done: dict[int, tuple[Node, int]] = {}  # id(yaml node) -> (Node, expanded size)
        self.open: set[int] = set()  # the nodes being converted: an alias to one is a loop
        self.expanded = 0
        self.aliases = 0
        self.source_lines: list[str] | None = None

    def convert(self, node: yaml.Node, depth: int) -> Node:
        return self._visit(node, depth)[0]

    def _visit(self, node: yaml.Node, depth: int) -> tuple[Node, int]:
        where = self._where(node)
        key = id(node)
        if key in self.open:
            raise SpecError(
                where, "expected plain YAML data, found an alias inside the node it names (a loop)"
            )
        if key in self.done:
            return self._alias(key, where)
        if depth > MAX_DEPTH:
            raise SpecError(where, f"expected YAML nested at most {MAX_DEPTH} deep, found deeper")
        self._count(1, where)
        self.open.add(key)
        try:
            converted, size = self._node(node, where, depth)
        finally:
            self.open.discard(key)
        self.done[key] = (converted, size)
        return converted, size

    def _alias(self, key: int, where: Location) -> tuple[Node, int]:
        """A node met again: count its use and its expanded size, and share the result."""
        self.aliases += 1
        if self.aliases > MAX_ALIASES:
            raise SpecError(where, f"expected at most {MAX_ALIASES} alias uses, found more")
        converted, size = self.done[key]
        self._count(size, where)
        return converted, size

    def _count(self, size: int, where: Location) -> None:
        self.expanded += size
        if self.expanded > MAX_NODES:
            raise SpecError(
                where,
                f"expected at most {MAX_NODES:,} values with aliases expanded, found more "
                "(an alias bomb?)",
            )

    def _where(self, node: yaml.Node) -> Location:
        return Location(self.path, node.start_mark.line + 1)

    def _node(self, node: yaml.Node, where: Location, depth: int) -> tuple[Node, int]:
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, where), 1
        if node.tag not in _PLAIN_TAGS:
            raise SpecError(where, f"expected plain YAML data, found the tag {node.tag}")
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, where, depth)
        assert isinstance(node, yaml.SequenceNode)
        items = [self._visit(item, depth + 1) for item in node.value]
        return Node([item for item, _ in items], where), 1 + sum(size for _, size in items)

    def _mapping(self, node: yaml.MappingNode, where: Location, depth: int) -> tuple[Node, int]:
        # Merge keys (`<<`) copy the pairs of the mappings they name: visit those first, so
        # their size is counted (and loops refused) before PyYAML copies anything.
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self._visit(value_node, depth + 1)
        self.loader.flatten_mapping(node)
        items: dict[str, Node] = {}
        size = 1
        for key_node, value_node in node.value:
            key = self._key(key_node)
            if key in items:
                first = items[key].where.line
                raise SpecError(
                    self._where(key_node), f"duplicate key {key!r} (first given on line {first})"
                )
            items[key], value_size = self._visit(value_node, depth + 1)
            size += value_size
        return Node(items, where), size

    def _key(self, node: yaml.Node) -> str:
        where = self._where(node)
        if not isinstance(node, yaml.ScalarNode):
            kind = "a mapping" if isinstance(node, yaml.MappingNode) else "a list"
            raise SpecError(where, f"expected a string key, found {kind}")
        key = self._construct(node, where)
        if not isinstance(key, str):
            raise SpecError(where, f"expected a string key, found {describe(key)}")
        return key

    def _scalar(self, node: yaml.ScalarNode, where: Location) -> Node:
        if node.tag == "tag:yaml.org,2002:int" and len(node.value) > 2 * MAX_INT_DIGITS:
            raise SpecError(where, f"expected an integer of at most {MAX_INT_DIGITS} digits")
        value = self._construct(node, where)
        if isinstance(value, int) and value.bit_length() > MAX_INT_DIGITS * 3.33:
            raise SpecError(
                where,
                f"expected an integer of at most {MAX_INT_DIGITS} digits, found {describe(value)}",
            )
        lines = self._lines(node, value) if isinstance(value, str) else None
        return Node(value, where, node.style, lines)

    def _construct(self, node: yaml.ScalarNode, where: Location) -> object:
        """The scalar's value; a value its tag cannot hold is a SpecError.

        PyYAML's constructors fail on such text in many ways (`!!bool maybe` a KeyError,
        `!!timestamp 1` an AttributeError, `2024-99-99` a ValueError), so any failure counts.
        """
        try:
            return self.loader.construct_object(node)
        except yaml.YAMLError:
            raise
        except Exception as exc:
            shown = node.value if len(node.value) <= 40 else node.value[:37] + "..."
            problem = " ".join(f"{type(exc).__name__}: {exc}".split())[:80]
            kind = str(node.tag).rsplit(":", 1)[-1]
            raise SpecError(
                where, f"expected a value of type {kind}, found {shown!r} ({problem})"
            ) from None

    # --- which file line each line of a string is on ---------------------------------------

    def _lines(self, node: yaml.ScalarNode, value: str) -> Lines | None:
        """The line map of a multi-line string (None for one line, the common case)."""
        if "\n" not in value and "\r" not in value:
            return None
        start, end = node.start_mark, node.end_mark
        last = end.line + 1 if end.column > 0 else max(end.line, start.line + 1)
        first = start.line + 1 + (node.style in ("|", ">"))
        if node.style in ("|", ">"):
            return Lines(first, last)
        raw = self._raw(start, end)
        breaks = _breaks_in(raw, node.style, start.line + 1)
        newlines = [i for i, char in enumerate(value) if char in "\r\n"]
        if len(breaks) != len(newlines):  # an escape this reading does not follow: stay safe
            return Lines(first, last)
        line_after = dict(zip(newlines, breaks))
        starts = [first] + [line_after[m.end() - 1] for m in _PY_NEWLINES.finditer(value)]
        return Lines(first, last, tuple(min(line, last) for line in starts))

    def _raw(self, start: yaml.Mark, end: yaml.Mark) -> str:
        """The scalar's source text, from its start mark to its end mark."""
        if self.source_lines is None:
            self.source_lines = _split_yaml_lines(self.text)
        lines = self.source_lines[start.line : end.line + 1]
        if not lines:
            return ""
        if len(lines) == 1:
            return lines[0][start.column : end.column]
        return "".join([lines[0][start.column :], *lines[1:-1], lines[-1][: end.column]])


def _split_yaml_lines(text: str) -> list[str]:
    """The text's lines as YAML counts them, each with its line break kept."""
    lines, begin = [], 0
    for match in _YAML_LINES.finditer(text):
        lines.append(text[begin : match.end()])
        begin = match.end()
    lines.append(text[begin:])
    return lines


def _breaks_in(raw: str, style: str | None, line: int) -> list[int]:
    """For each newline in a flow scalar's value, the file line where the text after it is.

    Newlines come from `\\n`/`\\r` escapes (double quotes) and from folding: n line breaks
    in a row, with only blanks between them, give n - 1 newlines (one alone is a space).
    """
    body = raw[1:-1] if style in ('"', "'") else raw
    found: list[int] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char in _BREAKS:
            i, count = _fold(body, i)
            found.extend(range(line + 2, line + count + 1))
            line += count
        elif char == "\\" and style == '"':
            i, line = _escape(body, i, line, found)
        else:
            i += 1
    return found


def _fold(body: str, i: int) -> tuple[int, int]:
    """Skip a run of line breaks and blanks; return where it ends and how many breaks."""
    count = 0
    while i < len(body) and body[i] in _BREAKS + " \t":
        if body[i] in _BREAKS:
            count += 1
            if body.startswith("\r\n", i):
                i += 1
        i += 1
    return i, count


def _escape(body: str, i: int, line: int, found: list[int]) -> tuple[int, int]:
    """Read the escape at `i`; note a newline it makes. Returns the next index and line."""
    code = body[i + 1 : i + 2]
    if code and code in _BREAKS:  # an escaped line break joins the lines
        return i + 2 + body.startswith("\r\n", i + 1), line + 1
    if code in ("n", "r"):
        found.append(line)
        return i + 2, line
    width = _HEX_ESCAPES.get(code, 0)
    if width:
        digits = body[i + 2 : i + 2 + width]
        if digits.lower() in ("0a", "000a", "0000000a", "0d", "000d", "0000000d"):
            found.append(line)
    return i + 2 + width, line
