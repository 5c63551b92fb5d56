"""The run JSON: valid against its own schema, and it records what it promises."""

from __future__ import annotations

import importlib.metadata
import platform
from typing import Any

import pytest

from conformance.formats.schema import run_schema
from conformance.report.runfile import RunRecord

jsonschema = pytest.importorskip("jsonschema")


def test_the_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(run_schema())


def test_the_run_validates_against_its_schema(sample_json: dict[str, Any]) -> None:
    errors = list(jsonschema.Draft202012Validator(run_schema()).iter_errors(sample_json))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_the_schema_rejects_what_it_should(sample_json: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(run_schema())
    assert not validator.is_valid({**sample_json, "format": 1})
    assert not validator.is_valid({**sample_json, "surprise": True})
    broken = dict(sample_json["results"][0], status="flaky")
    assert not validator.is_valid({**sample_json, "results": [broken]})


def test_it_records_machine_versions_backends_and_the_spec_set(
    sample_json: dict[str, Any],
) -> None:
    environment = sample_json["environment"]
    assert environment["python"] == platform.python_version()
    assert environment["numpy"] == importlib.metadata.version("numpy")
    assert environment["torch"] == importlib.metadata.version("torch")
    assert environment["machine"] == platform.machine() and environment["cpu_count"] >= 1
    backends = {b["name"]: b for b in sample_json["backends"]}
    assert list(backends) == ["reference", "torch-cpu", "torchlike:broken_accumulate"]
    assert all(b["available"] and b["capabilities"] for b in backends.values())
    assert sample_json["specs"]["hash"].startswith("sha256:")
    assert sample_json["specs"]["count"] == 9
    assert sample_json["timing"]["baseline"] == "torch-cpu"


def test_statuses_expectations_and_repros(sample_run: RunRecord) -> None:
    by_key = sample_run.by_key()
    broken = "torchlike:broken_accumulate"
    xfail = by_key[("harness.accumulation", broken)]
    assert xfail.status.value == "xfail" and xfail.ok
    assert xfail.expected is not None and xfail.expected["reason"].startswith("backward over")
    xpass = by_key[("harness.cross_backend", broken)]
    assert xpass.status.value == "xpass" and not xpass.ok
    fail = by_key[("harness.cross_accumulate", broken)]
    assert fail.status.value == "fail" and fail.repro_command is not None
    assert fail.repro_command.startswith("conformance show harness.cross_accumulate --spec ")
    assert fail.repro_snippet is not None and "import broken_accumulate as torch" in (
        fail.repro_snippet
    )
    (stale,) = sample_run.stale
    assert "harness.gone matches no scenario" in stale
    assert sample_run.summary["xfail"] == 1 and sample_run.summary["xpass"] == 1


def test_bench_timing_has_quartiles_and_a_ratio_from_the_same_rounds(
    sample_run: RunRecord,
) -> None:
    result = sample_run.by_key()[("bench.tutorial_chain_2x2", "reference")]
    timing = result.timing
    assert timing is not None and len(timing.samples) == 8
    assert timing.q1 <= timing.median <= timing.q3
    assert timing.ratio is not None and timing.ratio.to == "torch-cpu"
    assert timing.ratio.low <= timing.ratio.value <= timing.ratio.high
