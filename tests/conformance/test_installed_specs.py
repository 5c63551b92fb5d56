"""The package as a plug-in author gets it: a wheel installed in a fresh venv, used from a
folder outside any checkout.

One venv per session (building and installing take a few seconds): the wheel is built from a
copy of the repository's packaging files, so the checkout is left untouched. The venv gets its
dependencies (numpy, PyYAML, tqdm, packaging, and setuptools to build the plug-in) from this
test's own environment through a `.pth` file, so no network is needed; its own site-packages
comes first, so `conformance` is the installed wheel, never the checkout (checked).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
import venv
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.version import Version

from conformance.spec import find_spec_files, load_each_spec

ROOT = Path(__file__).parents[2]
# What a wheel is built from: the packaging files and the folders they name.
SOURCES = ("pyproject.toml", "setup.py", "README.md", "conformance", "reference", "specs")
DEPENDENCIES = ("numpy", "yaml", "tqdm", "packaging", "setuptools")
PLUGIN_NAME = "myengine"

pytestmark = pytest.mark.slow  # builds a wheel and a venv, then runs every spec (about a minute)


@dataclass(frozen=True)
class Installed:
    """A fresh venv holding the wheel, and an empty folder outside any checkout to work in."""

    python: Path
    bin: Path
    work: Path
    specs: Path  # the copy of specs/ the wheel was built from
    env: dict[str, str]

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args),
            cwd=self.work,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def conformance(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return self.run(str(self.bin / "conformance"), *args, timeout=timeout)

    def pip_install(self, *args: str) -> None:
        # This environment's pip, installing into the venv (pip's --python): the venv has no
        # pip of its own, nor a setuptools older than the one building the plug-in.
        pip = [sys.executable, "-m", "pip", "--python", str(self.python), "install", "--quiet"]
        # --ignore-installed: the dependency paths below may hold this checkout's own
        # (editable) install of the same version, which pip would take as already there
        done = self.run(*pip, "--no-deps", "--no-index", "--ignore-installed", *args)
        assert done.returncode == 0, done.stdout + done.stderr


def _missing_build_tools() -> str | None:
    # Versions from the installed metadata: neither pip nor setuptools is imported, or even
    # looked up as a module, here. Looking up `pip` makes setuptools' distutils shim give
    # way to the stdlib's for the rest of the process, and an engine imported later that
    # imports setuptools (paddle does) then fails on the shim's assertion.
    versions = {}
    for package in ("pip", "setuptools"):
        try:
            versions[package] = Version(importlib.metadata.version(package))
        except importlib.metadata.PackageNotFoundError:
            return f"cannot build the wheel offline: {package} is not installed in this environment"
    if versions["pip"] < Version("22.3"):  # the first with `pip --python`
        return f"pip {versions['pip']} cannot install into another venv (needs 22.3)"
    return None


def _copy_sources(destination: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=ignore)
        else:
            shutil.copy2(source, destination / name)


def _dependency_paths() -> list[str]:
    """The folders this environment imports the venv's dependencies from."""
    paths: dict[str, None] = {}
    for module in DEPENDENCIES:
        spec = importlib.util.find_spec(module)
        assert spec is not None and spec.origin, f"{module} is not installed here"
        paths[str(Path(spec.origin).parents[1])] = None  # .../site-packages/numpy/__init__.py
    return list(paths)


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    reason = _missing_build_tools()
    if reason:
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("installed")
    source, dist, prefix, work = (base / name for name in ("src", "dist", "venv", "work"))
    source.mkdir()
    work.mkdir()
    _copy_sources(source)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(OMP_NUM_THREADS="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONNOUSERSITE="1")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
        + ["--no-index", "--wheel-dir", str(dist), str(source)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, f"building the wheel failed:\n{build.stdout}{build.stderr}"
    (wheel,) = dist.glob("autograd_conformance-*.whl")

    venv.create(prefix, with_pip=False, symlinks=os.name != "nt")
    bin_dir = prefix / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / ("python.exe" if os.name == "nt" else "python")
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site) / "_test_dependencies.pth").write_text(
        "\n".join(_dependency_paths()) + "\n", encoding="utf-8"
    )
    here = Installed(python, bin_dir, work, source / "specs", env)
    here.pip_install(str(wheel))
    where = here.run(str(python), "-c", "import conformance; print(conformance.__file__)")
    assert Path(where.stdout.strip()).is_relative_to(prefix), where.stdout + where.stderr
    return here


