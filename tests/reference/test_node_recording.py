"""Node recording is written out four times, for speed: ``Function.apply`` (one tensor),
``Function.binary`` (two), ``Function._record``/``_link`` (any arity) and
``CopySlices.at`` (an in-place op through a view). This checks that they set the same
fields, found by introspection: a field that one path sets and another forgets, including a
slot added later, fails here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import reference
from reference.function import Function, Node
from reference.ops.arithmetic import Where
from reference.ops.shape import CopySlices
from reference.tensor import Tensor

# fields whose kind of value depends on the op, not on the path: what it saves
BY_OP = {"_saved"}
_MISSING = object()


def _leaf() -> Tensor:
    return reference.tensor(np.arange(1.0, 7.0).reshape(2, 3), requires_grad=True)


def _via_apply() -> Tensor:
    return _leaf().exp()  # one tensor: Function.apply's own spelled-out path


def _via_binary() -> Tensor:
    return _leaf() * _leaf()  # two tensors, no parameters: Function.binary


def _via_record() -> Tensor:
    condition = np.array([[True, False, True], [False, True, False]])
    return Where.apply(_leaf(), _leaf(), condition)  # a parameter: Function._apply, _record


def _via_copy_slices() -> Tensor:
    base = _leaf() * 1
    base[0].mul_(_leaf()[1])  # in place through a view: CopySlices.at
    assert isinstance(base.grad_fn, CopySlices)
    return base


PATHS: dict[str, Callable[[], Tensor]] = {
    "apply": _via_apply,
    "binary": _via_binary,
    "record": _via_record,
    "copy_slices": _via_copy_slices,
}


def _slots(cls: type) -> list[str]:
    """Every slot ``cls`` and its bases declare, but the weakref's."""
    names = [s for klass in cls.__mro__ for s in getattr(klass, "__slots__", ())]
    return [s for s in dict.fromkeys(names) if s != "__weakref__"]


def _fields(obj: Any, names: list[str]) -> dict[str, str]:
    """Each field's kind of value: unset, None, a node, or its type's name."""
    kinds = {}
    for name in names:
        value = getattr(obj, name, _MISSING)
        if value is _MISSING or value is None:
            kinds[name] = "unset" if value is _MISSING else "None"
        else:
            kinds[name] = "Node" if isinstance(value, Node) else type(value).__name__
    return kinds


def _recorded(path: str) -> tuple[Tensor, Node]:
    result = PATHS[path]()
    node = result.grad_fn
    assert isinstance(node, Function), path
    return result, node


def test_each_path_is_the_one_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """A changed dispatch would leave a path untested: count the calls of each."""
    called: list[str] = []
    for name, path in (("binary", "binary"), ("_apply", "record")):
        original = Function.__dict__[name].__func__

        def counted(cls: type, *args: Any, _f: Any = original, _path: str = path) -> Any:
            called.append(_path)
            return _f(cls, *args)

        monkeypatch.setattr(Function, name, classmethod(counted))
    for path in PATHS:
        called.clear()
        PATHS[path]()
        assert path in called if path in ("binary", "record") else path not in called
    called.clear()
    _via_apply()
    assert called == []


@pytest.mark.parametrize("path", [p for p in PATHS if p != "apply"])
def test_node_fields_match_apply(path: str) -> None:
    """Every slot of Node and Function is set, to the same kind of value, on every path."""
    names = _slots(Function)
    _, expected = _recorded("apply")
    _, node = _recorded(path)
    want, got = _fields(expected, names), _fields(node, names)
    assert "unset" not in want.values(), want
    differing = {n: (want[n], got[n]) for n in names if want[n] != got[n] and n not in BY_OP}
    assert not differing, f"{path} records these fields unlike apply: {differing}"
    assert got.get("_saved") != "unset"


@pytest.mark.parametrize("path", list(PATHS))
def test_node_fields_agree_with_each_other(path: str) -> None:
    """Edges, needs_input_grad and inputs' metadata line up, one per input; the node is
    fresh: no hooks, not released, ordered after every node made before it."""
    _, before = _recorded("apply")  # a node made before it
    _, node = _recorded(path)
    assert len(node._next) == len(node.needs_input_grad) == len(node._meta)
    assert node.needs_input_grad == tuple(edge is not None for edge in node._next)
    for shape, dtype in node._meta:
        assert isinstance(shape, tuple) and isinstance(dtype, np.dtype)
    assert node._hooks is None and node._pre_hooks is None and node._post_hooks is None
    assert node._released is False
    assert isinstance(node._seq, int)
    assert node._seq > before._seq


@pytest.mark.parametrize("path", list(PATHS))
def test_result_fields_match_apply(path: str) -> None:
    """The tensor each path hands back is set up alike: every slot of Tensor."""
    names = _slots(Tensor)
    expected, _ = _recorded("apply")
    result, node = _recorded(path)
    want, got = _fields(expected, names), _fields(result, names)
    assert "unset" not in want.values(), want
    differing = {n: (want[n], got[n]) for n in names if want[n] != got[n]}
    assert not differing, f"{path} makes its result unlike apply: {differing}"
    assert result._rg is True and result._grad_fn is node
