"""Backend names resolve to TorchLike adapters, plug-ins or clear errors; capabilities probed."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest

from conformance.backends import Backend, TorchLike, Unavailable, known_backends, resolve_backend
from conformance.errors import UsageError
from conformance.spec.language import CAPABILITIES


def test_reference_is_a_torchlike_backend() -> None:
    backend = resolve_backend("reference")
    assert isinstance(backend, TorchLike) and backend.name == "reference"
    assert backend.availability().available


def test_torch_cpu_has_every_capability() -> None:
    pytest.importorskip("torch")
    backend = resolve_backend("torch-cpu")
    assert isinstance(backend, Backend)
    assert backend.capabilities() == frozenset(CAPABILITIES)
    assert backend.info()["module"] == "torch"


def test_torch_cuda_without_cuda_is_unavailable_with_a_reason() -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    availability = resolve_backend("torch-cuda").availability()
    assert not availability.available
    assert availability.reason.startswith("CUDA is not available")


def test_torch_backends_are_unavailable_without_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    backend = resolve_backend("torch-cpu")
    assert isinstance(backend, Unavailable)
    assert backend.availability().reason == "torch is not installed (pip install torch)"


def test_unknown_names_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="unknown backend 'nope'; expected one of reference"):
        resolve_backend("nope")
    with pytest.raises(UsageError, match="cannot import no_such_module_here"):
        resolve_backend("torchlike:no_such_module_here")


def test_torchlike_imports_any_torch_shaped_module(broken_modules: Path) -> None:
    backend = resolve_backend("torchlike:torch_without_inference_mode")
    assert backend.name == "torchlike:torch_without_inference_mode"
    assert "inference_mode" not in backend.capabilities()
    assert backend.missing_reason("inference_mode") == (
        "torch_without_inference_mode has no inference_mode"
    )


def test_a_module_can_declare_its_capabilities() -> None:
    torch = pytest.importorskip("torch")
    module = types.ModuleType("declared")
    module.__dict__.update({k: v for k, v in vars(torch).items() if not k.startswith("__")})
    module.__conformance_capabilities__ = ["float64"]  # type: ignore[attr-defined]
    backend = TorchLike(module)
    assert backend.capabilities() == {"float64"}
    assert backend.missing_reason("hooks") == "declared does not declare hooks"


def test_package_module_factory_names_a_plugin(broken_modules: Path) -> None:
    backend = resolve_backend("plugin_backend:make_backend")
    assert backend.name == "plugin-torch"
    with pytest.raises(UsageError, match="expected the factory to return a conformance Backend"):
        resolve_backend("plugin_backend:not_a_backend")
    with pytest.raises(UsageError, match="plugin_backend has no attribute 'missing'"):
        resolve_backend("plugin_backend:missing")


def test_plugins_are_found_through_entry_points(
    broken_modules: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dist = tmp_path / "fake_backend_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fake-backend-plugin\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(
        "[conformance.backends]\nfake-torch = plugin_backend:make_backend\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "fake-torch" in known_backends()
    assert resolve_backend("fake-torch").name == "plugin-torch"


def test_tensors_round_trip_through_numpy_as_copies() -> None:
    pytest.importorskip("torch")
    for name in ("reference", "torch-cpu"):
        backend = resolve_backend(name)
        data = np.arange(6, dtype=np.float64).reshape(2, 3)
        tensor = backend.tensor(data, "float64", requires_grad=True)
        assert backend.is_tensor(tensor)
        assert backend.dtype_name(backend.get_attr(tensor, "dtype")) == "float64"
        host = backend.to_numpy(tensor)
        np.testing.assert_array_equal(host, data)
        host[0, 0] = 99.0
        assert backend.to_numpy(tensor)[0, 0] == 0.0, name


def test_unavailable_backends_refuse_to_run() -> None:
    backend = Unavailable("gpu-thing", "no GPU")
    assert isinstance(backend, Backend)
    with pytest.raises(RuntimeError, match="backend gpu-thing is unavailable: no GPU"):
        backend.call("ones", (1,), {})


def test_resolving_a_cwd_module_needs_no_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch = pytest.importorskip("torch")
    (tmp_path / "cwd_torchish.py").write_text("from torch import *\nfrom torch import autograd\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    backend = resolve_backend("torchlike:cwd_torchish")
    assert backend.call("ones", (2,), {}).tolist() == torch.ones(2).tolist()
