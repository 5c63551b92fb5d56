"""Validate a spec's YAML against the format in specs/README.md and build a `Scenario`.

Every key is checked for presence, type and spelling; unknown keys are errors so that a typo
never silently weakens a spec.
"""

from __future__ import annotations

import builtins
import difflib
import math
import re
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from conformance.errors import Location, SpecError
from conformance.spec import language as L
from conformance.spec.compiler import Scope, compile_expression, compile_statements
from conformance.spec.limits import MAX_PATTERN_CHARS, pattern_problem
from conformance.spec.model import (
    Expect,
    MetaCheck,
    NoWarning,
    Pattern,
    Raises,
    Run,
    Scenario,
    Step,
    WarningCheck,
    Warns,
)
from conformance.spec.versions import parse_range
from conformance.spec.yamlnodes import Node

FORMAT_VERSION = 1
_TOP_REQUIRED = ("spec", "id", "title", "tags", "requires", "source", "rationale", "steps")
_TOP_OPTIONAL = ("seed", "torch")
_META_KEYS = (
    "dtype",
    "shape",
    "stride",
    "is_contiguous",
    "requires_grad",
    "is_leaf",
    "grad_fn",
    "retains_grad",
    "is_none",
)
_EXPECT_KEYS = ("expect", "value", "rtol", "atol", *_META_KEYS, "warns", "match")
_RAISES_KEYS = ("raises", "match", "run")
_WARNS_KEYS = ("warns", "match", "run")
NO_WARNING = "none"  # `warns: none`; YAML reads `none` as a string (only null and ~ are null)
_ID = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$")

T = TypeVar("T")


def build_scenario(root: Node) -> Scenario:
    """Turn the YAML of one spec file into a `Scenario`, or raise the first `SpecError`."""
    if isinstance(root.value, dict) and "spec" in root.value:
        # The version first: another format's keys would otherwise read as mistakes.
        version = _get(root.value["spec"], "spec", int)
        if version != FORMAT_VERSION:
            raise SpecError(
                root.value["spec"].where,
                f"spec: expected {FORMAT_VERSION} (the format this harness reads), found {version}",
            )
    fields = _fields(root, "the spec", _TOP_REQUIRED, _TOP_OPTIONAL)
    scenario_id = _get(fields["id"], "id", str)
    if not _ID.match(scenario_id):
        raise SpecError(
            fields["id"].where,
            "id: expected dotted lowercase words (like tutorial.accumulation), "
            f"found {scenario_id!r}",
        )
    requires = [_get(node, "requires", str) for node in _items(fields["requires"], "requires")]
    for name, node in zip(requires, _items(fields["requires"], "requires")):
        if name not in L.CAPABILITIES:
            raise SpecError(
                node.where,
                f"requires: unknown capability {name!r}{_did_you_mean(name, L.CAPABILITIES)}; "
                f"expected one of {', '.join(L.CAPABILITIES)}",
            )
    tags = [_get(node, "tags", str) for node in _items(fields["tags"], "tags")]
    for tag, node in zip(tags, _items(fields["tags"], "tags")):
        if not tag or any(char.isspace() for char in tag):
            raise SpecError(node.where, f"tags: expected single words, found {tag!r}")
    seed = 0
    if "seed" in fields:
        seed = _get(fields["seed"], "seed", int)
        if seed < 0:
            raise SpecError(
                fields["seed"].where, f"seed: expected a non-negative integer, found {seed}"
            )
    torch_versions = None
    if "torch" in fields:  # the torch versions the spec's behaviour holds for
        parse_range(fields["torch"].value, "torch", fields["torch"].where)
        torch_versions = str(fields["torch"].value).strip()
    steps_node = fields["steps"]
    step_nodes = _items(steps_node, "steps")
    if not step_nodes:
        raise SpecError(steps_node.where, "steps: expected at least one step, found an empty list")
    scope = Scope()
    steps = tuple(_step(node, index, scope) for index, node in enumerate(step_nodes))
    return Scenario(
        id=scenario_id,
        title=_get(fields["title"], "title", str),
        tags=tuple(tags),
        requires=frozenset(requires),
        uses=frozenset(scope.uses),
        source=_get(fields["source"], "source", str),
        rationale=_get(fields["rationale"], "rationale", str),
        seed=seed,
        steps=steps,
        where=fields["id"].where,
        torch_versions=torch_versions,
    )


# --- steps -----------------------------------------------------------------------------------


