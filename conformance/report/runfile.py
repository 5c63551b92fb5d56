"""A saved run, read back: typed records over the JSON that `conformance run` writes.

Reports, the gate and `merge` work from these records, so everything they show can be rebuilt
from the file alone, on another machine, long after the run.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.errors import UsageError
from conformance.report.build import FORMAT
from conformance.run.results import Status


@dataclass(frozen=True, slots=True)
class Ratio:
    """A backend's median time over the timing baseline's, from the same rounds."""

    to: str
    value: float
    low: float
    high: float
    confidence: float


@dataclass(frozen=True, slots=True)
class TimingRecord:
    median: float
    q1: float
    q3: float
    samples: tuple[float, ...]
    warmup: int
    ratio: Ratio | None
    period: int = 1  # rounds per full rotation of the backends' order

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1


@dataclass(frozen=True, slots=True)
class ResultRecord:
    scenario: str
    title: str
    file: str
    tags: tuple[str, ...]
    backend: str
    status: Status
    ok: bool
    reason: str
    diffs: tuple[Mapping[str, str], ...]
    error: Mapping[str, str] | None
    timing: TimingRecord | None
    expected: Mapping[str, Any] | None
    repro_command: str | None
    repro_snippet: str | None
    notes: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def key(self) -> tuple[str, str]:
        return (self.scenario, self.backend)

    def headline(self) -> str:
        """The first thing to read about a failure: its first diff, or its error."""
        if self.status is Status.XPASS and self.expected is not None:
            return (
                f"passes, but {self.expected['source']} expects a failure "
                f"({self.expected['reason']})"
            )
        if self.diffs:
            first = self.diffs[0]
            more = f" (+{len(self.diffs) - 1} more)" if len(self.diffs) > 1 else ""
            return f"{first['step']}: {first['path']}: {first['problem']}{more}"
        if self.error is not None:
            return f"{self.error['step']}: {self.error['type']}: {self.error['message']}"
        return self.reason

    def details(self) -> str:
        """Every diff, or the error with its trace, as the CLI prints them."""
        lines = [diff["message"] for diff in self.diffs]
        if self.error is not None:
            error = self.error
            lines.append(f"{error['step']}: {error['type']}: {error['message']}")
            lines.extend(f"  {line}" for line in error["traceback"].splitlines())
        if self.expected is not None:
            lines.append(f"expected to fail ({self.expected['source']}): {self.expected['reason']}")
        lines.extend(f"note: {note}" for note in self.notes)
        lines.extend(f"warning seen: {warning}" for warning in self.warnings)
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class BackendRecord:
    name: str
    available: bool
    reason: str
    capabilities: tuple[str, ...]
    info: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class RunRecord:
    data: Mapping[str, Any]  # the JSON as read, for fields no record needs
    backends: tuple[BackendRecord, ...]
    results: tuple[ResultRecord, ...]

    @property
    def created(self) -> str:
        return str(self.data["created"])

    @property
    def incomplete(self) -> str | None:
        """Why the run stopped before its end (an interrupt), or None for a whole run."""
        reason = self.data.get("incomplete")
        return str(reason) if reason is not None else None

    @property
    def environment(self) -> Mapping[str, Any]:
        return self.data["environment"]

    @property
    def summary(self) -> Mapping[str, int]:
        return self.data["summary"]

    @property
    def timing_baseline(self) -> str | None:
        return self.data.get("timing", {}).get("baseline")

    @property
    def spec_hash(self) -> str | None:
        specs = self.data.get("specs") or {}
        return specs.get("hash")

    @property
    def spec_set_name(self) -> str:
        """The spec set as the reports name it: `0.1.0 (installed)`, `0.1.0 (installed) +
        my_specs/`, or the paths given; empty for a run file that does not record it."""
        specs = self.data.get("specs") or {}
        parts = [
            f"{source.get('version') or '?'} (installed)"
            if source.get("origin") == "installed"
            else str(source.get("location"))
            for source in specs.get("sources") or ()
        ]
        return " + ".join(parts)

    @property
    def stale(self) -> tuple[str, ...]:
        return tuple((self.data.get("expectations") or {}).get("stale", ()))

    def backend_names(self) -> list[str]:
        return [backend.name for backend in self.backends]

    def scenario_ids(self) -> list[str]:
        return list(dict.fromkeys(result.scenario for result in self.results))

    def by_key(self) -> dict[tuple[str, str], ResultRecord]:
        return {result.key: result for result in self.results}

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.results)


MAX_DEPTH = 32  # a valid run nests 6 deep; anything far deeper is damage or an attack
MAX_PROBLEM = 60  # characters of a bad value quoted in an error


def load_run(path: str | Path) -> RunRecord:
    """Read a run JSON and check it against the run schema before anything uses it.

    Every way a file can be wrong (missing, a folder, empty, not UTF-8, not JSON, nested too
    deep, the wrong shape) is a one-line `UsageError` naming the file, so the gate, `report`
    and `merge` exit 2 with that line instead of a traceback.
    """
    where = _one_line(str(path))
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{where}: no such run file") from None
    except IsADirectoryError:
        raise UsageError(f"{where}: a folder, not a run file") from None
    except OSError as exc:
        raise UsageError(
            f"{where}: cannot read it ({exc.strerror or type(exc).__name__})"
        ) from None
    if not raw.strip():
        raise UsageError(f"{where}: empty, not a readable run JSON (was the run killed?)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{where}: not a readable run JSON (not UTF-8 text: byte {exc.start})"
        ) from None
    try:
        data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{where}: not a readable run JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except RecursionError:
        raise UsageError(f"{where}: not a readable run JSON (nested too deep)") from None
    except ValueError as exc:  # an integer over Python's digit limit, or a non-finite number
        raise UsageError(f"{where}: not a readable run JSON ({_one_line(str(exc))})") from None
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        return run_from_dict(data, where)  # its message names the format found
    problem = check_run(data)
    if problem is not None:
        raise UsageError(f"{where}: malformed run file: {problem}")
    return run_from_dict(data, where)


def check_run(data: Any) -> str | None:
    """What is wrong with a parsed run file, in one line, or None when it is sound.

    It checks the run schema (a subset of JSON Schema, interpreted here so the harness does
    not need `jsonschema` at run time), then what readers assume beyond it: bounded nesting,
    printable strings, integers that are ints, one result per scenario and backend, and
    results only of the backends listed.
    """
    try:
        _checker()(data, None)
        _consistent(data)
    except _Invalid as exc:
        return _one_line(str(exc))
    return None


class _Invalid(Exception):
    """One problem found in a run file, with where in it."""

    def __init__(self, at: Any, problem: str) -> None:
        super().__init__(f"{_place(at)}: {problem}")


# Where a value sits, as nested pairs (parent, key or index): cheap to make for every value,
# and spelled out (`results[3].status`) only for the one a problem is found in.
At = tuple[Any, str | int] | None
Check = Callable[[Any, At], None]


def _place(at: At) -> str:
    parts: list[str] = []
    while at is not None:
        at, key = at
        parts.append(f"[{key}]" if isinstance(key, int) else f".{key}")
    text = "".join(reversed(parts)).removeprefix(".")
    return text or "the top level"


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:MAX_PROBLEM]} is out of range")
    return value


def _free(value: Any, at: At, depth: int = 0) -> None:
    """A value the schema leaves open: only bounded in depth and printable, checked without
    recursion, so a hostile file cannot exhaust the stack of whatever reads it next."""
    stack: list[tuple[Any, int]] = [(value, depth)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            if level >= MAX_DEPTH:
                raise _Invalid(at, f"nested deeper than {MAX_DEPTH} levels")
            if isinstance(item, dict):
                for key in item:
                    _printable(key, at)
                stack.extend((member, level + 1) for member in item.values())
            else:
                stack.extend((member, level + 1) for member in item)
        elif isinstance(item, str):
            _printable(item, at)


def _printable(text: str, at: At) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise _Invalid(at, f"the string {_show(text)} holds a lone surrogate") from None


@functools.cache
def _checker() -> Check:
    from conformance.formats.schema import run_schema  # the package imports this module

    schema = run_schema()
    unknown = _keywords(schema) - _KEYWORDS
    if unknown:  # a keyword this checker would silently ignore: teach it first
        raise AssertionError(f"run.schema.json uses unsupported keywords {sorted(unknown)}")
    return _compile(schema, schema["$defs"], {})


_KEYWORDS = {
    "$schema", "$id", "$defs", "$ref", "title", "description", "type", "const", "enum",
    "required", "properties", "additionalProperties", "items", "minItems", "pattern",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
}  # fmt: skip


def _keywords(schema: Mapping[str, Any]) -> set[str]:
    found = set(schema)
    for name in ("properties", "$defs"):
        for sub in schema.get(name, {}).values():
            found |= _keywords(sub)
    for name in ("items", "additionalProperties"):
        if isinstance(schema.get(name), Mapping):
            found |= _keywords(schema[name])
    return found


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    # Stricter than JSON Schema, where 2.0 is an integer: readers count with these.
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def _compile(schema: Mapping[str, Any], defs: Mapping[str, Any], done: dict[str, Check]) -> Check:
    """One function checking a value against `schema`, made once: interpreting the schema
    afresh for each of a run's thousands of values would cost more than reading the file."""
    steps: list[Check] = []
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        if name not in done:
            done[name] = _compile(defs[name], defs, done)
        steps.append(done[name])
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        tests = [_TYPES[kind] for kind in kinds]
        expected = " or ".join(kinds)

        def typed(value: Any, at: At) -> None:
            for test in tests:
                if test(value):
                    return
            raise _Invalid(at, f"expected {expected}, found {_show(value)}")

        steps.append(typed)
    if "const" in schema:
        const = schema["const"]

        def constant(value: Any, at: At) -> None:
            if not (type(value) is type(const) and value == const):
                raise _Invalid(at, f"expected {const!r}, found {_show(value)}")

        steps.append(constant)
    if "enum" in schema:
        choices = frozenset(schema["enum"])
        listed = ", ".join(schema["enum"])

        def one_of(value: Any, at: At) -> None:
            if not (isinstance(value, str) and value in choices):
                raise _Invalid(at, f"{_show(value)} is not one of {listed}")

        steps.append(one_of)
    bounds = [(k, schema[k]) for k in _BOUNDS if k in schema]
    if bounds:

        def bounded(value: Any, at: At) -> None:
            if _is_number(value):
                for keyword, limit in bounds:
                    if not _BOUNDS[keyword](value, limit):
                        raise _Invalid(at, f"{_show(value)} is not {keyword} {limit}")

        steps.append(bounded)
    if "pattern" in schema:
        pattern = re.compile(schema["pattern"])

        def formed(value: Any, at: At) -> None:
            if isinstance(value, str) and not pattern.search(value):
                raise _Invalid(at, f"{_show(value)} is not of the expected form")

        steps.append(formed)
    steps += _containers(schema, defs, done)
    if not steps:
        return lambda value, at: _free(value, at)
    if len(steps) == 1:
        return steps[0]

    def check(value: Any, at: At) -> None:
        for step in steps:
            step(value, at)

    return check


