"""The run JSON's schema, shipped in the package so any consumer can validate a run file.

Validating needs `jsonschema`, which the harness itself does not: it only writes the files.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

SCHEMA_FILE = "run.schema.json"


def run_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of format 2 run files."""
    text = files("conformance.formats").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
