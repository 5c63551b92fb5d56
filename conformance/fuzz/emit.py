"""Write spec YAML by hand, in the layout of the hand-written specs: one step per item, plain
scalars where YAML reads them back unchanged, `|` blocks for several lines, flow lists for
values. Every document written here is read back by the spec loader before it is used."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence

import numpy as np
import yaml

Field = tuple[str, str]  # a key and its already-rendered YAML value


def text(value: str) -> str:
    """A one-line string: plain when YAML reads it back unchanged, else double-quoted."""
    if value and value == value.strip() and "\n" not in value:
        try:
            if yaml.safe_load(value) == value and not value.startswith(("'", '"')):
                return value
        except yaml.YAMLError:
            pass
    return json.dumps(value)


def flag(value: bool) -> str:
    return "true" if value else "false"


def number(value: float | int | bool | np.generic, dtype: str = "float64") -> str:
    """A number as YAML: floats in their shortest round-trip form for `dtype`."""
    if isinstance(value, (bool, np.bool_)):
        return flag(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    value = float(value)
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    shown = str(np.float32(value)) if dtype == "float32" else repr(value)
    return shown if any(c in shown for c in ".en") else shown + ".0"


def nested(value: object, dtype: str) -> str:
    """Nested lists (from `ndarray.tolist()`) as a YAML flow list."""
    if isinstance(value, list):
        return "[" + ", ".join(nested(item, dtype) for item in value) + "]"
    if not isinstance(value, (bool, int, float, np.generic)):
        raise TypeError(f"expected numbers in nested lists, found {type(value).__name__}")
    return number(value, dtype)


def sizes(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(int(size)) for size in shape) + "]"


def statement_step(source: str) -> str:
    """A string step: plain or quoted on one line, a `|` block for several."""
    if "\n" not in source.strip():
        return f"  - {text(source.strip())}"
    body = "\n".join(f"    {line}" if line else "" for line in source.rstrip().splitlines())
    return f"  - |\n{body}"


def run_value(source: str) -> str:
    """The `run:` of a raises step: one line as a scalar, several as a `|` block."""
    source = source.rstrip()
    if "\n" not in source:
        return text(source)
    return "|\n" + "\n".join(f"      {line}" if line else "" for line in source.splitlines())


def mapping_step(fields: Iterable[Field]) -> str:
    lines = [f"{key}: {value}" for key, value in fields]
    return "\n".join([f"  - {lines[0]}", *(f"    {line}" for line in lines[1:])])


def document(header: Sequence[Field], steps: Iterable[str]) -> str:
    """A whole spec: header fields in order, then `steps:`."""
    lines = [f"{key}: {value}" for key, value in header]
    return "\n".join([*lines, "steps:", *steps]) + "\n"