_BOUNDS: dict[str, Callable[[float, float], bool]] = {
    "minimum": lambda value, limit: value >= limit,
    "maximum": lambda value, limit: value <= limit,
    "exclusiveMinimum": lambda value, limit: value > limit,
    "exclusiveMaximum": lambda value, limit: value < limit,
}


def _containers(
    schema: Mapping[str, Any], defs: Mapping[str, Any], done: dict[str, Check]
) -> list[Check]:
    """The checks of an array's items and an object's members; strings are checked to be
    printable, and what the schema leaves open is checked by `_free`."""
    kinds = schema.get("type", [])
    kinds = kinds if isinstance(kinds, list) else [kinds]
    steps: list[Check] = []
    if "string" in kinds:

        def printable(value: Any, at: At) -> None:
            if isinstance(value, str):
                _printable(value, at)

        steps.append(printable)
    if "array" in kinds:
        least = schema.get("minItems", 0)
        item = _compile(schema["items"], defs, done) if "items" in schema else _free_member
        sound = _scalar(schema.get("items", {}))

        def items(value: Any, at: At) -> None:
            if isinstance(value, list):
                if len(value) < least:
                    raise _Invalid(at, f"needs at least {least} items")
                if sound is not None and all(map(sound, value)):
                    return  # the common case, a list of samples, at a tenth of the cost
                for index, member in enumerate(value):
                    item(member, (at, index))

        steps.append(items)
    if "object" in kinds:
        required = list(schema.get("required", ()))
        known = {n: _compile(s, defs, done) for n, s in schema.get("properties", {}).items()}
        extra = schema.get("additionalProperties", True)
        other = _compile(extra, defs, done) if isinstance(extra, Mapping) else _free_member

        def members(value: Any, at: At) -> None:
            if not isinstance(value, dict):
                return
            for name in required:
                if name not in value:
                    raise _Invalid(at, f"{name!r} is missing")
            for name, member in value.items():
                _printable(name, at)
                check = known.get(name)
                if check is not None:
                    check(member, (at, name))
                elif extra is False:
                    raise _Invalid(at, f"unexpected key {_show(name)}")
                else:
                    other(member, (at, name))

        steps.append(members)
    return steps


