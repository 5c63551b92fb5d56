"""Known failures: per-backend manifests that turn an expected failure into `xfail`.

A manifest lives at `<dir>/<backend>.yaml` (characters other than letters, digits, `.`, `_`
and `-` in the backend name become `_`) and lists scenario ids with a reason:

    xfail:
      - id: semantics.broadcasting.shape_error
        reason: raises numpy's ValueError where torch raises RuntimeError
        strict: true        # optional; an xpass fails the run and the gate unless false

A listed scenario that fails is `xfail`; one that passes is `xpass`, which fails the run until
the entry is removed, so fixed bugs cannot hide behind old entries. Ids that match no scenario
are reported as stale.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from conformance.errors import Location, SpecError
from conformance.results import Expected, ScenarioResult, Status
from conformance.spec.yamlnodes import Node, read_yaml

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_ENTRY_KEYS = {"id", "reason", "strict"}


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    expected: Expected
    where: Location


@dataclass(frozen=True, slots=True)
class Expectations:
    """The manifests of the backends in a run, by backend name."""

    entries: dict[str, dict[str, Entry]]

    def apply(self, result: ScenarioResult) -> ScenarioResult:
        """The result with its manifest entry applied: fail/error -> xfail, pass -> xpass."""
        entry = self.entries.get(result.backend, {}).get(result.scenario.id)
        if entry is None:
            return result
        if result.status in (Status.FAIL, Status.ERROR):
            return replace(result, status=Status.XFAIL, expected=entry.expected)
        if result.status is Status.PASS:
            return replace(result, status=Status.XPASS, expected=entry.expected)
        return result

    def stale(self, scenario_ids: Iterable[str]) -> list[str]:
        """A warning for each entry whose id matches no scenario."""
        known = set(scenario_ids)
        return [
            f"{entry.where}: {entry.id} matches no scenario; remove the stale entry"
            for by_id in self.entries.values()
            for entry in by_id.values()
            if entry.id not in known
        ]

    def sources(self) -> list[str]:
        return sorted({e.where.path for by_id in self.entries.values() for e in by_id.values()})


def manifest_path(directory: Path, backend: str) -> Path:
    return directory / f"{_UNSAFE.sub('_', backend)}.yaml"


def load_expectations(directory: Path | None, backends: Sequence[str]) -> Expectations:
    """Read the manifests of `backends` under `directory`; a missing file means no entries.
    Malformed manifests are `SpecError`s naming the file and line."""
    entries: dict[str, dict[str, Entry]] = {}
    if directory is None:
        return Expectations(entries)
    for backend in backends:
        path = manifest_path(directory, backend)
        if path.is_file():
            entries[backend] = _read(path)
    return Expectations(entries)


def _read(path: Path) -> dict[str, Entry]:
    root = read_yaml(path.read_text(encoding="utf-8"), str(path))
    if not isinstance(root.value, dict) or set(root.value) - {"xfail"}:
        raise SpecError(root.where, "expected a mapping with one key, xfail: [entries]")
    listed = root.value.get("xfail", Node([], root.where))
    if not isinstance(listed.value, list):
        raise SpecError(listed.where, f"xfail: expected a list, found {listed.kind()}")
    entries: dict[str, Entry] = {}
    for node in listed.value:
        entry = _entry(node)
        if entry.id in entries:
            first = entries[entry.id].where.line
            raise SpecError(node.where, f"{entry.id} is listed twice (first on line {first})")
        entries[entry.id] = entry
    return entries


def _entry(node: Node) -> Entry:
    fields = node.value
    if not isinstance(fields, dict):
        raise SpecError(node.where, f"expected an entry with id and reason, found {node.kind()}")
    unknown = sorted(set(fields) - _ENTRY_KEYS)
    if unknown:
        raise SpecError(node.where, f"unknown key {unknown[0]!r}; expected id, reason, strict")
    values = {}
    for key, kind in (("id", str), ("reason", str), ("strict", bool)):
        item = fields.get(key)
        if item is None:
            if key == "strict":
                continue
            raise SpecError(node.where, f"an entry needs {key}")
        if not isinstance(item.value, kind) or (kind is str and not str(item.value).strip()):
            raise SpecError(item.where, f"{key}: expected a {kind.__name__}, found {item.kind()}")
        values[key] = item.value
    expected = Expected(
        str(values["reason"]).strip(), str(node.where), bool(values.get("strict", True))
    )
    return Entry(str(values["id"]), expected, node.where)
