"""The pytest plugin, driven in a subprocess as a user would run it: scenario x backend items,
the CLI's diff on failure, markers, -k, xdist, unavailable and unsupported backends, and
spec errors; and no change at all to a pytest run that does not ask for it."""

from __future__ import annotations

import re
import shutil
from importlib.metadata import entry_points
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
pytest.importorskip("torch")

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures"
SUITE = HERE / "data" / "pass"  # 7 scenarios
OFFLINE_BACKEND = """
from conformance.backends import Unavailable

def make():
    return Unavailable("offline", "no such device here")
"""


@pytest.fixture
def specs(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The harness's passing test specs in `specs/`, and the broken torch modules importable."""
    shutil.copytree(SUITE, pytester.path / "specs")
    monkeypatch.setenv("PYTHONPATH", str(FIXTURES))
    return pytester.path / "specs"


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def test_installed_but_not_asked_for_it_changes_nothing(
    pytester: pytest.Pytester, specs: Path
) -> None:
    pytester.makepyfile(
        test_plain="""
        import sys

        def test_the_harness_is_not_even_imported():
            assert "conformance.spec" not in sys.modules
            assert "conformance.run.runner" not in sys.modules
        """
    )
    result = run(pytester, "-v")
    result.assert_outcomes(passed=1)
    out = result.stdout.str()
    assert "conformance:" not in out and "= conformance =" not in out and ".yaml" not in out


def test_each_scenario_on_each_default_backend_is_an_item(
    pytester: pytest.Pytester, specs: Path
) -> None:
    result = run(pytester, "specs", "-v", "--conformance")
    result.assert_outcomes(passed=14)
    out = result.stdout.str()
    assert "conformance: backends reference, torch-cpu; baseline torch-cpu" in out
    assert "specs/accumulation.yaml::harness.accumulation[reference] PASSED" in out
    assert "specs/no_grad.yaml::harness.no_grad[torch-cpu] PASSED" in out
    assert "14 scenario runs: 14 pass, 0 fail, 0 error, 0 unsupported, 0 unavailable" in out


def test_broken_backends_fail_their_scenarios_with_the_clis_diff(
    pytester: pytest.Pytester, specs: Path
) -> None:
    result = run(
        pytester,
        "specs",
        "--conformance-backend",
        "torchlike:broken_accumulate",
        "--conformance-backend",
        "torchlike:broken_no_grad",
    )
    result.assert_outcomes(passed=10, failed=4)
    out = result.stdout.str()
    for fragment in (
        # the failure's header, then the report exactly as the CLI prints it
        "_ harness.accumulation [torchlike:broken_accumulate] _",
        "FAIL harness.accumulation [torchlike:broken_accumulate]: Gradients accumulate",
        "specs/accumulation.yaml:17: x.grad: values differ",
        "worst at x.grad[0, 0]: expected 4.0, got 3.0",
        "x.grad: values differ\n      expected (torch-cpu):",  # cross-backend, vs the baseline
        "FAILED specs/second_backward.yaml::harness.second_backward[torchlike:broken_accumulate]",
        # a backend that raises where the spec expects nothing: an error, shown as a failure
        "ERROR harness.no_grad [torchlike:broken_no_grad]",
        "RuntimeError: element 0 of tensors does not require grad",
        "14 scenario runs: 10 pass, 3 fail, 1 error, 0 unsupported, 0 unavailable",
    ):
        assert fragment in out, fragment
    assert "Traceback" not in out and "pytest_plugin.py" not in out


def test_known_failure_manifests_give_xfail_and_a_strict_xpass_fails(
    pytester: pytest.Pytester, specs: Path
) -> None:
    manifests = pytester.path / "known"
    manifests.mkdir()
    (manifests / "torchlike_broken_accumulate.yaml").write_text(
        "xfail:\n"
        "  - id: harness.accumulation\n"
        "    reason: this fixture overwrites .grad\n"
        "  - id: harness.no_grad\n"
        "    reason: listed, yet no_grad works here\n"
    )
    result = run(
        pytester,
        "specs",
        "-rfxX",
        "--conformance-backend",
        "torchlike:broken_accumulate",
        "--conformance-expectations",
        str(manifests),
    )
    result.assert_outcomes(passed=3, failed=3, xfailed=1)  # 2 real failures, 1 strict xpass
    out = result.stdout.str()
    assert "XFAIL specs/accumulation.yaml::harness.accumulation[torchlike:broken_accumulate]" in out
    assert "this fixture overwrites .grad" in out
    assert "FAILED specs/no_grad.yaml::harness.no_grad[torchlike:broken_accumulate]" in out
    assert "XPASS harness.no_grad [torchlike:broken_accumulate]" in out
    assert "1 xfail, 1 xpass" in out


def test_tags_are_registered_markers_and_k_matches_ids(
    pytester: pytest.Pytester, specs: Path
) -> None:
    result = run(
        pytester, "specs", "--conformance", "--strict-markers", "-m", "accumulation", "-k",
        "torch-cpu", "-v",
    )  # fmt: skip
    result.assert_outcomes(passed=2)
    out = result.stdout.str()
    assert "harness.accumulation[torch-cpu] PASSED" in out
    assert "harness.cross_accumulate[torch-cpu] PASSED" in out


def test_it_runs_under_xdist(pytester: pytest.Pytester, specs: Path) -> None:
    result = run(
        pytester, "specs", "-n", "2", "--conformance-backend", "reference",
        "--conformance-backend", "torchlike:broken_retain_graph",
    )  # fmt: skip
    result.assert_outcomes(passed=13, failed=1)
    out = result.stdout.str()
    assert "z.backward(): raised nothing" in out
    assert "14 scenario runs: 13 pass, 1 fail, 0 error, 0 unsupported, 0 unavailable" in out


def test_an_unavailable_backend_fails_by_default(pytester: pytest.Pytester, specs: Path) -> None:
    pytester.makepyfile(offline_backend=OFFLINE_BACKEND)
    result = run(pytester, "specs", "--conformance-backend", "offline_backend:make")
    result.assert_outcomes(failed=7)
    out = result.stdout.str()
    assert "UNAVAILABLE harness.no_grad [offline]: " in out
    assert "  no such device here\n" in out
    assert "7 scenario runs: 0 pass, 0 fail, 0 error, 0 unsupported, 7 unavailable" in out
    assert "offline is unavailable: no such device here; its items failed" in out


def test_unavailable_can_be_skipped_and_unsupported_is_skipped(
    pytester: pytest.Pytester, specs: Path
) -> None:
    pytester.makepyfile(offline_backend=OFFLINE_BACKEND)
    result = run(
        pytester, "specs", "-rs", "--conformance-unavailable=skip",
        "--conformance-backend", "offline_backend:make",
        "--conformance-backend", "torchlike:torch_without_inference_mode",
    )  # fmt: skip
    result.assert_outcomes(passed=6, skipped=8)
    out = result.stdout.str()
    assert "SKIPPED [1] specs/no_grad.yaml:2: unavailable: offline: no such device here" in out
    assert "offline is unavailable: no such device here; its items skipped" in out
    assert (
        "SKIPPED [1] specs/inference.yaml:2: unsupported: needs inference_mode: "
        "torch_without_inference_mode has no inference_mode" in out
    )


def test_spec_errors_are_collection_errors_at_file_line(
    pytester: pytest.Pytester, specs: Path
) -> None:
    (specs / "bad.yaml").write_text(
        "spec: 1\nid: t.bad\ntitle: t\ntags: [t]\nrequires: []\nsource: s\nrationale: r\n"
        "steps:\n  - y = foo(1)\n"
    )
    shutil.copy(specs / "no_grad.yaml", specs / "zz_copy.yaml")
    (specs / "notes.yaml").write_text("name: not a spec\nitems: [1, 2]\n")  # left alone
    result = run(pytester, "specs", "--conformance")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.assert_outcomes(errors=2)
    out = result.stdout.str()
    assert "ERROR collecting specs/bad.yaml" in out
    assert "specs/bad.yaml:9: unknown function 'foo'" in out
    assert (
        "specs/zz_copy.yaml:2: duplicate id 'harness.no_grad'; first defined at "
        "specs/no_grad.yaml:2" in out
    )
    assert "Traceback" not in out and "notes.yaml" not in out


@pytest.mark.parametrize(
    ("fault", "status"), [("segfault", "crash"), ("os_exit", "crash"), ("hang", "timeout")]
)
def test_an_engine_that_crashes_exits_or_hangs_fails_that_item_and_the_session_goes_on(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    fault_specs: Path,
    fault: str,
    status: str,
) -> None:
    """The middle spec calls `exp`, which the faulty engine breaks; the last passes only if
    its worker came back."""
    monkeypatch.setenv("PYTHONPATH", str(FIXTURES))
    monkeypatch.setenv("FAULTY_ENGINE", fault)
    result = run(
        pytester, str(fault_specs), "-v", "--conformance-backend", "torchlike:faulty_engine",
        "--conformance-baseline", "reference", "--conformance-timeout", "10",
    )  # fmt: skip
    result.assert_outcomes(passed=2, failed=1)
    out = result.stdout.str()
    assert "faults.a_before[torchlike:faulty_engine] PASSED" in out
    assert "faults.b_exp[torchlike:faulty_engine] FAILED" in out
    assert "faults.c_after[torchlike:faulty_engine] PASSED" in out
    assert f"{status.upper()} faults.b_exp [torchlike:faulty_engine]" in out
    assert f"3 scenario runs: 2 pass, 0 fail, 0 error, 1 {status}, 0 unsupported" in out
    assert "isolation process" in out


@pytest.mark.parametrize("mode", ["process", "none"])
def test_isolation_none_runs_in_the_pytest_process_and_leaves_it_as_it_was(
    pytester: pytest.Pytester, specs: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """Each item's teardown counts the worker processes; a plain test after the specs sees
    the thread settings it would see without the plugin."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    pytester.makeconftest(
        """
        import multiprocessing

        def pytest_runtest_teardown(item):
            if "[" in item.name:
                print(f"workers: {len(multiprocessing.active_children())}")
        """
    )
    pytester.makepyfile(
        test_after="""
        import os

        def test_thread_settings_are_untouched():
            assert "OMP_NUM_THREADS" not in os.environ
        """
    )
    result = run(
        pytester, "specs", "test_after.py", "-s", "--conformance", "--conformance-isolation", mode
    )
    result.assert_outcomes(passed=15)
    out = result.stdout.str()
    assert f"isolation {mode}" in out
    counts = re.findall(r"workers: (\d+)", out)
    assert len(counts) == 14 and set(counts) == ({"0"} if mode == "none" else {"2"}), counts


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--conformance-timeout=0", "--conformance-timeout takes seconds, more than zero"),
        ("--conformance-memory-limit=-1", "--conformance-memory-limit takes megabytes"),
        ("--conformance-isolation=thread", "invalid choice: 'thread'"),
    ],
)
def test_bad_isolation_options_are_usage_errors(
    pytester: pytest.Pytester, specs: Path, option: str, message: str
) -> None:
    result = run(pytester, "specs", "--conformance", option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


def test_an_unknown_backend_is_a_usage_error(pytester: pytest.Pytester, specs: Path) -> None:
    result = run(pytester, "specs", "--conformance-backend", "nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "ERROR: conformance: unknown backend 'nope'" in result.stderr.str()


def test_the_plugin_is_installed_as_a_pytest11_entry_point() -> None:
    (entry,) = entry_points(group="pytest11", name="conformance")
    assert entry.value == "conformance.pytest_plugin"