def _scalar(schema: Mapping[str, Any]) -> Callable[[Any], bool] | None:
    """A quick test of a schema of plain numbers or strings, for lists of them; None for any
    other schema. It only says yes when the full check would (its no is checked again)."""
    if set(schema) - {"type", "minimum", "description"}:
        return None
    kind = schema.get("type")
    least = schema.get("minimum", -math.inf)
    if kind == "number":
        return lambda v: (type(v) is float or type(v) is int) and v >= least
    if kind == "string" and "minimum" not in schema:
        return lambda v: type(v) is str and v.isascii()
    return None


def _free_member(value: Any, at: At) -> None:
    _free(value, at, _depth(at))


def _depth(at: At) -> int:
    depth = 0
    while at is not None:
        at, depth = at[0], depth + 1
    return depth


def _consistent(data: Mapping[str, Any]) -> None:
    """What the schema cannot say and readers rely on: `merge` sorts results by backend, the
    gate keys them by scenario and backend, `merge` counts shards up to the shard count."""
    names = [backend["name"] for backend in data["backends"]]
    if len(set(names)) != len(names):
        raise _Invalid((None, "backends"), "a backend is listed twice")
    seen: set[tuple[str, str]] = set()
    for index, entry in enumerate(data["results"]):
        key = (entry["scenario"], entry["backend"])
        if entry["backend"] not in names:
            raise _Invalid(
                ((None, "results"), index), f"backend {_show(key[1])} is not among the backends"
            )
        if key in seen:
            raise _Invalid(((None, "results"), index), f"{_show(key[0])} [{key[1]}] appears twice")
        seen.add(key)
    shard = data["shard"]
    if shard is not None and shard["index"] > shard["count"]:
        raise _Invalid((None, "shard"), f"{shard['index']} of {shard['count']} is past the count")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_PROBLEM else text[: MAX_PROBLEM - 1] + "…"


