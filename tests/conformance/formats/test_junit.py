"""JUnit XML: valid against the XSD, one suite per backend, failures carrying diff and repro."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conformance.formats import junit_xml
from conformance.report.runfile import RunRecord

etree = pytest.importorskip("lxml.etree")
XSD = Path(__file__).parents[1] / "data" / "schemas" / "junit.xsd"


@pytest.fixture(scope="module")
def document(sample_dir: Path) -> Any:
    return etree.parse(str(sample_dir / "junit.xml"))


def test_the_junit_xml_validates_against_the_xsd(document: Any) -> None:
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    assert schema.validate(document), schema.error_log


def test_the_xsd_rejects_a_malformed_report() -> None:
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    bad = etree.fromstring(b'<testsuites><testsuite name="x"><testcase/></testsuite></testsuites>')
    assert not schema.validate(bad)


def test_suites_count_each_outcome(document: Any) -> None:
    suites = {s.get("name"): s for s in document.getroot().iter("testsuite")}
    broken = suites["torchlike:broken_accumulate"]
    # fail: cross_accumulate, second_backward, xpass; error: raises_midway; xfail is skipped
    assert (broken.get("tests"), broken.get("failures"), broken.get("errors")) == ("9", "3", "1")
    assert broken.get("skipped") == "1"
    assert suites["torch-cpu"].get("failures") == "0"
    root = document.getroot()
    assert root.get("tests") == "27" and root.get("errors") == "3"


def test_a_failure_carries_its_diff_and_repro(document: Any) -> None:
    case = document.find(
        ".//testsuite[@name='torchlike:broken_accumulate']/testcase[@name='cross_accumulate']"
    )
    failure = case.find("failure")
    assert failure.get("message").endswith("x.grad: values differ")
    assert "rerun alone: conformance show harness.cross_accumulate" in failure.text
    assert "import broken_accumulate as torch" in failure.text
    skipped = document.find(".//testcase[@name='accumulation']/skipped")
    assert skipped is not None  # torch-cpu and reference pass; only the broken one has it
    assert skipped.get("message").startswith("xfail: backward overwrites .grad")


def test_characters_xml_cannot_hold_are_dropped(sample_run: RunRecord) -> None:
    from dataclasses import replace

    result = replace(sample_run.results[0], notes=("bell \x07 here",))
    run = replace(sample_run, results=(result,))
    etree.fromstring(junit_xml(run).encode())  # parses: the control character is gone
