"""The op table (`conformance.optable`) against what reads it and what it names: reference
exports every op as the table spells it, each `Function` it names exists and is what the op
records, the spec guide lists its names, and a toy op added through the table alone is
accepted by the spec language, checked by gradcheck and drawn by the fuzzer."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import reference
from conformance import optable
from conformance.backends import resolve_backend
from conformance.fuzz.gradcheck import as_function
from conformance.spec import language as L
from reference.function import Function

ROOT = Path(__file__).resolve().parents[2]
_DUNDERS = {"+": "add", "-": "sub", "*": "mul", "/": "truediv", "**": "pow", "@": "matmul"}


def _dunder(syntax: str) -> str:
    """The Tensor method that runs a spelling: `x + y` __add__, `c - x` __rsub__."""
    parts = syntax.split()
    if len(parts) == 1:
        return "__neg__" if parts[0].startswith("-") else "__getitem__"
    left, symbol, _ = parts
    return f"__{'r' if left == 'c' else ''}{_DUNDERS[symbol]}__"


def _node(path: str) -> type:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


@pytest.mark.parametrize("op", optable.OPS, ids=lambda op: op.name)
def test_reference_exports_the_op_as_the_table_spells_it(op: optable.Op) -> None:
    for name in op.functions:
        assert callable(getattr(reference, name, None)), f"reference.{name}"
    for name in op.methods:
        assert callable(getattr(reference.Tensor, name, None)), f"Tensor.{name}"
    for name in op.attributes:
        assert hasattr(reference.Tensor, name), f"Tensor.{name}"
    for syntax in op.syntax:
        assert hasattr(reference.Tensor, _dunder(syntax)), f"{syntax}: Tensor.{_dunder(syntax)}"
    assert op.nodes and op.checks, f"{op.name}: a Function and a gradcheck case"
    assert all(issubclass(_node(path), Function) for path in op.nodes)


@pytest.mark.parametrize("op", optable.OPS, ids=lambda op: op.name)
def test_each_check_records_one_of_the_ops_functions(op: optable.Op) -> None:
    """The table's `nodes` are what the op records: some node of each check's graph."""
    backend = resolve_backend("reference")
    names = {_node(path).node_name for path in op.nodes}
    for check in op.checks:
        leaves = [
            reference.tensor(np.full(shape, 0.75), dtype=reference.float64, requires_grad=True)
            for shape in check.shapes
        ]
        out = as_function(backend, check.expression, len(leaves))(*leaves)
        stack, seen = [out.grad_fn], set()
        while stack:
            node = stack.pop()
            if node is not None and node not in seen:
                seen.add(node)
                stack.extend(n for n, _ in node.next_functions)
        assert names & {node.node_name for node in seen}, check.expression


def test_the_spec_language_spells_every_table_op() -> None:
    assert optable.spelled_functions() <= L.FUNCTIONS
    assert optable.spelled_methods() <= L.METHODS
    assert optable.spelled_attributes() <= L.ATTRIBUTES
    assert optable.binary_operators() == L.BINARY_OPERATORS
    assert len(set(optable.names())) == len(optable.OPS), "duplicate op names"


def test_the_spec_guide_lists_the_tables_names() -> None:
    """specs/README.md: the "math" row is the table's functions in table order; the methods
    paragraph holds every table method and attribute; the operators are listed."""
    guide = (ROOT / "specs" / "README.md").read_text()
    row = re.search(r"^\| math \| (.*) \|$", guide, re.MULTILINE)
    assert row, "the math row of the names table in specs/README.md"
    listed = [name.strip().strip("`") for name in row.group(1).split(",")]
    assert listed == list(dict.fromkeys(name for op in optable.OPS for name in op.functions))
    methods = guide[guide.index("Tensor methods:") : guide.index("Anything else")]
    for name in optable.spelled_methods() | optable.spelled_attributes():
        assert f"`{name}`" in methods, f"specs/README.md: Tensor methods: add `{name}`"
    operators = re.search(r"^`\+ .*?`", guide, re.MULTILINE)
    assert operators and set(operators.group(0).strip("`").split()) == L.BINARY_OPERATORS


_TOY = r"""
import json, math
import numpy as np
import reference
from conformance import optable
from conformance.fuzz.domain import Interval, bounded
from reference.function import Function


class Cube(Function):  # the op's Function
    node_name = "CubeBackward0"
    saves = (0,)

    def forward(self, a):
        return a**3

    def backward(self, g):
        a, _ = self.saved()
        return g * 3 * a * a


reference.cube = lambda t: Cube.apply(t)  # its export, as the table spells it
reference.Tensor.cube = lambda self: Cube.apply(self)

# the one table entry
optable.OPS = (
    *optable.OPS,
    optable.Op(
        "cube",
        functions=("cube",),
        methods=("cube",),
        nodes=("__main__.Cube",),
        fuzz=optable.Fuzz(("unary",), rule=lambda b: bounded(b.lo**3, b.hi**3), saves=True),
        checks=(optable.Check("cube(x0) * x0.cube()", ((2, 3),)),),
    ),
)

from conformance.backends import resolve_backend
from conformance.errors import Location
from conformance.fuzz import features, generator, gradcheck, ops
from conformance.fuzz.state import Value
from conformance.spec import language
from conformance.spec.compiler import Scope, compile_statements

found = {}
found["language"] = "cube" in language.FUNCTIONS and "cube" in language.METHODS
statements = compile_statements("y = cube(x)\nz = x.cube()", Location("toy", 1), Scope({"x"}))
found["compiled"] = [type(s).__name__ for s in statements]
outcomes = [o for o in gradcheck.gradcheck(resolve_backend("reference")) if o.case.op == "cube"]
found["gradcheck"] = [(o.case.expression, o.passed) for o in outcomes]
found["uncovered"] = sorted(gradcheck.uncovered())
value = Value((2,), "float32", Interval(-2.0, 2.0))
found["choices"] = [c.source for c in ops.unary_choices("x", value) if c.labels == ("cube",)]
found["differentiable"] = "cube" in ops.DIFFERENTIABLE
found["feature"] = sorted(features.features_of(frozenset({"cube"})))
found["drawn"] = any("cube" in p.ops for p in generator.sample(400))
print(json.dumps(found))
"""


def test_a_toy_op_added_through_the_table_alone() -> None:
    """A `Function`, its export and one table entry: the spec language accepts `cube(x)` and
    `x.cube()`, `conformance gradcheck` checks it, and the fuzzer offers and draws it. In a
    fresh interpreter, so the entry is in the table before anything reads it."""
    run = subprocess.run(
        [sys.executable, "-c", _TOY], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout.splitlines()[-1])
    assert found["language"] and found["compiled"] == ["Assign", "Assign"]
    assert found["gradcheck"] == [["cube(x0) * x0.cube()", True]]
    assert found["uncovered"] == []
    assert found["choices"] == ["cube(x)", "x.cube()"]
    assert found["differentiable"] and found["feature"] == ["ops"] and found["drawn"]