def _one_line(text: str) -> str:
    """Error messages go to stderr as one line, whatever a file name or value holds."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def run_from_dict(data: Mapping[str, Any], where: str = "the run") -> RunRecord:
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        found = _show(data.get("format")) if isinstance(data, Mapping) else type(data).__name__
        raise UsageError(
            f"{where}: expected a run file of format {FORMAT}, found {found}; "
            f"rerun `conformance run` to write one"
        )
    try:
        backends = tuple(_backend(entry) for entry in data["backends"])
        results = tuple(_result(entry) for entry in data["results"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"{where}: malformed run file ({type(exc).__name__}: {exc})") from None
    return RunRecord(data, backends, results)


def _backend(entry: Mapping[str, Any]) -> BackendRecord:
    return BackendRecord(
        entry["name"],
        bool(entry["available"]),
        entry.get("reason", ""),
        tuple(entry.get("capabilities", ())),
        dict(entry.get("info", {})),
    )


def _result(entry: Mapping[str, Any]) -> ResultRecord:
    status = Status(entry["status"])
    timing = entry.get("timing")
    repro = entry.get("repro") or {}
    return ResultRecord(
        scenario=entry["scenario"],
        title=entry.get("title", ""),
        file=entry.get("file", ""),
        tags=tuple(entry.get("tags", ())),
        backend=entry["backend"],
        status=status,
        ok=bool(entry.get("ok", status.ok)),
        reason=entry.get("reason", ""),
        diffs=tuple(entry.get("diffs", ())),
        error=entry.get("error"),
        timing=_timing(timing) if timing else None,
        expected=entry.get("expected"),
        repro_command=repro.get("command"),
        repro_snippet=repro.get("snippet"),
        notes=tuple(entry.get("notes", ())),
        warnings=tuple(entry.get("warnings", ())),
    )


def _timing(entry: Mapping[str, Any]) -> TimingRecord:
    ratio = entry.get("ratio")
    return TimingRecord(
        median=float(entry["median_s"]),
        q1=float(entry["q1_s"]),
        q3=float(entry["q3_s"]),
        samples=tuple(float(value) for value in entry["samples_s"]),
        warmup=int(entry["warmup"]),
        ratio=Ratio(**ratio) if ratio else None,
        period=int(entry.get("period", 1)),
    )
