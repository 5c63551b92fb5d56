"""What pyproject.toml cannot say: the spec set ships inside the package.

The YAML scenarios live at the repository root, in `specs/`, where contributors edit them. The
wheel carries them as `conformance/specs/` (the folder mapped in as a data-only package), so an
installed `conformance run` finds them with importlib.resources from any folder, at the
version of the release. See conformance/spec/specset.py.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["reference*", "conformance*"]), "conformance.specs"],
    package_dir={"conformance.specs": "specs"},
)
