"""The JSON result file: what ran, where, on which versions, and every result in full.

Its layout is versioned (`format`) and described by `formats/run.schema.json`; every other
report (JUnit, Markdown, HTML), the gate and `merge` read this file, never the live objects, so
`conformance report RUN.json` rebuilds exactly what `conformance run` wrote.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from conformance.backends.base import Backend
from conformance.isolation import Executor, executor_for
from conformance.report.runlog import dumps as dumps  # re-exported: readers of run files use it
from conformance.report.runlog import point_latest, write_run
from conformance.run.diff import Mismatch
from conformance.run.repro import repro
from conformance.run.results import ScenarioResult, Status
from conformance.spec import specset
from conformance.spec.model import Scenario
from conformance.timing.stats import Interval, Paired

FORMAT = 2
RATIO_CONFIDENCE = 0.95


def environment() -> dict[str, Any]:
    """Versions and machine, read without importing torch."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "numpy": _version("numpy"),
        "torch": _version("torch"),
        "conformance": _version("autograd-conformance"),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "hostname": platform.node(),
        "cpu_count": os.cpu_count(),
    }


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def spec_set(
    scenarios: Sequence[Scenario], sources: Sequence[specset.SpecSource] | None = None
) -> dict[str, Any]:
    """The selected spec set's identity: a hash over every scenario's id and file bytes, so two
    runs (or two shards) can tell whether they ran the same specs. With the `sources` the
    command read them from, also the installed set's version and where each scenario came
    from (the installed set, or a path)."""
    digest = hashlib.sha256()
    for scenario in sorted(scenarios, key=lambda s: s.id):
        content = Path(scenario.where.path).read_bytes()
        digest.update(f"{scenario.id}\0{hashlib.sha256(content).hexdigest()}\n".encode())
    identity: dict[str, Any] = {"hash": f"sha256:{digest.hexdigest()}", "count": len(scenarios)}
    if sources is not None:
        version, recorded = specset.record(sources, (s.where.path for s in scenarios))
        identity["version"] = version
        identity["sources"] = recorded
    return identity


def summarize(results: Sequence[ScenarioResult]) -> dict[str, int]:
    counts = Counter(result.status for result in results)
    return {status.value: counts.get(status, 0) for status in Status}


def build_report(
    results: Sequence[ScenarioResult],
    backends: Sequence[Backend | Executor],
    *,
    baseline: str | None,
    timing: Mapping[str, Any],
    elapsed: float,
    specs: Mapping[str, Any] | None = None,
    shard: tuple[int, int] | None = None,
    expectations: Mapping[str, Any] | None = None,
    isolation: Mapping[str, Any] | None = None,
    threads: int | None = None,
    incomplete: str | None = None,
) -> dict[str, Any]:
    """The run as JSON-ready data. `timing["baseline"]` names the backend timing ratios are
    taken against (measured in the same rounds)."""
    head = report_head(
        backends,
        baseline=baseline,
        timing=timing,
        specs=specs,
        shard=shard,
        expectations=expectations,
        isolation=isolation,
        threads=threads,
    )
    entries = result_entries(results, backends, baseline, timing.get("baseline"))
    return finish_report(head, entries, elapsed, incomplete)