def _step(node: Node, index: int, scope: Scope) -> Step:
    if isinstance(node.value, str):
        return Run(node.where, node.value, _statements(node, f"steps[{index}]", scope))
    if not isinstance(node.value, dict):
        raise SpecError(
            node.where,
            f"steps[{index}]: expected statements (a string) or a mapping with expect, raises "
            f"or warns, found {node.kind()}",
        )
    keys = node.value
    if "expect" in keys:
        return _expect(node, index, scope)
    if "raises" in keys:
        fields = _fields(node, f"steps[{index}] (raises)", ("raises", "run"), ("match",))
        expected = _pattern(fields, "raises", BaseException)
        body = _statements(fields["run"], f"steps[{index}].run", scope)
        return Raises(node.where, _get(fields["run"], "run", str), body, expected)
    if "warns" in keys:
        fields = _fields(node, f"steps[{index}] (warns)", ("warns", "run"), ("match",))
        check = _warning_check(fields)
        body = _statements(fields["run"], f"steps[{index}].run", scope)
        return Warns(node.where, _get(fields["run"], "run", str), body, check)
    hint = ""
    if len(keys) == 1 and not next(iter(keys)).isidentifier():
        hint = " (YAML reads `a: b` as a mapping: quote a statement holding ': ' or use `|`)"
    raise SpecError(
        node.where,
        f"steps[{index}]: expected a mapping with one of expect, raises, warns; "
        f"found the keys {', '.join(keys)}{hint}",
    )


def _statements(node: Node, what: str, scope: Scope) -> tuple[L.Stmt, ...]:
    text = _get(node, what, str)
    if node.style == ">":
        raise SpecError(node.where, f"{what}: use a `|` block for several lines, found `>`")
    return compile_statements(text, node.content_where, scope, node.line_of())


def _expect(node: Node, index: int, scope: Scope) -> Expect:
    what = f"steps[{index}] (expect)"
    fields = _fields(node, what, ("expect",), _EXPECT_KEYS[1:])
    expr_node = fields["expect"]
    source = _get(expr_node, "expect", str)
    expr = compile_expression(source, expr_node.content_where, scope, expr_node.line_of())
    meta = tuple(
        MetaCheck(key, _META_READERS[key](fields[key])) for key in _META_KEYS if key in fields
    )
    scope.uses.update(_META_USES[check.key] for check in meta if check.key in _META_USES)
    is_none = next((check.expected for check in meta if check.key == "is_none"), None)
    if is_none is True and len(fields) > 2 + ("warns" in fields) + ("match" in fields):
        raise SpecError(
            node.where,
            f"{what}: is_none: true leaves nothing else to check; drop the other keys",
        )
    if "match" in fields and "warns" not in fields:
        raise SpecError(fields["match"].where, f"{what}: match needs warns beside it")
    return Expect(
        where=expr_node.where,
        index=index,
        source=source,
        expr=expr,
        pinned="value" in fields,
        value=_value(fields["value"]) if "value" in fields else None,
        meta=meta,
        rtol=_tolerance(fields, "rtol"),
        atol=_tolerance(fields, "atol"),
        warns=_warning_check(fields) if "warns" in fields else None,
    )


def _value(node: Node) -> object:
    """A pinned value as immutable plain data (lists become tuples). Numeric lists must be
    rectangular; lists holding strings or nulls are compared item by item instead."""
    plain = _plain(node)
    if isinstance(plain, tuple) and not _has_text_or_null(plain):
        try:
            array = np.asarray(plain)
        except ValueError:
            array = None
        if array is None or array.dtype == object:
            raise SpecError(
                node.where, "value: expected a number, a boolean or a rectangular nested list"
            )
    return plain


def _plain(node: Node) -> object:
    value = node.value
    if isinstance(value, list):
        return tuple(_plain(item) for item in value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise SpecError(
        node.where,
        f"value: expected numbers, booleans, strings or nested lists, found {node.kind()}",
    )


def _has_text_or_null(value: object) -> bool:
    if isinstance(value, tuple):
        return any(_has_text_or_null(item) for item in value)
    return value is None or isinstance(value, str)


def _tolerance(fields: dict[str, Node], key: str) -> float | None:
    if key not in fields:
        return None
    node = fields[key]
    value = node.value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value):
        raise SpecError(
            node.where, f"{key}: expected a finite non-negative number, found {node.kind()}"
        )
    if value < 0:
        raise SpecError(node.where, f"{key}: expected a non-negative number, found {node.kind()}")
    return float(value)


