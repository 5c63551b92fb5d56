"""Read YAML safely into values that remember their line, so every error can name it."""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from conformance.errors import Location, SpecError

_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[valid-type,misc]
    """SafeLoader that also reads `1e-5` as a float, as YAML 1.2 and every spec author do."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


@dataclass(frozen=True, slots=True)
class Node:
    """A YAML value and where it starts. Mappings hold `dict[str, Node]`, lists `list[Node]`."""

    value: object
    where: Location
    style: str | None = None

    @property
    def content_where(self) -> Location:
        """Where a string's text starts: the line after the `|` of a block scalar."""
        if self.style in ("|", ">"):
            return Location(self.where.path, self.where.line + 1)
        return self.where

    def kind(self) -> str:
        """The value's kind as a reader says it: 'a string', 'a list', ..."""
        return describe(self.value)


def describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({value})"
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


def read_yaml(text: str, path: str) -> Node:
    """Parse one YAML document; malformed YAML, unsafe tags and duplicate keys are SpecErrors."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise SpecError(Location(path, 1), "expected a YAML mapping, found an empty file")
        return _convert(root, loader, path)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        context = exc.context or ""
        if context and exc.context_mark is not None and exc.context_mark.line + 1 != line:
            context += f" (from line {exc.context_mark.line + 1})"
        problem = ", ".join(part for part in (context, exc.problem) if part)
        raise SpecError(Location(path, line), f"malformed YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise SpecError(Location(path, 1), f"malformed YAML: {exc}") from None
    finally:
        loader.dispose()


_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


def _convert(node: yaml.Node, loader: yaml.SafeLoader, path: str) -> Node:
    where = Location(path, node.start_mark.line + 1)
    if not isinstance(node, yaml.ScalarNode) and node.tag not in _PLAIN_TAGS:
        raise SpecError(where, f"expected plain YAML data, found the tag {node.tag}")
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves `<<` merge keys the way PyYAML would
        items: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node)
            key_where = Location(path, key_node.start_mark.line + 1)
            if not isinstance(key, str):
                raise SpecError(key_where, f"expected a string key, found {describe(key)}")
            if key in items:
                first = items[key].where.line
                raise SpecError(key_where, f"duplicate key {key!r} (first given on line {first})")
            items[key] = _convert(value_node, loader, path)
        return Node(items, where)
    if isinstance(node, yaml.SequenceNode):
        return Node([_convert(item, loader, path) for item in node.value], where)
    assert isinstance(node, yaml.ScalarNode)
    return Node(loader.construct_object(node), where, node.style)
