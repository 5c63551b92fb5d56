"""The peer engines' adapters (mygrad, tinygrad, paddle) and the peers matrix generator."""

from __future__ import annotations

import importlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from conformance.backends import Unavailable, resolve_backend
from conformance.formats import peers
from conformance.report.runfile import load_run

ENGINES = {"mygrad": "mygrad", "tinygrad": "tinygrad", "paddle": "paddle"}  # backend: module


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_an_engine_that_is_not_installed_is_unavailable_with_a_hint(monkeypatch, name) -> None:
    real = importlib.util.find_spec

    def find_spec(module: str, *args, **kwargs):
        return None if module == ENGINES[name] else real(module, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    backend = resolve_backend(name)
    assert isinstance(backend, Unavailable)
    reason = backend.availability().reason
    assert "not installed" in reason and "pip install" in reason and "[peers]" in reason
    assert "\n" not in reason


def _engine(name: str):
    if importlib.util.find_spec(ENGINES[name]) is None:
        pytest.skip(f"{ENGINES[name]} is not installed (pip install '.[peers]')")
    return resolve_backend(name)


def _grad(backend, x) -> np.ndarray:
    return (
        backend.to_numpy(backend.get_attr(x, "grad"))
        if backend.is_tensor(backend.get_attr(x, "grad"))
        else np.asarray(backend.get_attr(x, "grad"))
    )


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_a_backward_through_the_real_engine(name) -> None:
    backend = _engine(name)
    backend.reset(0)
    x = backend.tensor(np.array([1.0, 2.0], dtype=np.float32), "float32", True)
    y = backend.binary("*", x, x)
    backend.call_method(backend.call_method(y, "sum", (), {}), "backward", (), {})
    backend.synchronize()
    np.testing.assert_allclose(_grad(backend, x), [2.0, 4.0])
    assert backend.dtype_name(backend.get_attr(x, "dtype")) == "float32"
    assert backend.info()["version"]


def test_mygrad_does_not_accumulate_grad_and_promotes_scalars() -> None:
    backend = _engine("mygrad")
    x = backend.tensor(np.array([1.0, 2.0], dtype=np.float32), "float32", True)
    for _ in range(2):
        backend.call_method(backend.binary("*", x, x).sum(), "backward", (), {})
    np.testing.assert_allclose(_grad(backend, x), [2.0, 4.0])  # torch: [4, 8]
    y = backend.binary("+", x, 1.5)
    assert backend.dtype_name(backend.get_attr(y, "dtype")) == "float64"  # torch: float32
    with backend.grad_mode("no_grad", ()):
        assert backend.grad_enabled() is False
    assert backend.grad_enabled() is True


def test_tinygrad_declares_what_it_lacks_and_gives_non_leaves_grad() -> None:
    backend = _engine("tinygrad")
    assert {"requires_grad", "grad_fn", "grad_mode"}.isdisjoint(backend.capabilities())
    assert "no-grad" in backend.missing_reason("grad_mode")
    x = backend.tensor(np.array([1.0, 2.0], dtype=np.float32), "float32", True)
    y = backend.binary("*", x, 2.0)
    backend.call_method(backend.call_method(y, "sum", (), {}), "backward", (), {})
    backend.synchronize()
    assert backend.get_attr(y, "grad") is not None  # torch: None for a non-leaf


def test_paddle_spells_requires_grad_as_stop_gradient() -> None:
    backend = _engine("paddle")
    x = backend.call("ones", (2,), {"requires_grad": True})
    assert x.stop_gradient is False and backend.get_attr(x, "requires_grad") is True
    with backend.grad_mode("no_grad", ()):
        y = backend.binary("*", x, 2.0)
    assert backend.get_attr(y, "requires_grad") is False
    backend.call_method(
        backend.call_method(backend.binary("*", x, 3.0), "sum", (), {}), "backward", (), {}
    )
    backend.set_attr(x, "grad", None)
    assert backend.get_attr(x, "grad") is None


def test_the_peers_matrix_renders_from_a_small_run(tmp_path: Path) -> None:
    from conformance.cli.main import main

    spec = Path(__file__).parents[2] / "specs" / "tutorial" / "in27_add.yaml"
    manifests = tmp_path / "expectations"
    manifests.mkdir()
    (manifests / "torchlike_reference.yaml").write_text(
        "xfail:\n  - id: tutorial.in27_add\n    reason: made up for the test\n"
        "    snippet: |\n      y = x + 2  # -> made up too\n"
    )
    code = main(
        [
            "run",
            "--spec",
            str(spec),
            "--backend",
            "reference",
            "--backend",
            "torchlike:reference",
            "--repeat",
            "0",
            "--report-dir",
            str(tmp_path / "r"),
            "--expectations",
            str(manifests),
        ]
    )
    assert code in (0, 1)
    run = load_run(tmp_path / "r" / "runs" / "latest.json")
    written = peers.write(run, tmp_path / "peers", manifests)
    summary = written[0].read_text()
    assert "| reference |" in summary and "| tutorial |" in summary
    assert "| threads |" in summary and "| crash | timeout |" in summary
    page = written[1].read_text()
    assert page.startswith("<!doctype html>") and "tutorial" in page
    if "made up for the test" in page:  # listed and failing: its snippet is folded under it
        assert "<details><summary>snippet</summary><pre>y = x + 2  # -&gt; made up too" in page
    assert json.loads(json.dumps(peers.counts(run, "reference")))["tutorial"]["pass"] == 1


def test_the_peers_matrix_shows_bench_times_and_ratios(tmp_path: Path) -> None:
    from conformance.cli.main import main

    spec = Path(__file__).parents[2] / "specs" / "bench" / "tutorial_chain_2x2.yaml"
    args = ["run", "--spec", str(spec), "--backend", "reference", "--backend"]
    args += ["torchlike:reference", "--timing-baseline", "reference", "--repeat", "3"]
    args += ["--bench-repeat", "3", "--bench-min-repeat", "3", "--isolation", "none"]
    assert main([*args, "--report-dir", str(tmp_path / "b")]) in (0, 1)
    bench = load_run(tmp_path / "b" / "runs" / "latest.json")
    table = peers.timings(bench)["bench.tutorial_chain_2x2"]
    assert table["reference"].ratio == 1.0 and table["reference"].rounds == 3
    written = peers.write(bench, tmp_path / "peers", None, bench)
    summary = written[0].read_text()
    assert "## Timing: bench scenarios" in summary and "(1x)" in summary
    assert "| scenario | reference (1 thr.) | torchlike:reference (1 thr.) |" in summary
    assert "Timing: bench scenarios" in written[1].read_text()
