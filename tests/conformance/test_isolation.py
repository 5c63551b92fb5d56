"""Backends in worker processes: every fault an engine can commit becomes that scenario's
result, the worker restarts, and no other result is lost (fault injection, one per fault)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conformance.cli.main import main


def _run(
    specs: Path, report_dir: Path, *backends: str, extra: tuple[str, ...] = ()
) -> tuple[int, dict[tuple[str, str], dict[str, Any]]]:
    args = ["run", "--spec", str(specs), "--report-dir", str(report_dir), "--repeat", "0"]
    for backend in backends:
        args += ["--backend", backend]
    code = main([*args, *extra])
    run = json.loads((report_dir / "runs" / "latest.json").read_text())
    assert "incomplete" not in run
    return code, {(r["scenario"], r["backend"]): r for r in run["results"]}


FAULTS = [
    ("raise", "error", "RuntimeError"),
    ("segfault", "crash", "crashed: SIGSEGV"),
    ("os_exit", "crash", "exited with status 0"),
    ("sys_exit", "crash", "exited with status 0 (sys.exit)"),
    ("keyboard_interrupt", "error", "KeyboardInterrupt"),
    ("hang", "timeout", "timed out after 2 s"),
    ("leak", "error", "MemoryError"),
]


@pytest.mark.parametrize(("fault", "status", "cause"), FAULTS, ids=[f[0] for f in FAULTS])
def test_a_fault_is_that_scenarios_result_and_the_run_goes_on(
    fault: str,
    status: str,
    cause: str,
    fault_specs: Path,
    tmp_path: Path,
    broken_modules: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAULTY_ENGINE", fault)
    extra = ("--timeout", "2" if fault == "hang" else "60", "--memory-limit", "1024")
    code, results = _run(
        fault_specs, tmp_path / "out", "reference", "torchlike:faulty_engine", extra=extra
    )
    assert code == 1
    assert len(results) == 6
    faulty = results[("faults.b_exp", "torchlike:faulty_engine")]
    assert faulty["status"] == status
    assert not faulty["ok"]
    shown = json.dumps(faulty)
    assert cause in shown
    for name in ("faults.a_before", "faults.c_after"):
        assert results[(name, "torchlike:faulty_engine")]["status"] == "pass"
    for name in ("faults.a_before", "faults.b_exp", "faults.c_after"):
        assert results[(name, "reference")]["status"] == "pass"


def test_an_engine_printing_garbage_on_stdout_does_not_disturb_the_run(
    fault_specs: Path,
    tmp_path: Path,
    broken_modules: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FAULTY_ENGINE", "stdout")
    code, results = _run(fault_specs, tmp_path / "out", "reference", "torchlike:faulty_engine")
    assert code == 0
    assert {r["status"] for r in results.values()} == {"pass"}
    assert "garbage" not in capsys.readouterr().out  # the report's stream stays the report's


def test_a_crash_in_a_timed_rerun_is_never_green(
    fault_specs: Path, tmp_path: Path, broken_modules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAULTY_ENGINE", "segfault")
    monkeypatch.setenv("FAULTY_ENGINE_AFTER", "1")  # the check passes, the warm-up crashes
    code, results = _run(
        fault_specs,
        tmp_path / "out",
        "torchlike:faulty_engine",
        extra=("--repeat", "2", "--baseline", "reference"),
    )
    assert code == 1
    faulty = results[("faults.b_exp", "torchlike:faulty_engine")]
    assert faulty["status"] == "crash"
    assert "timed re-run crashed: SIGSEGV" in faulty["reason"]
    assert results[("faults.c_after", "torchlike:faulty_engine")]["status"] == "pass"


def test_a_backend_that_crashes_while_loading_fails_every_scenario(
    fault_specs: Path, tmp_path: Path, broken_modules: Path
) -> None:
    code, results = _run(fault_specs, tmp_path / "out", "reference", "torchlike:crash_on_import")
    assert code == 1
    for name in ("faults.a_before", "faults.b_exp", "faults.c_after"):
        crashed = results[(name, "torchlike:crash_on_import")]
        assert crashed["status"] == "crash"
        assert "crashed: SIGSEGV while loading the backend" in crashed["reason"]
        assert results[(name, "reference")]["status"] == "pass"


def test_a_plugin_that_patches_torch_cannot_change_torch_cpu(
    fault_specs: Path, tmp_path: Path, broken_modules: Path, fault_spec: Callable[[str, str], str]
) -> None:
    specs = fault_specs / "add.yaml"
    specs.write_text(fault_spec("add", "x + x"))
    code, results = _run(specs, tmp_path / "out", "torch-cpu", "torchlike:patching_torch")
    assert code == 1
    assert results[("faults.add", "torch-cpu")]["status"] == "pass"
    assert results[("faults.add", "torchlike:patching_torch")]["status"] == "fail"


def test_in_process_a_sys_exit_is_a_crash_not_a_quiet_exit(
    fault_specs: Path, tmp_path: Path, broken_modules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAULTY_ENGINE", "sys_exit")
    code, results = _run(
        fault_specs,
        tmp_path / "out",
        "reference",
        "torchlike:faulty_engine",
        extra=("--isolation", "none"),
    )
    assert code == 1
    faulty = results[("faults.b_exp", "torchlike:faulty_engine")]
    assert (faulty["status"], faulty["reason"]) == ("crash", "exited with status 0 (sys.exit)")
    assert results[("faults.c_after", "torchlike:faulty_engine")]["status"] == "pass"


def test_an_unknown_module_is_a_usage_error_from_the_worker(
    fault_specs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["run", "--spec", str(fault_specs), "--report-dir", str(tmp_path)]
    assert main([*args, "--backend", "torchlike:no_such_module_anywhere"]) == 2
    assert "cannot import no_such_module_anywhere" in capsys.readouterr().err


@pytest.mark.parametrize(
    "option", ["--timeout=0", "--timeout=inf", "--memory-limit=-1", "--threads=-2"]
)
def test_limits_are_checked(
    option: str, fault_specs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["run", "--spec", str(fault_specs), "--report-dir", str(tmp_path), option]
    assert main(args) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_a_baseline_that_hangs_is_not_run_again_for_the_others(
    tmp_path: Path,
    broken_modules: Path,
    monkeypatch: pytest.MonkeyPatch,
    fault_spec: Callable[[str, str], str],
) -> None:
    """The others' cross-checks say the baseline timed out, instead of waiting on it twice."""
    from conformance.isolation import Isolation, start_executors
    from conformance.run.runner import Runner, TimingOptions
    from conformance.spec import load_spec

    monkeypatch.setenv("FAULTY_ENGINE", "hang")
    spec = tmp_path / "cross.yaml"
    spec.write_text(fault_spec("cross", "exp(x)"))
    names = ["torchlike:faulty_engine", "reference"]
    faulty, reference = start_executors(names, Isolation(timeout_s=2))
    try:
        runner = Runner(faulty, TimingOptions(0, 0))
        hung, compared = runner.run_all([load_spec(spec)], [faulty, reference])
    finally:
        faulty.close()
        reference.close()
    assert hung.status.value == "timeout"
    assert faulty.restarts == 0  # killed once, and never started again for this scenario
    note = "cross-backend checks skipped: torchlike:faulty_engine timed out after 2 s"
    assert any(note in n for n in compared.notes)


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("threads", [1, 3])
def test_a_worker_starts_with_its_thread_count_in_its_environment(
    threads: int, broken_modules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """numpy's BLAS reads the thread variables when it loads, which in a worker is before any
    of the worker's own code runs: they must be there when the process starts."""
    from conformance.isolation import Isolation, start_executors

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    (worker,) = start_executors(["torchlike:thread_probe"], Isolation(threads=threads))
    worker.close()
    assert worker.info()["version"] == f"threads-{threads}"
    assert "OMP_NUM_THREADS" not in os.environ  # the harness's own environment is unchanged


@pytest.mark.parametrize("mode", ["process", "none"])
def test_a_factorys_backend_keeps_its_own_name_in_either_mode(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Results, manifests and pytest items name a backend alike however it runs."""
    from conformance.isolation import Isolation, start_executors

    (tmp_path / "named_backend.py").write_text(
        "from conformance.backends import Unavailable\n\n"
        "def make():\n    return Unavailable('offline', 'no such device here')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    (executor,) = start_executors(["named_backend:make"], Isolation(mode=mode))
    try:
        assert executor.name == "offline"
        assert executor.availability().reason == "no such device here"
    finally:
        executor.close()


@pytest.mark.parametrize("mode", ["process", "none"])
def test_call_gives_a_result_or_a_fault_alike_in_either_mode(
    mode: str, broken_modules: Path
) -> None:
    from call_targets import raises_in_the_engine, returns_its_name, returns_what_no_pipe_carries

    from conformance.isolation import Isolation, start_executors
    from conformance.run.results import Fault, Status

    (executor,) = start_executors(["reference"], Isolation(mode=mode))
    try:
        assert executor.call(returns_its_name, "!") == "reference!"
        raised = executor.call(raises_in_the_engine)
        assert raised == Fault(Status.ERROR, "raised ValueError: engine bug")
        assert executor.call(returns_its_name, "?") == "reference?"  # the same worker goes on
        if mode == "process":
            unsent = executor.call(returns_what_no_pipe_carries)
            assert isinstance(unsent, Fault) and "could not be sent back" in unsent.reason
    finally:
        executor.close()


def test_two_scenarios_with_one_id_each_run_as_themselves(
    tmp_path: Path, fault_spec: Callable[[str, str], str]
) -> None:
    """A worker is sent a scenario's id alone only for the very scenario it holds: the
    fuzzer's programs all share one id."""
    from conformance.isolation import Isolation, start_executors
    from conformance.spec import load_spec

    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text(fault_spec("same", "x * 2") + "    value: [2.0, 2.0]\n")
    second.write_text(fault_spec("same", "x * 3") + "    value: [3.0, 3.0]\n")
    (worker,) = start_executors(["reference"], Isolation())
    try:
        for path in (first, second, first, second):
            scenario = load_spec(path)
            for outcome in (worker.check(scenario, None, None), worker.replay(scenario)):
                assert outcome.error is None and not outcome.mismatches, (path, outcome)
    finally:
        worker.close()


def test_a_usage_error_before_the_workers_are_ready_leaves_none_behind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import multiprocessing

    code = main(["run", "--spec", str(tmp_path / "missing"), "--report-dir", str(tmp_path)])
    assert code == 2
    assert "no such file, folder or glob match" in capsys.readouterr().err
    assert not multiprocessing.active_children()


def test_two_backends_of_one_name_are_a_usage_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fault_spec: Callable[[str, str], str],
) -> None:
    """Results are keyed by backend name: a second backend called `reference` would hide
    the first one's."""
    (tmp_path / "alias_backend.py").write_text(
        "from conformance.backends import resolve_backend\n\n"
        "def make():\n    return resolve_backend('reference')\n"
    )
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "a.yaml").write_text(fault_spec("a", "x * 2"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    code = main(["run", "--spec", "specs", "--report-dir", "out", "--repeat", "0",
                 "--backend", "reference", "--backend", "alias_backend:make"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "backends reference and alias_backend:make are both called" in err
