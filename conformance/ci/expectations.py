"""Known failures: per-backend manifests that turn an expected failure into `xfail`.

A manifest lives at `<dir>/<backend>.yaml` (characters other than letters, digits, `.`, `_`
and `-` in the backend name become `_`) and lists scenario ids with a reason:

    xfail:
      - id: semantics.broadcasting.shape_error
        reason: raises numpy's ValueError where torch raises RuntimeError
        strict: true        # optional; an xpass fails the run and the gate unless false
        versions: "<2.6"    # optional; the engine versions the failure holds for
        snippet: |          # optional; the engine's own code that shows it, with results
          import mygrad as mg
          mg.ones((2, 3)) + mg.ones((3,))  # -> raises ValueError: operands could not ...

A listed scenario that fails is `xfail`; one that passes is `xpass`, which fails the run until
the entry is removed, so fixed bugs cannot hide behind old entries. Ids that match no scenario
are reported as stale.

`versions` is a PEP 440 specifier set (`<2.6`, `>=2.4,<3`, `==2.5.*`; a pre-release or
nightly counts as its release) for the engine's own version, the `version` key of its
backend's `info()`. When the version at hand lies outside it the entry is not used, and the
run says so beside the stale entries ("... applies to mygrad<2.6; this is mygrad 2.7, so the
entry is not used"), so a manifest can keep an old release's failures while the matrix is
regenerated on a new one. A backend that reports no version uses every entry, with a warning
for each entry that has a range. An id is listed once per manifest, whatever its range.

`snippet` is the evidence for the reason: the run does not execute it, and the peers matrix
(`conformance.formats.peers`) shows it under the divergence it explains.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from packaging.specifiers import SpecifierSet

from conformance.backends.base import Availability
from conformance.errors import Location, SpecError
from conformance.run.results import Expected, ScenarioResult, Status
from conformance.spec.versions import holds, parse_range
from conformance.spec.yamlnodes import Node, read_yaml

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_ENTRY_KEYS = ("id", "reason", "strict", "versions", "snippet")


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    expected: Expected
    where: Location
    versions: str | None = None  # the checked `versions:` text; None: every version
    snippet: str | None = None  # the engine program that confirms the reason


@dataclass(frozen=True, slots=True)
class Expectations:
    """The manifests of the backends in a run, by backend name. `unused` holds the entries
    left out because their `versions` exclude the engine at hand, each with the reason."""

    entries: dict[str, dict[str, Entry]]
    unused: tuple[tuple[Entry, str], ...] = field(default=())

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
        """A warning for each entry not in use: its id matches no scenario, or its
        `versions` exclude the engine at hand (or cannot be checked against it)."""
        known = set(scenario_ids)
        every = [entry for by_id in self.entries.values() for entry in by_id.values()]
        every.extend(entry for entry, _ in self.unused)
        return [
            *(
                f"{entry.where}: {entry.id} matches no scenario; remove the stale entry"
                for entry in every
                if entry.id not in known
            ),
            *(reason for _, reason in self.unused),
        ]

    def sources(self) -> list[str]:
        every = [e for by_id in self.entries.values() for e in by_id.values()]
        every.extend(entry for entry, _ in self.unused)
        return sorted({entry.where.path for entry in every})


def manifest_path(directory: Path, backend: str) -> Path:
    return directory / f"{_UNSAFE.sub('_', backend)}.yaml"


class _Engine(Protocol):
    """What `engine_versions` asks of a backend, or of a worker standing for one."""

    name: str

    def availability(self) -> Availability: ...

    def info(self) -> dict[str, str]: ...


def engine_versions(backends: Iterable[_Engine]) -> dict[str, str | None]:
    """Each available backend's engine version from `info()["version"]` (None when it
    reports none), for `load_expectations`. An unavailable one is left out: it runs nothing,
    so its entries are never applied."""
    versions: dict[str, str | None] = {}
    for backend in backends:
        try:
            if backend.availability().available:
                version = backend.info().get("version")
                versions[backend.name] = str(version) if version else None
        except Exception:  # a plug-in's bug here shows up when the run reaches it
            continue
    return versions


def load_expectations(
    directory: Path | None,
    backends: Sequence[str],
    versions: Mapping[str, str | None] | None = None,
) -> Expectations:
    """Read the manifests of `backends` under `directory`; a missing file means no entries.
    Malformed manifests are `SpecError`s naming the file and line. `versions` (from
    `engine_versions`) leaves out the entries whose range excludes a backend's version; a
    backend absent from it uses every entry."""
    entries: dict[str, dict[str, Entry]] = {}
    unused: list[tuple[Entry, str]] = []
    if directory is None:
        return Expectations(entries)
    for backend in backends:
        path = manifest_path(directory, backend)
        if not path.is_file():
            continue
        entries[backend] = {}
        for entry in _read(path).values():
            if versions is None or backend not in versions or entry.versions is None:
                entries[backend][entry.id] = entry
                continue
            applies, reason = _applies(entry, backend, versions[backend])
            if applies:
                entries[backend][entry.id] = entry
            if reason:
                unused.append((entry, reason))
    return Expectations(entries, tuple(unused))


def _applies(entry: Entry, backend: str, version: str | None) -> tuple[bool, str]:
    """Whether `entry` applies to `backend` at `version`, and a warning when it does not or
    cannot be told."""
    assert entry.versions is not None
    head = f"{entry.where}: {entry.id} applies to {backend}{entry.versions}"
    if version is None:
        return True, f"{head}, but {backend} reports no version; the entry is used"
    inside = holds(SpecifierSet(entry.versions), version)
    if inside is None:
        return True, f"{head}, but {version!r} is no PEP 440 version; the entry is used"
    if not inside:
        return False, f"{head}; this is {backend} {version}, so the entry is not used"
    return True, ""


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
    unknown = sorted(set(fields) - set(_ENTRY_KEYS))
    if unknown:
        raise SpecError(
            node.where, f"unknown key {unknown[0]!r}; expected {', '.join(_ENTRY_KEYS)}"
        )
    values = {}
    for key, kind in (("id", str), ("reason", str), ("strict", bool), ("snippet", str)):
        item = fields.get(key)
        if item is None:
            if key in ("strict", "snippet"):
                continue
            raise SpecError(node.where, f"an entry needs {key}")
        if not isinstance(item.value, kind) or (kind is str and not str(item.value).strip()):
            raise SpecError(item.where, f"{key}: expected a {kind.__name__}, found {item.kind()}")
        values[key] = item.value
    versions = None
    if "versions" in fields:
        item = fields["versions"]
        parse_range(item.value, "versions", item.where)
        versions = str(item.value).strip()
    expected = Expected(
        str(values["reason"]).strip(), str(node.where), bool(values.get("strict", True))
    )
    snippet = str(values["snippet"]).strip("\n") if "snippet" in values else None
    return Entry(str(values["id"]), expected, node.where, versions, snippet)
