"""Version ranges: PEP 440 specifier sets in manifests (`versions:`) and specs (`torch:`).

Engines release and behaviours change, so an entry or a spec may say which versions it holds
for. Both places read the range the same way, with `packaging`, so `<2.6`, `>=2.4,<3` and
`==2.5.*` mean what pip means by them.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from conformance.errors import Location, SpecError


def parse_range(text: object, key: str, where: Location) -> SpecifierSet:
    """`text` as a specifier set; anything else is a `SpecError` at `where`. A bare number
    is refused: YAML reads `2.4` as a float, and "2.4" alone is no range."""
    if not isinstance(text, str) or not text.strip():
        kind = "a number" if isinstance(text, (int, float)) else type(text).__name__
        kind = "an empty string" if isinstance(text, str) else kind
        raise SpecError(where, f'{key}: expected a quoted version range like "<2.6", found {kind}')
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        raise SpecError(
            where,
            f'{key}: expected a PEP 440 version range like "<2.6" or ">=2.4,<3", found {text!r}',
        ) from None


def holds(versions: SpecifierSet, version: str) -> bool | None:
    """Whether `version` lies in `versions`; None when `version` is no PEP 440 version.

    A pre-release, dev build or local build counts as its release: a nightly
    `2.7.0.dev20250101+cpu` carries 2.7's behaviour, so it is 2.7 here, where PEP 440 would
    order it below 2.7 and `packaging` would leave it out of every range by default."""
    try:
        release = Version(Version(version).base_version)
    except InvalidVersion:
        return None
    return versions.contains(release, prereleases=True)


def torch_version(baseline: Any = None) -> str | None:
    """The torch version a run's specs are judged by: the baseline's when it is torch, else
    the installed torch's (read without importing it), else None (no torch here)."""
    if baseline is not None:
        try:
            info = baseline.info()
        except Exception:
            info = {}
        if info.get("module") == "torch" and info.get("version"):
            return str(info["version"])
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return None


def outside_torch_range(torch_versions: str | None, version: str | None) -> str:
    """Why a spec stating `torch: torch_versions` has no meaning on torch `version`, or ""
    when it holds there, states no range, or no torch (or no readable version) is at hand."""
    if torch_versions is None or version is None:
        return ""
    if holds(SpecifierSet(torch_versions), version) is not False:
        return ""
    return f"spec holds for torch {torch_versions}; this is torch {version}"