def _expected_ids(specs: Path) -> list[str]:
    scenarios, errors = load_each_spec(find_spec_files([str(specs)]))
    assert not errors, errors
    return sorted(scenario.id for scenario in scenarios)


def _write_module(folder: Path) -> None:
    """A small torch-shaped module: the reference engine under another name."""
    (folder / "mylib.py").write_text(
        textwrap.dedent(
            '''\
            """A torch-shaped engine: reference, which the wheel ships, re-exported."""

            import reference as _engine


            def __getattr__(name):
                return getattr(_engine, name)
            '''
        ),
        encoding="utf-8",
    )


def test_an_installed_package_runs_the_full_installed_spec_set_from_any_folder(
    installed: Installed,
) -> None:
    _write_module(installed.work)
    expected = _expected_ids(installed.specs)

    listing = installed.conformance("list")
    assert listing.returncode == 0, listing.stderr
    heading = listing.stdout.splitlines()[0]
    assert heading.startswith("installed spec set 0.1.0 (") and "site-packages" in heading
    assert listing.stdout.splitlines()[-1] == f"{len(expected)} scenarios"

    report = installed.work / "reports"
    args = ["--backend", "torchlike:mylib", "--baseline", "reference", "--repeat", "0"]
    done = installed.conformance("run", *args, "--report-dir", str(report))
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
    assert "no specs/ folder" not in done.stderr
    data = json.loads((report / "runs" / "latest.json").read_text(encoding="utf-8"))
    specs = data["specs"]
    assert specs["count"] == len(expected)
    assert specs["version"] == "0.1.0"
    (source,) = specs["sources"]
    assert source["origin"] == "installed" and "site-packages" in source["location"]
    ran = sorted({result["scenario"] for result in data["results"]})
    assert ran == expected
    on_mylib = [r for r in data["results"] if r["backend"] == "torchlike:mylib"]
    assert len(on_mylib) == len(expected)
    assert "0.1.0 (installed)" in (report / "report.md").read_text(encoding="utf-8")


def _write_plugin(folder: Path) -> Path:
    """The README's entry-point plug-in: a package that registers a factory under the group
    `conformance.backends`. Its engine is torch-shaped, so the factory returns the module."""
    package = folder / "myengine-conformance"
    package.mkdir()
    (package / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""\
            [build-system]
            requires = ["setuptools>=68"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "myengine-conformance"
            version = "0.0.1"

            [project.entry-points."conformance.backends"]
            {PLUGIN_NAME} = "myengine_conformance:backend"
            """
        ),
        encoding="utf-8",
    )
    (package / "myengine_conformance.py").write_text(
        textwrap.dedent(
            '''\
            """The plug-in: the backend factory the entry point names."""

            import reference


            def backend():
                # A torch-shaped module is enough; a full conformance Backend works too.
                return reference
            '''
        ),
        encoding="utf-8",
    )
    return package


def test_an_entry_point_plug_in_installs_and_runs_by_its_name(installed: Installed) -> None:
    package = _write_plugin(installed.work)
    installed.pip_install("--no-build-isolation", str(package))

    listed = installed.conformance("backends")
    assert listed.returncode == 0, listed.stderr
    assert f"{PLUGIN_NAME}: available" in listed.stdout

    report = installed.work / "plugin-reports"
    args = [
        "--backend",
        PLUGIN_NAME,
        "--baseline",
        "reference",
        "--repeat",
        "0",
        "--tag",
        "tutorial",
    ]
    done = installed.conformance("run", *args, "--report-dir", str(report))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    data = json.loads((report / "runs" / "latest.json").read_text(encoding="utf-8"))
    assert [backend["name"] for backend in data["backends"]] == [PLUGIN_NAME]
    mine = [result for result in data["results"] if result["backend"] == PLUGIN_NAME]
    assert mine and all(result["status"] == "pass" for result in mine)


def test_checking_the_build_tools_leaves_setuptools_importable() -> None:
    """In a fresh process, as the first thing a test session does before an engine that
    imports setuptools (paddle) is loaded."""
    reason = _missing_build_tools()
    if reason:
        pytest.skip(reason)
    code = (
        "from tests.conformance.test_installed_specs import _missing_build_tools\n"
        "_missing_build_tools()\n"
        "import setuptools\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
