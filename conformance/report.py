"""The JSON result file: what ran, where, on which versions, and every result in full."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from conformance.backends.base import Backend
from conformance.results import ScenarioResult, Status

FORMAT = 1


def environment() -> dict[str, Any]:
    """Versions and machine, read without importing torch."""
    return {
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "torch": _version("torch"),
        "conformance": _version("autograd-conformance"),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
    }


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def summarize(results: Sequence[ScenarioResult]) -> dict[str, int]:
    counts = Counter(result.status for result in results)
    return {status.value: counts.get(status, 0) for status in Status}


def build_report(
    results: Sequence[ScenarioResult],
    backends: Sequence[Backend],
    *,
    baseline: str | None,
    timing: dict[str, int],
    elapsed: float,
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": sys.argv,
        "environment": environment(),
        "baseline": baseline,
        "timing": timing,
        "elapsed_s": round(elapsed, 4),
        "backends": [_backend(backend) for backend in backends],
        "summary": summarize(results),
        "results": [_result(result) for result in results],
    }


def _backend(backend: Backend) -> dict[str, Any]:
    availability = backend.availability()
    return {
        "name": backend.name,
        "available": availability.available,
        "reason": availability.reason,
        "capabilities": sorted(backend.capabilities()) if availability.available else [],
        "info": backend.info(),
    }


def _result(result: ScenarioResult) -> dict[str, Any]:
    scenario = result.scenario
    entry: dict[str, Any] = {
        "scenario": scenario.id,
        "file": scenario.where.path,
        "tags": list(scenario.tags),
        "backend": result.backend,
        "status": result.status.value,
    }
    if result.reason:
        entry["reason"] = result.reason
    if result.mismatches:
        entry["diffs"] = [
            {
                "step": str(m.where.step),
                "path": m.path,
                "problem": m.problem,
                "expected": m.expected,
                "got": m.got,
                "detail": m.detail,
                "message": m.message(),
            }
            for m in result.mismatches
        ]
    if result.error is not None:
        error = result.error
        entry["error"] = {
            "step": str(error.where),
            "type": error.type,
            "message": error.message,
            "traceback": error.traceback,
        }
    if result.timing is not None:
        entry["timing"] = {
            "median_s": result.timing.median,
            "samples_s": list(result.timing.samples),
            "warmup": result.timing.warmup,
        }
    if result.warnings:
        entry["warnings"] = list(result.warnings)
    if result.notes:
        entry["notes"] = list(result.notes)
    return entry


def write_report(report: dict[str, Any], directory: Path) -> Path:
    """Write `runs/<time>.json` under `directory`, and `runs/latest.json` beside it."""
    runs = directory / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    stamp = report["created"].replace(":", "").replace("-", "")
    path = runs / f"{stamp}-{os.getpid()}.json"
    text = json.dumps(report, indent=1, sort_keys=False) + "\n"
    path.write_text(text, encoding="utf-8")
    (runs / "latest.json").write_text(text, encoding="utf-8")
    return path