def report_head(
    backends: Sequence[Backend | Executor],
    *,
    baseline: str | None,
    timing: Mapping[str, Any],
    specs: Mapping[str, Any] | None = None,
    shard: tuple[int, int] | None = None,
    expectations: Mapping[str, Any] | None = None,
    isolation: Mapping[str, Any] | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Everything a run file says before its results: known when the run starts, so a run
    streamed to disk can be rebuilt from it and its results alone."""
    head: dict[str, Any] = {
        "format": FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": sys.argv,
        "environment": environment(),
        "specs": dict(specs) if specs else None,
        "shard": {"index": shard[0], "count": shard[1]} if shard else None,
        "baseline": baseline,
        "timing": dict(timing),
        "expectations": dict(expectations) if expectations else {"files": [], "stale": []},
    }
    if isolation is not None:
        head["isolation"] = dict(isolation)
        head["threads"] = threads
    head["backends"] = [_backend(backend) for backend in backends]
    return head


def result_entries(
    results: Sequence[ScenarioResult],
    backends: Sequence[Backend | Executor],
    baseline: str | None,
    timing_baseline: str | None,
) -> list[dict[str, Any]]:
    """The JSON entries of `results`; ratios are taken within them, so pass every backend's
    result of a scenario together."""
    by_name = {backend.name: executor_for(backend) for backend in backends}
    ratios = _ratios(results, timing_baseline)
    return [_result(result, by_name.get(result.backend), baseline, ratios) for result in results]


def finish_report(
    head: Mapping[str, Any],
    entries: Sequence[Mapping[str, Any]],
    elapsed: float,
    incomplete: str | None = None,
) -> dict[str, Any]:
    """The whole run file: `head`, then the summary and the results; `incomplete` says why
    a run stopped early (absent when it finished)."""
    report = {key: value for key, value in head.items() if key != "backends"}
    if incomplete:
        report["incomplete"] = incomplete
    report["elapsed_s"] = round(elapsed, 4)
    report["backends"] = head["backends"]
    counts = Counter(entry["status"] for entry in entries)
    report["summary"] = {status.value: counts.get(status.value, 0) for status in Status}
    report["results"] = list(entries)
    return report


def _ratios(
    results: Sequence[ScenarioResult], against: str | None
) -> dict[tuple[str, str], dict[str, Any]]:
    """Each timed result's ratio to the timing baseline's result for the same scenario."""
    if not against:
        return {}
    by_scenario: dict[str, dict[str, ScenarioResult]] = defaultdict(dict)
    for result in results:
        if result.timing is not None:
            by_scenario[result.scenario.id][result.backend] = result
    found = {}
    for scenario_id, timed in by_scenario.items():
        reference = timed.get(against)
        if reference is None or reference.timing is None:
            continue
        for name, result in timed.items():
            assert result.timing is not None
            if len(result.timing.samples) != len(reference.timing.samples):
                continue
            if result is reference:  # to itself: every block's ratio is 1, so is the interval
                interval = Interval(1.0, 1.0, 1.0, RATIO_CONFIDENCE)
            else:
                paired = Paired(
                    result.timing.samples, reference.timing.samples, result.timing.period
                )
                interval = paired.ratio_interval(RATIO_CONFIDENCE, key=f"{scenario_id}/{name}")
            found[(scenario_id, name)] = {
                "to": against,
                "value": _sig(interval.value),
                "low": _sig(interval.low),
                "high": _sig(interval.high),
                "confidence": interval.confidence,
            }
    return found


def _backend(backend: Backend | Executor) -> dict[str, Any]:
    availability = backend.availability()
    return {
        "name": backend.name,
        "available": availability.available,
        "reason": availability.reason,
        "capabilities": sorted(backend.capabilities()) if availability.available else [],
        "info": backend.info() if availability.available else {},
    }


def _result(
    result: ScenarioResult,
    backend: Executor | None,
    baseline: str | None,
    ratios: Mapping[tuple[str, str], dict[str, Any]],
) -> dict[str, Any]:
    scenario = result.scenario
    entry: dict[str, Any] = {
        "scenario": scenario.id,
        "title": scenario.title,
        "file": scenario.where.path,
        "tags": list(scenario.tags),
        "backend": result.backend,
        "status": result.status.value,
        "ok": result.ok,
    }
    if result.reason:
        entry["reason"] = result.reason
    if result.expected is not None:
        entry["expected"] = {
            "reason": result.expected.reason,
            "source": result.expected.source,
            "strict": result.expected.strict,
        }
    if result.mismatches:
        entry["diffs"] = [_diff(m) for m in result.mismatches]
    if result.error is not None:
        error = result.error
        entry["error"] = {
            "step": str(error.where),
            "type": error.type,
            "message": error.message,
            "traceback": error.traceback,
        }
    if result.timing is not None:
        summary = result.timing.summary
        entry["timing"] = {
            "median_s": _sig(summary.median),
            "q1_s": _sig(summary.q1),
            "q3_s": _sig(summary.q3),
            "iqr_s": _sig(summary.iqr),
            "samples_s": [_sig(sample) for sample in result.timing.samples],
            "warmup": result.timing.warmup,
            "period": result.timing.period,
        }
        ratio = ratios.get((scenario.id, result.backend))
        if ratio is not None:
            entry["timing"]["ratio"] = ratio
    failed = (Status.FAIL, Status.ERROR, Status.CRASH, Status.TIMEOUT, Status.XFAIL)
    if backend is not None and result.status in failed:
        found = repro(result, backend, baseline)
        entry["repro"] = {"command": found.command, "snippet": found.snippet}
    if result.warnings:
        entry["warnings"] = list(result.warnings)
    if result.notes:
        entry["notes"] = list(result.notes)
    return entry


def _diff(mismatch: Mismatch) -> dict[str, str]:
    found = {
        "step": str(mismatch.where.step),
        "path": mismatch.path,
        "problem": mismatch.problem,
        "expected": mismatch.expected,
        "got": mismatch.got,
        "detail": mismatch.detail,
        "message": mismatch.message(),
    }
    if mismatch.finite_difference:
        found["finite_difference"] = mismatch.finite_difference
    return found


def _sig(value: float) -> float:
    """Four significant digits: the timer's noise is far above that, and the files (a
    committed baseline among them) stay small and diffable."""
    return float(f"{value:.4g}")


def write_report(report: dict[str, Any], directory: Path) -> Path:
    """Write `runs/<time>.json` under `directory`, and `runs/latest.json` beside it."""
    stamp = report["created"].replace(":", "").replace("-", "")
    path = write_run(report, directory, f"{stamp}-{os.getpid()}")
    point_latest(report, directory)
    return path
