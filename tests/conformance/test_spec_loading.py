"""Spec files load into frozen dataclasses, and every mistake is one SpecError at file:line."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from conformance.errors import SpecError, SpecErrors, UsageError
from conformance.spec import find_spec_files, load_spec, load_specs
from conformance.spec import language as L
from conformance.spec.model import Expect, NoWarning, Run, Warns

DATA = Path(__file__).parent / "data" / "pass"
FIRST_STEP_LINE = 9  # where `write_spec` puts the first step


def error_for(path: Path) -> SpecError:
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    return caught.value


def test_a_good_spec_loads_into_frozen_dataclasses() -> None:
    scenario = load_spec(DATA / "no_grad.yaml")
    assert scenario.id == "harness.no_grad"
    assert scenario.tags == ("harness", "no_grad")
    assert scenario.seed == 0
    kinds = [type(step) for step in scenario.steps]
    assert kinds == [Run, Expect, Expect, Expect, Expect, Run, Expect]
    with pytest.raises(dataclasses.FrozenInstanceError):
        scenario.id = "other"  # type: ignore[misc]


def test_statements_in_a_block_keep_their_real_file_lines() -> None:
    block = load_spec(DATA / "no_grad.yaml").steps[0]
    assert isinstance(block, Run)
    # The `|` is on line 9, so the block's statements are on lines 10 to 14.
    assert [stmt.line for stmt in block.body] == [10, 11, 12, 14]
    with_block = block.body[2]
    assert isinstance(with_block, L.WithModes)
    assert with_block.modes == (L.GradMode("no_grad", ()),)
    assert [stmt.line for stmt in with_block.body] == [13]


def test_an_error_inside_a_block_names_its_own_line(write_spec) -> None:
    path = write_spec(
        "  - |\n"  # line 9
        "    x = ones(2, requires_grad=True)\n"  # line 10
        "    with no_grad():\n"  # line 11
        "        y = x.numpy()\n"  # line 12
    )
    error = error_for(path)
    assert str(error).startswith(f"{path}:12: unknown method .numpy()")
    assert "in: y = x.numpy()" in str(error)


def test_expect_and_metadata_keys_are_parsed(write_spec) -> None:
    path = write_spec(
        "  - x = ones(2, requires_grad=True)\n"
        "  - expect: x * 2\n"
        "    value: [2, 2.0]\n"
        "    rtol: 1e-3\n"
        "    dtype: float\n"
        "    grad_fn: null\n"
        "  - expect: x\n"
    )
    first, pinned, cross = load_spec(path).steps
    assert isinstance(pinned, Expect) and isinstance(cross, Expect)
    assert pinned.pinned and pinned.value == (2, 2.0) and not pinned.cross_backend
    assert pinned.rtol == 1e-3 and pinned.atol is None  # `1e-3` is a float, as in YAML 1.2
    assert [(check.key, check.expected) for check in pinned.meta] == [
        ("dtype", "float32"),
        ("grad_fn", None),
    ]
    assert cross.cross_backend and cross.where.line == FIRST_STEP_LINE + 6


def test_statements_compile_to_the_instruction_set(write_spec) -> None:
    path = write_spec(
        "  - |\n"
        "    x = randn(2, 3, dtype=float64, requires_grad=True)\n"
        "    g, = autograd.grad(x.sum(), [x])\n"
        "    x.grad = None\n"
        "    x *= -2\n"
        "    h = x.register_hook(record(seen))\n"
        "    y = x[0, 1:]\n"
    )
    (step,) = load_spec(path).steps
    assert isinstance(step, Run)
    random, unpack, set_grad, scale, hook, index = step.body
    assert random == L.Assign(
        10, (L.Var("x"),), L.Random("randn", (L.Const(2), L.Const(3)), "float64", L.Const(True))
    )
    assert isinstance(unpack, L.Assign) and isinstance(unpack.targets[0], L.Unpack)
    assert set_grad == L.Assign(12, (L.GetAttr(L.Var("x"), "grad"),), L.Const(None))
    assert scale == L.InPlace(13, L.Var("x"), "*=", L.Const(-2))
    assert isinstance(hook, L.Assign) and hook.value.args == (L.Hook("record", L.Const("seen")),)
    assert index.value == L.Index(
        L.Var("x"), L.TupleOf((L.Const(0), L.SliceOf(L.Const(1), None, None)))
    )


def test_capabilities_used_by_the_steps_are_inferred(write_spec) -> None:
    path = write_spec(
        "  - |\n"
        "    x = ones(2, dtype=float64, requires_grad=True)\n"
        "    h = x.register_hook(scale(2))\n"
        "    with inference_mode():\n"
        "        y = x * 2\n"
        "    g = autograd.grad(x.sum(), x, create_graph=True)\n"
    )
    scenario = load_spec(path)
    assert scenario.requires == frozenset()
    assert scenario.needs == {"float64", "hooks", "inference_mode", "autograd_grad", "create_graph"}


def test_asking_whether_a_tensor_is_an_inference_tensor_needs_inference_mode(write_spec) -> None:
    path = write_spec("  - x = ones(2)\n  - expect: x.is_inference()\n    value: false\n")
    assert load_spec(path).needs == {"inference_mode"}


def test_hooks_on_nodes_and_after_accumulation_need_their_own_capabilities(write_spec) -> None:
    """A node's hooks and post-accumulate hooks are separate capabilities from a tensor's
    register_hook, so a backend with only the latter reports those scenarios unsupported."""
    path = write_spec(
        "  - |\n"
        "    x = ones(2, requires_grad=True)\n"
        "    y = x * 2\n"
        "    h = y.grad_fn.register_hook(record(seen))\n"
        "    h = y.grad_fn.next_functions[0][0].register_hook(record(seen))\n"
        "    h = x.register_post_accumulate_grad_hook(record(seen))\n"
    )
    needs = {"node_hooks", "post_accumulate_hooks", "graph_introspection", "hooks", "grad_fn"}
    assert load_spec(path).needs == needs
    path = write_spec(
        "  - |\n    x = ones(2, requires_grad=True)\n    h = x.register_hook(record(s))\n"
    )
    assert load_spec(path).needs == {"hooks"}


def test_augmented_subtraction_and_division_stay_operators_not_methods(write_spec) -> None:
    path = write_spec(
        "  - |\n    x = ones(2)\n    x -= 1\n    x.grad /= 2\n    y = x.sub_(1).div_(2)\n"
    )
    (step,) = load_spec(path).steps
    assert isinstance(step, Run)
    _, sub, div, methods = step.body
    assert sub == L.InPlace(11, L.Var("x"), "-=", L.Const(1))
    assert div == L.InPlace(12, L.GetAttr(L.Var("x"), "grad"), "/=", L.Const(2))
    assert isinstance(methods, L.Assign) and isinstance(methods.value, L.CallMethod)
    assert methods.value.name == "div_"
    assert load_spec(path).needs == {"inplace"}


def test_values_may_hold_strings_and_nulls(write_spec) -> None:
    path = write_spec(
        "  - x = ones(2, requires_grad=True)\n"
        "  - expect: x.exp().grad_fn.name()\n"
        "    value: ExpBackward0\n"
        "  - expect: (x * 2).grad_fn.next_functions\n"
        "    value: [['torch::autograd::AccumulateGrad', 0], [null, 0]]\n"
    )
    _, name, edges = load_spec(path).steps
    assert isinstance(name, Expect) and name.value == "ExpBackward0"
    assert isinstance(edges, Expect)
    assert edges.value == (("torch::autograd::AccumulateGrad", 0), (None, 0))


def test_warns_none_checks_that_nothing_warns(write_spec) -> None:
    path = write_spec(
        "  - x = ones(2, requires_grad=True)\n"
        "  - expect: x.grad\n"
        "    warns: none\n"
        "  - warns: none\n"
        "    run: g = x.grad\n"
    )
    _, expect, step = load_spec(path).steps
    assert isinstance(expect, Expect) and expect.warns == NoWarning()
    assert isinstance(step, Warns) and step.expected.describe() == "no warning"


# Each bad input: (steps or whole-file text, expected line, a fragment of the message).
BAD_STEPS = {
    "unknown function": ("  - y = foo(1)\n", 9, "unknown function 'foo'"),
    "unknown method": ("  - x = ones(2)\n  - y = x.storage()\n", 10, "unknown method .storage()"),
    "unknown attribute": ("  - x = ones(2)\n  - y = x.device\n", 10, "unknown attribute .device"),
    "__import__": ("  - os = __import__('os')\n", 9, "names starting with '_' are not allowed"),
    "dunder attribute": (
        "  - x = ones(2)\n  - c = x.__class__\n",
        10,
        "attributes starting with '_'",
    ),
    "private attribute": (
        "  - x = ones(2)\n  - v = x._version\n",
        10,
        "attributes starting with '_'",
    ),
    "lambda": (
        "  - |\n    x = ones(2)\n    h = x.register_hook(lambda g: g)\n",
        11,
        "lambda is not",
    ),
    "unquoted colon": ("  - h = f(lambda g: g)\n", 9, "quote a statement holding ': '"),
    "import": ("  - import os\n", 9, "import is not allowed"),
    "def": ("  - |\n    def f():\n        pass\n", 10, "def is not allowed"),
    "comprehension": ("  - y = [i for i in [1, 2]]\n", 9, "comprehensions are not allowed"),
    "for loop": ("  - |\n    for i in [1]:\n        x = 1\n", 10, "found a for loop"),
    "comparison": ("  - x = ones(2)\n  - expect: x == x\n    value: true\n", 10, "a comparison"),
    "unbound name": ("  - y = x + 1\n", 9, "unknown name 'x'"),
    "call of a value": ("  - x = ones(2)\n  - y = x(1)\n", 10, "'x' is a value, not a function"),
    "no_grad outside with": ("  - m = no_grad()\n", 9, "only allowed as a block"),
    "syntax error": ("  - |\n    x = ones(2)\n    y = (x +\n", 11, "syntax error"),
    "rebinding a function": ("  - ones = 1\n", 9, "cannot assign to 'ones'"),
    "other with": ("  - |\n    with open('f'):\n        x = 1\n", 10, "expected a grad-mode block"),
    "assign to is_leaf": (
        "  - x = ones(2)\n  - x.is_leaf = True\n",
        10,
        "cannot assign to .is_leaf",
    ),
    "unknown exception": (
        "  - raises: RuntimeErorr\n    run: x = 1\n",
        9,
        "expected an exception type (like RuntimeError), found 'RuntimeErorr' "
        "(did you mean 'RuntimeError'?)",
    ),
    "bad regex": (
        "  - warns: UserWarning\n    match: '(('\n    run: x = 1\n",
        10,
        "regular expression",
    ),
    "unknown step key": (
        "  - expect: 1\n    valeu: 1\n",
        10,
        "unknown key 'valeu' (did you mean 'value'?)",
    ),
    "step without a kind": (
        "  - value: 1\n",
        9,
        "expected a mapping with one of expect, raises, warns",
    ),
    "expect not a string": ("  - expect: [1]\n", 9, "expect: expected a string, found a list"),
    "ragged value": ("  - expect: len([1])\n    value: [[1, 2], [3]]\n", 10, "rectangular"),
    "mapping value": (
        "  - expect: len([1])\n    value: {a: 1}\n",
        10,
        "value: expected numbers, booleans, strings or nested lists, found a mapping",
    ),
    "warns none with match": (
        "  - warns: none\n    match: x\n    run: x = 1\n",
        10,
        "match: warns: none has no message to match",
    ),
    "warns null": (
        "  - warns: null\n    run: x = 1\n",
        9,
        "warns: expected a warning category, or none to check that nothing warns; found null",
    ),
    "unknown warning": (
        "  - warns: UserWarnig\n    run: x = 1\n",
        9,
        "expected a warning category (like UserWarning) or none, found 'UserWarnig' "
        "(did you mean 'UserWarning'?)",
    ),
    "floor division in place": (
        "  - |\n    x = ones(2)\n    x //= 2\n",
        11,
        "expected one of += -= *= /= **= @=",
    ),
    "folded block": ("  - >\n    x = 1\n", 9, "use a `|` block"),
    "empty steps": ("  []\n", 9, "expected at least one step"),
}


@pytest.mark.parametrize("case", list(BAD_STEPS), ids=list(BAD_STEPS))
def test_each_bad_step_is_one_clear_error(write_spec, case: str) -> None:
    steps, line, fragment = BAD_STEPS[case]
    path = write_spec(steps)
    error = error_for(path)
    assert error.where is not None and (error.where.path, error.where.line) == (str(path), line)
    assert str(error).startswith(f"{path}:{line}: ")
    assert fragment in str(error)


BAD_FILES = {
    "malformed YAML": (
        "spec: 1\nid: [unclosed\ntitle: x\n",
        3,
        "malformed YAML: while parsing a flow sequence (from line 2), did not find expected ','",
    ),
    "not a mapping": ("- 1\n- 2\n", 1, "the spec: expected a mapping, found a list"),
    "empty file": ("", 1, "found an empty file"),
    "duplicate key": ("spec: 1\nspec: 1\n", 2, "duplicate key 'spec' (first given on line 1)"),
    "python tag": (
        "spec: !!python/object/apply:os.system ['true']\n",
        1,
        "expected plain YAML data",
    ),
    "missing keys": ("spec: 1\nid: a.b\n", 1, "missing required keys title, tags, requires"),
    "unknown key": (
        "spec: 1\nid: a.b\ntittle: x\n",
        3,
        "unknown key 'tittle' (did you mean 'title'?)",
    ),
    "wrong version": ("spec: 2\n", 1, "spec: expected 1 (the format this harness reads), found 2"),
}
FULL = (
    "spec: 1\nid: a.b\ntitle: t\ntags: [a]\nrequires: []\nsource: s\nrationale: r\n"
    "steps:\n  - x = 1\n"
)
BAD_FIELDS = {
    "tags not a list": (
        FULL.replace("tags: [a]", "tags: a"),
        4,
        "tags: expected a list, found a string",
    ),
    "bad id": (FULL.replace("id: a.b", "id: Not An Id"), 2, "id: expected dotted lowercase words"),
    "unknown capability": (
        FULL.replace("requires: []", "requires: [hook]"),
        5,
        "unknown capability 'hook' (did you mean 'hooks'?)",
    ),
    "seed a bool": (FULL + "seed: true\n", 10, "seed: expected an integer, found a boolean (true)"),
    "yaml 1.1 boolean tag": (
        FULL.replace("tags: [a]", "tags: [a, no]"),
        4,
        "tags: expected a string, found a boolean (false) (YAML reads on/off/yes/no/true/false "
        "as booleans: quote the word)",
    ),
}


@pytest.mark.parametrize("case", [*BAD_FILES, *BAD_FIELDS])
def test_each_bad_file_is_one_clear_error(tmp_path: Path, case: str) -> None:
    text, line, fragment = {**BAD_FILES, **BAD_FIELDS}[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    error = error_for(path)
    assert str(error).startswith(f"{path}:{line}: "), str(error)
    assert fragment in str(error)


def test_duplicate_ids_across_files_are_rejected(write_spec) -> None:
    first = write_spec("  - x = 1\n", id="same.id", name="a.yaml")
    second = write_spec("  - x = 2\n", id="same.id", name="b.yaml")
    with pytest.raises(SpecError) as caught:
        load_specs([first, second])
    assert str(caught.value) == f"{second}:2: duplicate id 'same.id'; first defined at {first}:2"


def test_errors_in_several_files_are_reported_together(write_spec) -> None:
    first = write_spec("  - y = foo()\n", name="a.yaml")
    second = write_spec("  - import os\n", name="b.yaml")
    with pytest.raises(SpecErrors) as caught:
        load_specs([first, second])
    assert [error.where.path for error in caught.value.errors] == [str(first), str(second)]
    assert str(caught.value).endswith("2 spec errors")


def test_spec_files_are_found_in_folders_and_globs(tmp_path: Path) -> None:
    (tmp_path / "deep" / "er").mkdir(parents=True)
    for name in ("a.yaml", "deep/b.yml", "deep/er/c.yaml", "deep/notes.md"):
        (tmp_path / name).write_text("", encoding="utf-8")
    found = find_spec_files([str(tmp_path)])
    assert [path.name for path in found] == ["a.yaml", "b.yml", "c.yaml"]
    assert find_spec_files([str(tmp_path / "deep" / "**" / "*.yaml")]) == [
        tmp_path / "deep/er/c.yaml"
    ]
    with pytest.raises(UsageError, match="no such file"):
        find_spec_files([str(tmp_path / "missing")])


@pytest.mark.parametrize(
    ("statement", "hint"),
    [
        ("y = torch.ones(3)", "torch.ones(): drop `torch.`"),
        ("g = torch.autograd.grad(x.sum(), x)", "torch.autograd.grad(): drop `torch.`"),
    ],
)
def test_a_torch_prefix_gets_a_hint_to_drop_it(write_spec, statement: str, hint: str) -> None:
    path = write_spec(f"  - x = ones(2, requires_grad=True)\n  - {statement}\n")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert f"{path.name}:10" in str(caught.value) and hint in str(caught.value)
