"""Spec files: find them, load them safely, validate them and compile their steps.

`load_specs` is the one entry point the runner, the CLI and a pytest plugin need.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from conformance.errors import Location, SpecError, SpecErrors, UsageError
from conformance.spec.model import (
    Expect,
    MetaCheck,
    NoWarning,
    Pattern,
    Raises,
    Run,
    Scenario,
    Step,
    Warns,
)
from conformance.spec.schema import build_scenario, check_unique
from conformance.spec.yamlnodes import read_yaml

__all__ = [
    "Expect",
    "MetaCheck",
    "NoWarning",
    "Pattern",
    "Raises",
    "Run",
    "Scenario",
    "Step",
    "Warns",
    "find_spec_files",
    "load_spec",
    "load_specs",
]

SPEC_SUFFIXES = (".yaml", ".yml")


def display_path(path: Path) -> str:
    """The path as a user would type it: relative to the working directory when inside it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)
    return str(path) if relative.startswith("..") else relative


def load_spec(path: str | os.PathLike[str]) -> Scenario:
    """Load one spec file, or raise a `SpecError` naming its file and line."""
    shown = display_path(Path(path))
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(Location(shown, 1), f"cannot read the spec: {exc}") from None
    return build_scenario(read_yaml(text, shown))


def load_specs(paths: Iterable[str | os.PathLike[str]]) -> list[Scenario]:
    """Load many spec files; all their errors are raised together, as one `SpecErrors`."""
    scenarios: list[Scenario] = []
    errors: list[SpecError] = []
    for path in paths:
        try:
            scenarios.append(load_spec(path))
        except SpecError as exc:
            errors.append(exc)
    if not errors:
        try:
            check_unique(scenarios)
        except SpecError as exc:
            errors.append(exc)
    if errors:
        raise errors[0] if len(errors) == 1 else SpecErrors(errors)
    return scenarios


def find_spec_files(patterns: Sequence[str]) -> list[Path]:
    """Expand files, folders (searched recursively) and globs into sorted spec files."""
    found: dict[Path, None] = {}
    for pattern in patterns:
        matches = [Path(match) for match in sorted(glob.glob(pattern, recursive=True))]
        if not matches:
            raise UsageError(f"--spec {pattern}: no such file, folder or glob match")
        for match in matches:
            if match.is_dir():
                for suffix in SPEC_SUFFIXES:
                    found.update(dict.fromkeys(sorted(match.rglob(f"*{suffix}"))))
            elif match.suffix in SPEC_SUFFIXES:
                found[match] = None
            else:
                raise UsageError(f"--spec {pattern}: {match} is not a .yaml spec file")
    return sorted(found)
