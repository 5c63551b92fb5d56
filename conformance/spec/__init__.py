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
from conformance.spec.schema import build_scenario
from conformance.spec.yamlnodes import MAX_CHARS, read_yaml

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
    "load_each_spec",
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
        with open(path, encoding="utf-8") as file:
            text = file.read(MAX_CHARS + 1)  # never more: read_yaml refuses what is longer
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(Location(shown, 1), f"cannot read the spec: {exc}") from None
    return build_scenario(read_yaml(text, shown))


def load_specs(paths: Iterable[str | os.PathLike[str]]) -> list[Scenario]:
    """Load many spec files; all their errors are raised together, as one `SpecErrors`."""
    scenarios, errors = load_each_spec(paths)
    if errors:
        raise errors[0] if len(errors) == 1 else SpecErrors(errors)
    return scenarios


def load_each_spec(
    paths: Iterable[str | os.PathLike[str]],
) -> tuple[list[Scenario], list[SpecError]]:
    """Load every spec that can be loaded, and say what is wrong with the others: a run can
    go on without the bad ones and report them all at its end.

    A file that claims an id already taken is an error, and only the first one is kept.
    """
    scenarios: list[Scenario] = []
    errors: list[SpecError] = []
    seen: dict[str, Location] = {}
    for path in paths:
        try:
            scenario = load_spec(path)
        except SpecError as exc:
            errors.append(exc)
            continue
        if scenario.id in seen:
            problem = f"duplicate id {scenario.id!r}; first defined at {seen[scenario.id]}"
            errors.append(SpecError(scenario.where, problem))
            continue
        seen[scenario.id] = scenario.where
        scenarios.append(scenario)
    return scenarios, errors


def find_spec_files(patterns: Sequence[str], option: str = "--spec") -> list[Path]:
    """Expand files, folders (searched recursively) and globs into sorted spec files; an error
    names the `option` the pattern came from."""
    found: dict[Path, None] = {}
    for pattern in patterns:
        matches = [Path(match) for match in sorted(glob.glob(pattern, recursive=True))]
        if not matches:
            raise UsageError(f"{option} {pattern}: no such file, folder or glob match")
        for match in matches:
            if match.is_dir():
                for suffix in SPEC_SUFFIXES:
                    found.update(dict.fromkeys(sorted(match.rglob(f"*{suffix}"))))
            elif match.suffix in SPEC_SUFFIXES:
                found[match] = None
            else:
                raise UsageError(f"{option} {pattern}: {match} is not a .yaml spec file")
    return sorted(found)
