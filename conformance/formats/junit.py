"""JUnit XML for CI systems: one `testsuite` per backend, one `testcase` per scenario.

fail and a strict xpass are `failure`, error is `error`; unsupported, unavailable and xfail
are `skipped` with the reason, as pytest writes xfail. Each failure's body is its diff and its
repro, so a CI test tab shows what to do next.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable

from conformance.report.runfile import ResultRecord, RunRecord
from conformance.run.results import Status

# Characters XML 1.0 cannot hold at all; they are dropped rather than breaking the file.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SKIPPED = {Status.UNSUPPORTED, Status.UNAVAILABLE, Status.XFAIL}
_ERRORS = {Status.ERROR, Status.CRASH, Status.TIMEOUT}


def junit_xml(run: RunRecord) -> str:
    root = ET.Element("testsuites", name="autograd-conformance")
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    total_time = 0.0
    for backend in run.backend_names():
        results = [result for result in run.results if result.backend == backend]
        suite = ET.SubElement(root, "testsuite", name=backend)
        counts = _counts(results)
        seconds = sum(_seconds(result) for result in results)
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("time", f"{seconds:.6f}")
        suite.set("timestamp", run.created.rstrip("Z"))
        suite.set("hostname", str(run.environment.get("hostname") or "unknown"))
        total_time += seconds
        properties = ET.SubElement(suite, "properties")
        for name, text in _properties(run, backend):
            ET.SubElement(properties, "property", name=name, value=_clean(text))
        for result in results:
            suite.append(_testcase(result))
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{total_time:.6f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _counts(results: list[ResultRecord]) -> dict[str, int]:
    return {
        "tests": len(results),
        "failures": sum(
            r.status is Status.FAIL or (r.status is Status.XPASS and not r.ok) for r in results
        ),
        "errors": sum(r.status in _ERRORS for r in results),
        "skipped": sum(r.status in _SKIPPED for r in results),
    }


def _seconds(result: ResultRecord) -> float:
    return result.timing.median if result.timing is not None else 0.0


def _properties(run: RunRecord, backend: str) -> Iterable[tuple[str, str]]:
    environment = run.environment
    for key in ("python", "numpy", "torch", "platform", "machine"):
        yield key, str(environment.get(key))
    if run.spec_hash:
        yield "spec_hash", run.spec_hash
    if run.spec_set_name:
        yield "spec_set", run.spec_set_name
    for record in run.backends:
        if record.name == backend:
            yield "available", str(record.available).lower()
            if record.reason:
                yield "unavailable_reason", record.reason
            for key, value in record.info.items():
                yield f"backend_{key}", str(value)


def _testcase(result: ResultRecord) -> ET.Element:
    group, _, leaf = result.scenario.rpartition(".")
    case = ET.Element(
        "testcase",
        classname=f"{result.backend}.{group}" if group else result.backend,
        name=leaf or result.scenario,
        file=result.file,
        time=f"{_seconds(result):.6f}",
    )
    status = result.status
    if status is Status.FAIL or (status is Status.XPASS and not result.ok):
        child = ET.SubElement(case, "failure", message=_clean(_message(result)), type=status.value)
        child.text = _clean(_body(result))
    elif status in _ERRORS:
        error_type = (result.error or {}).get("type", status.value)
        child = ET.SubElement(case, "error", message=_clean(_message(result)), type=error_type)
        child.text = _clean(_body(result))
    elif status in _SKIPPED:
        ET.SubElement(case, "skipped", message=_clean(f"{status.value}: {_message(result)}"))
    if result.notes or result.warnings:
        out = ET.SubElement(case, "system-out")
        out.text = _clean("\n".join([*result.notes, *result.warnings]))
    return case


def _message(result: ResultRecord) -> str:
    if result.status is Status.XPASS:
        return "passes, but its expectations manifest says it fails: remove the entry"
    if result.status is Status.XFAIL and result.expected:
        return f"{result.expected['reason']} ({result.headline()})"
    return result.headline()


def _body(result: ResultRecord) -> str:
    parts = [result.details()]
    if result.repro_command:
        parts.append(f"rerun alone: {result.repro_command}")
    if result.repro_snippet:
        parts.append("standalone repro:\n" + result.repro_snippet)
    return "\n\n".join(part for part in parts if part)


def _clean(text: str) -> str:
    return _NOT_XML.sub("", text)
