"""The autograd tutorial 000_43258ecd882ee7f5.txt (a notebook exported as text), as specs.

The specs under ``specs/tutorial/`` carry the document's code and every number it printed, so
the tests here that run them need nothing outside the repository. ``tutorial.document`` replays
all of its cells in one session; the other specs take one cell each.

When the document itself is at hand (in ``$AUTOGRAD_SEED_DIR``, or in ``../shared/seed`` beside
the checkout), more tests run it verbatim on the reference engine (and on torch) and check that
the specs hold its code and numbers. Without it they skip, and say where they looked.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import warnings
from pathlib import Path

import pytest
import yaml

from conformance.backends import resolve_backend
from conformance.run.results import Status
from conformance.run.runner import Runner, TimingOptions
from conformance.spec import find_spec_files, load_spec, load_specs

REPO = Path(__file__).resolve().parents[2]
SPECS = REPO / "specs"
TUTORIAL = SPECS / "tutorial"
DOCUMENT_SPEC = TUTORIAL / "in26_in39_document.yaml"
DOCUMENT_NAME = "000_43258ecd882ee7f5.txt"
SEED = Path(os.environ.get("AUTOGRAD_SEED_DIR", REPO.parent / "shared" / "seed"))
DOCUMENT = SEED / DOCUMENT_NAME
# The cells the export holds: it skips In[33].
CELLS = [f"In[{n}]" for n in (26, 27, 28, 29, 30, 31, 32, 34, 35, 36, 37, 38, 39)]

needs_document = pytest.mark.skipif(
    not DOCUMENT.exists(),
    reason=(
        f"the tutorial document {DOCUMENT_NAME} is not at {DOCUMENT}: set AUTOGRAD_SEED_DIR to "
        "its folder to run it verbatim (specs/tutorial/ carries its code and numbers without it)"
    ),
)

# The export skips In[33], yet In[34] printed 3.5 after In[32]'s 1.5: one more
# ``out.backward()`` of ``x.sum()`` ran in between. We run it explicitly.
HIDDEN_IN33 = "out = x.sum()\nout.backward()\n"


# --- the specs, which need nothing outside the repository ---------------------------------------


def _cited_cells(source: str) -> set[str]:
    """The cells a `source:` names: `In[26]`, and every cell of a range `In[26]-In[29]`."""
    cells = set()
    for first, last in re.findall(r"In\[(\d+)\](?:-In\[(\d+)\])?", source):
        cells.update(f"In[{n}]" for n in range(int(first), int(last or first) + 1))
    return cells


def test_every_cell_has_its_own_spec_and_the_document_spec_covers_them_all() -> None:
    scenarios = load_specs(find_spec_files([str(TUTORIAL)]))
    own = {path.name.split("_")[0] for path in TUTORIAL.glob("in*.yaml")}
    assert {f"in{cell[3:-1]}" for cell in CELLS} <= own
    document = load_spec(DOCUMENT_SPEC)
    assert document.id == "tutorial.document"
    assert set(CELLS) <= _cited_cells(document.source)
    for scenario in scenarios:
        assert scenario.source.startswith(f"{DOCUMENT_NAME} In["), scenario.source


def test_specs_name_the_document_by_its_file_name_and_no_path() -> None:
    citing = []
    for path in sorted(SPECS.rglob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        assert "shared/" not in text, f"{path.relative_to(REPO)} names a path no user has"
        source = next((line for line in text.splitlines() if line.startswith("source:")), "")
        if DOCUMENT_NAME in source:
            citing.append(path)
            assert f"/{DOCUMENT_NAME}" not in source, f"{path.relative_to(REPO)}: {source}"
    assert len(citing) > len(CELLS)


@pytest.mark.parametrize("backend_name", ["reference", "torch-cpu"])
def test_the_tutorial_specs_pass(backend_name: str) -> None:
    if backend_name == "torch-cpu":
        pytest.importorskip("torch", reason="torch is not installed: the specs run on reference")
    scenarios = load_specs(find_spec_files([str(TUTORIAL)]))
    assert len(scenarios) >= len(CELLS) + 1
    results = Runner(None, TimingOptions(warmup=0, repeat=0)).run_all(
        scenarios, [resolve_backend(backend_name)]
    )
    failing = [r.report() for r in results if r.status is not Status.PASS]
    assert not failing, "\n".join(failing)


# --- the document itself, when it is at hand -----------------------------------------------------


def parse_cells(text: str) -> list[tuple[str, str, str]]:
    """(cell label, code, printed output) for each ``In [N]:`` cell of the export.

    The code runs to the first blank line; the output is the next run of non-blank lines.
    """
    cells = []
    for match in re.finditer(r"^In \[(\d+)\]:\n", text, flags=re.M):
        rest = text[match.end() :]
        code, _, after = rest.partition("\n\n")
        output = after.lstrip("\n").split("\n\n", 1)[0]
        cells.append((f"In[{match.group(1)}]", code + "\n", output.rstrip("\n")))
    return cells


def document_cells() -> list[tuple[str, str, str]]:
    return parse_cells(DOCUMENT.read_text(encoding="utf-8"))


def normalise(printed: str) -> str:
    printed = re.sub(r"0x[0-9a-f]+", "0x...", printed)
    return printed.replace("<ViewBackward>", "<ViewBackward0>")


def run_tutorial(module_name: str) -> list[tuple[str, str, str, list[str]]]:
    """Run every cell in one namespace; return (label, expected, got, warnings) per cell."""
    namespace: dict[str, object] = {}
    results = []
    for label, code, expected in document_cells():
        if label == "In[34]":
            exec(HIDDEN_IN33, namespace)  # noqa: S102 - trusted tutorial code, not a spec
        code = code.replace("import torch", f"import {module_name} as torch")
        out = io.StringIO()
        with contextlib.redirect_stdout(out), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            exec(code, namespace)  # noqa: S102
        results.append(
            (
                label,
                normalise(expected),
                normalise(out.getvalue().rstrip("\n")),
                [f"{w.category.__name__}: {w.message}" for w in caught],
            )
        )
    return results


@needs_document
def test_document_has_all_cells() -> None:
    assert [label for label, _, _ in document_cells()] == CELLS


@needs_document
@pytest.mark.parametrize("module_name", ["reference", "torch"])
def test_tutorial_prints_what_the_document_printed(module_name: str) -> None:
    if module_name == "torch":
        pytest.importorskip(
            "torch", reason="torch is not installed: run the tutorial on reference only"
        )
    for label, expected, got, _ in run_tutorial(module_name):
        assert got == expected, f"{label} on {module_name} printed:\n{got}\nexpected:\n{expected}"


@needs_document
def test_non_leaf_grad_warns_in_cell_32() -> None:
    cell32 = next(w for label, _, _, w in run_tutorial("reference") if label == "In[32]")
    assert any(
        w.startswith("UserWarning: The .grad attribute of a Tensor that is not a leaf")
        for w in cell32
    )


@needs_document
def test_the_document_spec_holds_every_line_of_the_documents_code() -> None:
    """Each statement, with `torch.` dropped and print() read as an expect, is in the spec."""
    spec_lines = {line.strip(" -|") for line in DOCUMENT_SPEC.read_text().splitlines()}
    missing = []
    for label, code, _ in document_cells():
        for line in code.splitlines():
            statement = line.split("#", 1)[0].strip().replace("torch.", "")
            if not statement or statement == "import torch":
                continue
            printed = re.fullmatch(r"print\((.*)\)", statement)
            if printed is None:
                if statement not in spec_lines:
                    missing.append(f"{label}: {statement}")
                continue
            for expression in (e.strip() for e in printed[1].split(",")):
                # A node prints as `<AddBackward0 object at 0x...>`: the spec checks its name().
                if not {f"expect: {expression}", f"expect: {expression}.name()"} & spec_lines:
                    missing.append(f"{label}: print({expression})")
    assert not missing, "\n".join(missing)


def _numbers(text: str) -> set[float]:
    return {float(number) for number in re.findall(r"(?<![\w.])\d+\.\d*", text)}


def _values(value: object) -> set[float]:
    if isinstance(value, list):
        return set().union(*map(_values, value))
    return {float(value)} if isinstance(value, float) else set()


@needs_document
def test_the_document_spec_holds_every_number_the_document_printed() -> None:
    steps = yaml.safe_load(DOCUMENT_SPEC.read_text(encoding="utf-8"))["steps"]
    held = set().union(*(_values(step["value"]) for step in steps if "value" in step))
    for label, _, printed in document_cells():
        missing = _numbers(re.sub(r"0x[0-9a-f]+", "", printed)) - held
        assert not missing, f"{label} printed {sorted(missing)}, which the spec does not hold"
