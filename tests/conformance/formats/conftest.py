"""One real run, made once, that every report format is built from: passes, failures, an
error, an xfail, a strict xpass, a stale manifest entry and a timed bench scenario."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conformance.report.runfile import RunRecord, load_run

ROOT = Path(__file__).parents[3]
DATA = Path(__file__).parents[1] / "data"
FIXTURES = Path(__file__).parents[1] / "fixtures"
BROKEN = "torchlike:broken_accumulate"
MANIFEST = """\
xfail:
  - id: harness.accumulation
    reason: backward overwrites .grad instead of adding into it
  - id: harness.cross_backend
    reason: listed on purpose, though it passes
  - id: harness.gone
    reason: a scenario that no longer exists
"""


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    from conformance.cli.main import main

    directory = tmp_path_factory.mktemp("reports")
    (directory / "expectations").mkdir()
    (directory / "expectations" / "torchlike_broken_accumulate.yaml").write_text(MANIFEST)
    args = ["run", "--report-dir", str(directory), "--repeat", "3", "--bench-repeat", "8"]
    for spec in (DATA / "pass", DATA / "error", ROOT / "specs/bench/tutorial_chain_2x2.yaml"):
        args += ["--spec", str(spec)]
    for backend in ("reference", "torch-cpu", BROKEN):
        args += ["--backend", backend]
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(FIXTURES))
        assert main(args) == 1
    return directory


@pytest.fixture(scope="session")
def sample_json(sample_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((sample_dir / "runs" / "latest.json").read_text())
    return data


@pytest.fixture(scope="session")
def sample_run(sample_dir: Path) -> RunRecord:
    return load_run(sample_dir / "runs" / "latest.json")
