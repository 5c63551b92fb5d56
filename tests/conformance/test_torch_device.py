"""`torch:DEVICE` backends: any device torch can name, its availability checked generically,
and `torch-cpu`/`torch-cuda` as aliases that keep their names."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.backends import TorchLike, resolve_backend
from conformance.cli.main import main
from conformance.errors import UsageError
from conformance.run.results import Status
from conformance.run.runner import Runner, TimingOptions
from conformance.spec import find_spec_files, load_spec, load_specs

torch = pytest.importorskip("torch")

DATA = Path(__file__).parent / "data"


def test_torch_cpu_runs_a_scenario_and_reports_its_device() -> None:
    backend = resolve_backend("torch:cpu")
    assert isinstance(backend, TorchLike) and backend.name == "torch:cpu"
    result = Runner(backend, TimingOptions(repeat=0)).run(
        load_spec(DATA / "pass" / "accumulation.yaml"), backend
    )
    assert result.status is Status.PASS, result.report()
    assert backend.info() == {"module": "torch", "version": torch.__version__, "device": "cpu"}


def test_torch_cuda_without_a_gpu_is_unavailable_with_a_reason() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    for name in ("torch:cuda", "torch:cuda:1", "torch-cuda"):
        backend = resolve_backend(name)
        assert backend.name == name
        availability = backend.availability()
        assert not availability.available
        assert availability.reason.startswith("CUDA is not available"), availability.reason
        scenario = load_spec(DATA / "pass" / "accumulation.yaml")
        result = Runner(None, TimingOptions(repeat=0)).run(scenario, backend)
        assert result.status is Status.UNAVAILABLE and result.reason == availability.reason


@pytest.mark.parametrize("device", ["nonsense", "cuda:x", "cuda:-1", ""])
def test_a_string_torch_cannot_read_is_a_usage_error_naming_it(device: str) -> None:
    with pytest.raises(UsageError, match=f"backend torch:{device}: '{device}' is not a torch"):
        resolve_backend(f"torch:{device}")


def test_the_run_command_refuses_a_bad_device(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["run", "--spec", str(DATA / "pass"), "--backend", "torch:nonsense", "--repeat", "0"]
    assert main(args) == 2
    assert "backend torch:nonsense: 'nonsense' is not a torch device" in capsys.readouterr().err


def test_an_index_past_the_device_count_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    # xpu stands in for any accelerator whose module answers is_available and device_count.
    monkeypatch.setattr(torch.xpu, "is_available", lambda: True)
    monkeypatch.setattr(torch.xpu, "device_count", lambda: 2)
    assert resolve_backend("torch:xpu:1").availability().available
    availability = resolve_backend("torch:xpu:2").availability()
    assert not availability.available
    assert availability.reason == "xpu:2 is not available: torch sees 2 xpu devices"


def test_a_device_without_a_module_must_allocate_a_tensor() -> None:
    # privateuseone is what a PrivateUse1 device is called before its extension renames it.
    availability = resolve_backend("torch:privateuseone").availability()
    assert not availability.available
    assert availability.reason.startswith(
        "privateuseone is not available: no tensor can be allocated there ("
    )


def test_the_alias_gives_the_same_results_as_torch_cpu() -> None:
    scenarios = load_specs(find_spec_files([str(DATA / "pass")]))
    alias, device = resolve_backend("torch-cpu"), resolve_backend("torch:cpu")
    assert alias.info() == device.info()
    runner = Runner(resolve_backend("reference"), TimingOptions(repeat=0))
    found = {
        backend.name: [
            (r.scenario.id, r.status, r.mismatches, r.reason)
            for r in runner.run_all(scenarios, [backend])
        ]
        for backend in (alias, device)
    }
    assert found["torch-cpu"] == found["torch:cpu"]
    assert {status for _, status, _, _ in found["torch-cpu"]} == {Status.PASS}


def test_the_backends_listing_shows_the_device(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backends", "--backend", "torch:cpu"]) == 0
    out = capsys.readouterr().out
    assert "torch:cpu: available\n  module torch, version" in out
    assert "device cpu" in out
    assert "torch:DEVICE" in out