def _finite(value: int | float) -> bool:
    """Whether a tolerance means something: `.inf`, `.nan` and `1e400` (read as inf) would let
    any value pass, and an integer past a float's range has no float to become."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _warning_check(fields: dict[str, Node]) -> WarningCheck:
    """`warns: CATEGORY` (with an optional `match`), or `warns: none` for no warning at all."""
    node = fields["warns"]
    if node.value is None:
        raise SpecError(
            node.where,
            "warns: expected a warning category, or none to check that nothing warns; found null",
        )
    if node.value != NO_WARNING:
        return _pattern(fields, "warns", Warning)
    if "match" in fields:
        raise SpecError(fields["match"].where, "match: warns: none has no message to match")
    return NoWarning()


def _pattern(fields: dict[str, Node], key: str, base: type[BaseException]) -> Pattern:
    node = fields[key]
    name = _get(node, key, str)
    known = getattr(builtins, name, None)
    if not (isinstance(known, type) and issubclass(known, base)):
        choices = [
            n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, base)
        ]
        if base is Warning:
            kind = f"a warning category (like UserWarning) or {NO_WARNING}"
            choices.append(NO_WARNING)
        else:
            kind = "an exception type (like RuntimeError)"
        raise SpecError(
            node.where, f"{key}: expected {kind}, found {name!r}{_did_you_mean(name, choices)}"
        )
    match = _regex(fields["match"]) if "match" in fields else None
    return Pattern(name, match)


def _regex(node: Node) -> re.Pattern[str]:
    """A `match:` regex, compiled now so a bad one is a load error, and refused when it could
    backtrack for ever on a backend's message."""
    text = _get(node, "match", str)
    if len(text) > MAX_PATTERN_CHARS:  # before compiling it, which takes time
        raise SpecError(node.where, f"match: {pattern_problem(text)}")
    shown = text if len(text) <= 60 else text[:57] + "..."
    try:
        compiled = re.compile(text)
    except (re.error, OverflowError, RecursionError) as exc:
        raise SpecError(
            node.where, f"match: expected a regular expression, found {shown!r} ({exc})"
        ) from None
    problem = pattern_problem(text)
    if problem is not None:
        raise SpecError(node.where, f"match: {problem}")
    return compiled


# --- metadata keys ----------------------------------------------------------------------------

_META_USES = {
    "requires_grad": "requires_grad",
    "grad_fn": "grad_fn",
    "is_leaf": "grad_fn",
    "stride": "strides",
    "is_contiguous": "strides",
}


def _dtype(node: Node) -> str:
    name = _get(node, "dtype", str)
    if name not in L.DTYPES:
        raise SpecError(node.where, f"dtype: expected one of {', '.join(L.DTYPES)}, found {name!r}")
    return L.DTYPES[name]


def _shape(node: Node) -> tuple[int, ...]:
    dims = [_get(item, "shape", int) for item in _items(node, "shape")]
    if any(dim < 0 for dim in dims):
        raise SpecError(node.where, f"shape: expected non-negative sizes, found {dims}")
    return tuple(dims)


def _stride(node: Node) -> tuple[int, ...]:
    steps = [_get(item, "stride", int) for item in _items(node, "stride")]
    if any(step < 0 for step in steps):
        raise SpecError(node.where, f"stride: expected non-negative steps, found {steps}")
    return tuple(steps)


def _grad_fn(node: Node) -> str | None:
    if node.value is None:
        return None
    return _get(node, "grad_fn", str)


def _flag(key: str) -> Callable[[Node], bool]:
    return lambda node: _get(node, key, bool)


_META_READERS: dict[str, Callable[[Node], object]] = {
    "dtype": _dtype,
    "shape": _shape,
    "stride": _stride,
    "is_contiguous": _flag("is_contiguous"),
    "grad_fn": _grad_fn,
    "requires_grad": _flag("requires_grad"),
    "is_leaf": _flag("is_leaf"),
    "retains_grad": _flag("retains_grad"),
    "is_none": _flag("is_none"),
}


# --- field helpers ----------------------------------------------------------------------------

_TYPE_NAMES = {str: "a string", int: "an integer", bool: "true or false", list: "a list"}


def _fields(
    node: Node, what: str, required: tuple[str, ...], optional: tuple[str, ...]
) -> dict[str, Node]:
    if not isinstance(node.value, dict):
        raise SpecError(node.where, f"{what}: expected a mapping, found {node.kind()}")
    fields: dict[str, Node] = node.value
    allowed = (*required, *optional)
    for key, value in fields.items():
        if key not in allowed:
            raise SpecError(
                value.where,
                f"{what}: unknown key {key!r}{_did_you_mean(key, allowed)}; "
                f"expected keys are {', '.join(allowed)}",
            )
    missing = [key for key in required if key not in fields]
    if missing:
        raise SpecError(
            node.where,
            f"{what}: missing required key{'s' * (len(missing) > 1)} {', '.join(missing)}",
        )
    return fields


def _get(node: Node, key: str, kind: type[T]) -> T:
    value = node.value
    # bool is an int in Python; a spec's `true` is never an integer.
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    hint = ""
    if kind is str and isinstance(value, bool):
        hint = " (YAML reads on/off/yes/no/true/false as booleans: quote the word)"
    raise SpecError(node.where, f"{key}: expected {_TYPE_NAMES[kind]}, found {node.kind()}{hint}")


def _items(node: Node, key: str) -> list[Node]:
    return _get(node, key, list)


def _did_you_mean(name: str, choices: object) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)  # type: ignore[call-overload]
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_unique(scenarios: list[Scenario]) -> None:
    """Reject two files that claim the same id."""
    seen: dict[str, Location] = {}
    for scenario in scenarios:
        if scenario.id in seen:
            raise SpecError(
                scenario.where,
                f"duplicate id {scenario.id!r}; first defined at {seen[scenario.id]}",
            )
        seen[scenario.id] = scenario.where
