"""The spec set a command runs: the one installed with the package, and the paths it is given.

The YAML scenarios ship inside the package (`conformance/specs/` in the wheel), versioned with
the release, so `conformance run` works from any folder. Their source is `specs/` at the
repository root, where contributors edit them; setup.py maps that folder into the package. In a
checkout (an editable install), the installed set *is* that `specs/` folder, read live.

The rule on the command line, as ruff's `--select` / `--extend-select`:

- no option: the installed set;
- `--spec PATH_OR_GLOB` (repeatable): these paths *replace* the installed set;
- `--extend-spec PATH_OR_GLOB` (repeatable): these paths are run *as well as* the installed set
  (or as well as the `--spec` paths, when both are given).
"""

from __future__ import annotations

import importlib.resources
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.errors import UsageError
from conformance.spec import display_path, find_spec_files

INSTALLED = "installed"  # the origin of the set shipped with the package
PATH = "path"  # the origin of a set named on the command line
PACKAGE = "autograd-conformance"  # the distribution whose version is the installed set's
_INSTALLED_FOLDER = "specs"  # under the `conformance` package in a wheel


@dataclass(frozen=True, slots=True)
class SpecSource:
    """Where some of a command's specs come from: the installed set, or one path or glob."""

    origin: str  # INSTALLED or PATH
    location: str  # the installed folder, or the path or glob as given
    version: str | None  # the installed set's version (the package's); None for a path
    files: tuple[Path, ...]

    @property
    def label(self) -> str:
        """How a person reads it: `installed spec set 0.1.0 (FOLDER)` or the path as typed."""
        if self.origin == INSTALLED:
            return f"installed spec set {self.version or '(unknown version)'} ({self.location})"
        return self.location

    def record(self, count: int) -> dict[str, Any]:
        """The source as the run JSON records it (`specs.sources[]`)."""
        entry: dict[str, Any] = {"origin": self.origin, "location": self.location}
        if self.origin == INSTALLED:
            entry["version"] = self.version
        entry["count"] = count
        return entry


def installed_folder() -> Path:
    """The installed spec set's folder: `conformance/specs` inside the installed package, or,
    in a checkout (an editable install), the repository's `specs/`, the set's source."""
    packaged = importlib.resources.files("conformance") / _INSTALLED_FOLDER
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    package = Path(str(importlib.resources.files("conformance")))
    checkout = package.parent / "specs"
    if (checkout / "README.md").is_file() and (package.parent / "pyproject.toml").is_file():
        return checkout
    raise UsageError(
        f"the installed spec set is missing (looked for {packaged} and {checkout}); "
        "reinstall autograd-conformance, or pass --spec PATH_OR_GLOB"
    )


def installed_version() -> str | None:
    """The installed set's version: the package's, as its metadata says."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(PACKAGE)
    except PackageNotFoundError:
        return None


def installed_source() -> SpecSource:
    folder = installed_folder()
    return SpecSource(
        INSTALLED, display_path(folder), installed_version(), tuple(find_spec_files([str(folder)]))
    )


def path_source(pattern: str, option: str = "--spec") -> SpecSource:
    return SpecSource(PATH, pattern, None, tuple(find_spec_files([pattern], option)))


def resolve(spec: Sequence[str] | None, extend: Sequence[str] | None = None) -> list[SpecSource]:
    """The sources the options name (see the module's docstring for the rule). A file that
    two sources hold belongs to the first of them only."""
    sources = [path_source(pattern) for pattern in spec] if spec else [installed_source()]
    sources.extend(path_source(pattern, "--extend-spec") for pattern in extend or ())
    seen: set[Path] = set()
    unique = []
    for source in sources:
        files = tuple(path for path in source.files if _key(path) not in seen)
        seen.update(_key(path) for path in files)
        unique.append(
            SpecSource(source.origin, source.location, source.version, files)
            if files != source.files
            else source
        )
    return unique


def _key(path: Path) -> Path:
    return Path(os.path.realpath(path))


def files_of(sources: Iterable[SpecSource]) -> list[Path]:
    """Every spec file of the sources, in their order."""
    return [path for source in sources for path in source.files]


def source_by_file(sources: Iterable[SpecSource]) -> dict[str, SpecSource]:
    """Each spec file's source, keyed by the path a loaded scenario carries (`where.path`)."""
    return {display_path(path): source for source in sources for path in source.files}


def record(
    sources: Sequence[SpecSource], paths: Iterable[str]
) -> tuple[str | None, list[dict[str, Any]]]:
    """The spec set's version (the installed set's, when any of it ran) and its sources as
    the run JSON records them, each with the count of `paths` (scenarios' files) it holds."""
    owner = {display_path(path): index for index, s in enumerate(sources) for path in s.files}
    counts = [0] * len(sources)
    for path in paths:
        if path in owner:
            counts[owner[path]] += 1
    used = list(zip(sources, counts))
    version = next((s.version for s, n in used if s.origin == INSTALLED and n), None)
    return version, [source.record(count) for source, count in used]
