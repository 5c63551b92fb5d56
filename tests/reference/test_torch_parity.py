"""reference against PyTorch on the corners PyTorch's own autograd tests check.

Each test runs one program twice, once with ``lib`` = reference and once with ``lib`` = torch,
and compares what happened: the values it returned, or the exception it raised (type and
message), and the warnings it gave. No expected value is typed in: torch is the oracle.
"""

from __future__ import annotations

import contextlib
import types
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import reference

torch = pytest.importorskip("torch", reason="torch is the oracle these tests compare against")


def plain(value: Any) -> Any:
    """``value`` with tensors and arrays as (dtype, values), floats by repr (so that nan,
    inf and -0.0 compare as themselves), recursively."""
    if isinstance(value, (reference.Tensor, torch.Tensor)):
        return ("tensor", str(value.dtype), plain(value.tolist()))
    if isinstance(value, np.ndarray):
        return ("array", str(value.dtype), plain(value.tolist()))
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    if isinstance(value, (reference.dtype, torch.dtype)):
        return str(value)
    return value


def outcome(program: Callable[[Any], Any], lib: Any) -> tuple[Any, list[tuple[str, str]]]:
    """What ``program(lib)`` did: its result or its exception, and its warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = ("returned", plain(program(lib)))
        except Exception as exc:  # noqa: BLE001 - the exception is the observation
            result = ("raised", type(exc).__name__, str(exc))
    return result, [(w.category.__name__, str(w.message)) for w in caught]


def same(program: Callable[[Any], Any]) -> Any:
    """Run ``program`` on both; they must agree. Returns torch's outcome."""
    ours, theirs = outcome(program, reference), outcome(program, torch)
    assert ours == theirs, f"\nreference: {ours}\ntorch:     {theirs}"
    return theirs


def modes(lib: Any) -> tuple[bool, bool]:
    return lib.is_grad_enabled(), lib.is_inference_mode_enabled()


# -- grad-mode objects as decorators ---------------------------------------------------------

# Each decorator, written as a user writes it, and the caller's grad mode that differs from
# the mode it sets (so that a decorator that does nothing is seen).
DECORATORS = {
    "@no_grad": (lambda lib: lib.no_grad, True),
    "@no_grad()": (lambda lib: lib.no_grad(), True),
    "@enable_grad": (lambda lib: lib.enable_grad, False),
    "@enable_grad()": (lambda lib: lib.enable_grad(), False),
    "@inference_mode()": (lambda lib: lib.inference_mode(), True),
    "@inference_mode(False)": (lambda lib: lib.inference_mode(False), False),
    "@set_grad_enabled(False)": (lambda lib: lib.set_grad_enabled(False), True),
}


@pytest.mark.parametrize("spelling", DECORATORS)
def test_decorated_function_runs_in_the_mode(spelling: str) -> None:
    make, caller = DECORATORS[spelling]

    def program(lib: Any) -> Any:
        @make(lib)
        def probe(a: int, b: int = 0) -> Any:
            return a + b, modes(lib)

        with lib.set_grad_enabled(caller):
            return probe(1, b=2), modes(lib), probe.__name__

    same(program)


@pytest.mark.parametrize("name", ["no_grad", "enable_grad", "inference_mode"])
def test_mode_called_on_a_function_decorates_it(name: str) -> None:
    def program(lib: Any) -> Any:
        decorated = getattr(lib, name)(lambda: modes(lib))
        with lib.set_grad_enabled(name != "no_grad"):
            return decorated(), callable(decorated)

    same(program)


@pytest.mark.parametrize("spelling", DECORATORS)
def test_decorated_generator_takes_the_mode_at_every_resume(spelling: str) -> None:
    """torch enters the mode each time the generator runs and leaves it at each yield: the
    caller keeps its own mode between, whatever it sends, throws or closes."""
    make, caller = DECORATORS[spelling]

    def program(lib: Any) -> Any:
        inside = []

        @make(lib)
        def gen(start: int) -> Iterator[Any]:
            try:
                got = yield start, modes(lib)
                inside.append(("sent", got, modes(lib)))
                try:
                    yield "second", modes(lib)
                except ValueError as exc:
                    inside.append(("thrown", str(exc), modes(lib)))
                    yield "caught", modes(lib)
                return "done"
            finally:
                inside.append(("finally", modes(lib)))

        outside = []
        with lib.set_grad_enabled(caller):
            it = gen(7)
            outside.append((next(it), modes(lib)))
            outside.append((it.send("x"), modes(lib)))
            outside.append((it.throw(ValueError("boom")), modes(lib)))
            try:
                next(it)
            except StopIteration as stop:
                outside.append(("stopped", stop.value, modes(lib)))
            early = gen(1)
            next(early)
            early.close()  # GeneratorExit runs its finally in the mode
            outside.append(("closed", modes(lib)))
        return inside, outside

    same(program)


@types.coroutine
def _pause() -> Iterator[None]:
    yield


@pytest.mark.parametrize("spelling", DECORATORS)
def test_decorated_coroutine_runs_in_its_callers_mode(spelling: str) -> None:
    """torch wraps only the call that makes the coroutine: its body runs later, in whatever
    mode holds when it is driven (torch treats generators specially, not coroutines)."""
    make, caller = DECORATORS[spelling]

    def program(lib: Any) -> Any:
        @make(lib)
        async def co() -> Any:
            first = modes(lib)
            await _pause()
            return first, modes(lib)

        with lib.set_grad_enabled(caller):
            running = co()
            running.send(None)
            try:
                running.send(None)
            except StopIteration as stop:
                return stop.value, modes(lib)
        return None

    same(program)


CLASS_DECORATORS = {
    "no_grad()": lambda lib: lib.no_grad(),
    "enable_grad()": lambda lib: lib.enable_grad(),
    "inference_mode()": lambda lib: lib.inference_mode(),
    "no_grad": lambda lib: lib.no_grad,
    "enable_grad": lambda lib: lib.enable_grad,
    "set_grad_enabled(False)": lambda lib: lib.set_grad_enabled(False),
}


@pytest.mark.parametrize("spelling", CLASS_DECORATORS)
def test_decorating_a_class_warns_and_wraps_its_constructor(spelling: str) -> None:
    def program(lib: Any) -> Any:
        decorator = CLASS_DECORATORS[spelling](lib)

        class Probe:
            def __init__(self) -> None:
                self.modes = modes(lib)

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            made = decorator(Probe)
        made_one = made()
        # torch points the warning at the caller only when it is the decorator's own
        # __call__ that the caller called
        here = [w.filename == __file__ for w in caught] if spelling.endswith("()") else None
        return (
            [(w.category.__name__, str(w.message)) for w in caught],
            here,
            isinstance(made, type),
            made.__name__,
            type(made_one) is Probe,
            made_one.modes,
        )

    same(program)


# -- .grad -----------------------------------------------------------------------------------


def test_del_grad_forgets_the_gradient() -> None:
    """``del x.grad`` is ``x.grad = None``: the next backward starts a new ``.grad``."""

    def program(lib: Any) -> Any:
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        (x * 3).sum().backward()
        kept = x.grad
        del x.grad
        gone = x.grad
        (x * 5).sum().backward()
        never = lib.tensor([1.0])
        del never.grad
        return kept, gone, x.grad, x.grad is kept, never.grad

    same(program)


def test_del_grad_of_a_non_leaf() -> None:
    def program(lib: Any) -> Any:
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        y.retain_grad()
        y.sum().backward()
        del y.grad
        return y.grad, y.retains_grad

    same(program)


@pytest.mark.parametrize("requires_grad", [True, False])
def test_a_tensor_cannot_be_its_own_grad(requires_grad: bool) -> None:
    def program(lib: Any) -> Any:
        x = lib.tensor([1.0, 2.0], requires_grad=requires_grad)
        x.grad = x

    same(program)


def test_a_detach_or_a_view_of_a_tensor_may_be_its_grad() -> None:
    def program(lib: Any) -> Any:
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        x.grad = x.detach()
        first = x.grad
        y = lib.tensor([3.0, 4.0])
        y.grad = y.view(2)
        return first, y.grad

    same(program)


# -- .data -----------------------------------------------------------------------------------

DATA = {
    "float64": lambda lib: lib.tensor([1.0, 2.0], dtype=lib.float64),
    "int64": lambda lib: lib.tensor([1, 2]),
    "bool": lambda lib: lib.tensor([True, False]),
    "float32, other shape": lambda lib: lib.tensor([1.0, 2.0, 3.0]),
    "a list": lambda lib: [1.0, 2.0],
    "a float": lambda lib: 3.0,
}
HOLDERS = {
    "constant": lambda lib: lib.tensor([5.0, 6.0]),
    "leaf": lambda lib: lib.tensor([5.0, 6.0], requires_grad=True),
    "non-leaf": lambda lib: lib.tensor([5.0, 6.0], requires_grad=True) * 2,
    "view of a leaf": lambda lib: lib.tensor([5.0, 6.0], requires_grad=True)[:],
}


@pytest.mark.parametrize("holder", HOLDERS)
@pytest.mark.parametrize("data", DATA)
def test_data_assignment(holder: str, data: str) -> None:
    """torch takes any tensor as ``.data``, except one it cannot differentiate into a tensor
    that requires grad; anything else is a TypeError."""

    def program(lib: Any) -> Any:
        x = HOLDERS[holder](lib)
        x.data = DATA[data](lib)
        return x.detach(), x.requires_grad, x._version

    same(program)


# -- numpy() ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _enable_grad_inside_no_grad(lib: Any) -> Iterator[None]:
    with lib.no_grad(), lib.enable_grad():
        yield


MODES = {
    "grad mode": lambda lib: lib.enable_grad(),
    "no_grad": lambda lib: lib.no_grad(),
    "set_grad_enabled(False)": lambda lib: lib.set_grad_enabled(False),
    "inference_mode": lambda lib: lib.inference_mode(),
    "enable_grad inside no_grad": _enable_grad_inside_no_grad,
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("which", ["leaf", "non-leaf", "view"])
def test_numpy_of_a_tensor_that_requires_grad(mode: str, which: str) -> None:
    """torch refuses ``numpy()`` on a tensor that requires grad only while grad mode is on;
    otherwise the array is the tensor's memory."""

    def program(lib: Any) -> Any:
        leaf = lib.tensor([1.0, 2.0], requires_grad=True)
        x = {"leaf": leaf, "non-leaf": leaf * 2, "view": leaf[:]}[which]
        with MODES[mode](lib):
            array = x.numpy()
        array[0] = 9.0
        return array, x.detach()

    same(program)


def graph(fn: Any) -> Any:
    """A recorded graph as nested (name, children) tuples."""
    if fn is None:
        return None
    return fn.name(), [graph(child) for child, _ in fn.next_functions]


# -- number ** tensor ------------------------------------------------------------------------

EXPONENTS = [-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0, float("nan"), float("inf")]


@pytest.mark.parametrize("spelling", ["operator", "pow"])
@pytest.mark.parametrize("base", [0.0, -0.0, 0, 2.0, -2.0])
def test_gradient_of_a_number_to_a_tensor_power(base: float, spelling: str) -> None:
    """At a zero base torch's gradient is 0 where the exponent is >= 0 and
    ``result * log(0)`` elsewhere (inf times -inf), rather than the formula's nan."""

    def program(lib: Any) -> Any:
        x = lib.tensor(EXPONENTS, requires_grad=True)
        y = base**x if spelling == "operator" else lib.pow(base, x)
        y.backward(lib.ones_like(y))
        return y.detach(), x.grad, y.grad_fn.name()

    same(program)


@pytest.mark.parametrize("base", [0.0, 2.0])
def test_second_derivative_of_a_number_to_a_tensor_power(base: float) -> None:
    def program(lib: Any) -> Any:
        x = lib.tensor([-1.0, 0.0, 0.5, 2.0], dtype=lib.float64, requires_grad=True)
        (dx,) = lib.autograd.grad((base**x).sum(), x, create_graph=True)
        (ddx,) = lib.autograd.grad(dx.sum(), x, retain_graph=True)
        return dx.detach(), ddx, graph(dx.grad_fn)

    same(program)


# -- inference tensors -----------------------------------------------------------------------

VIEWS = {
    "view": lambda t: t.view(-1),
    "reshape": lambda t: t.reshape(6),
    "t": lambda t: t.t(),
    "transpose": lambda t: t.transpose(0, 1),
    "select": lambda t: t[0],
    "slice": lambda t: t[:, 1:],
    "None index": lambda t: t[None],
    "expand": lambda t: t[0:1].expand(4, 3),
    "unsqueeze": lambda t: t.unsqueeze(0),
    "detach": lambda t: t.detach(),
}


@pytest.mark.parametrize("requires_grad", [True, False])
@pytest.mark.parametrize("view", VIEWS)
def test_view_of_an_inference_tensor_outside_inference_mode(view: str, requires_grad: bool) -> None:
    """A view of an inference tensor is an inference tensor with no history, even when the
    tensor requires grad, and even made in normal mode."""

    def program(lib: Any) -> Any:
        with lib.inference_mode():
            base = lib.ones(2, 3, requires_grad=requires_grad)
        out = VIEWS[view](base)
        state = [out.is_inference(), out.requires_grad, out.is_leaf, out.grad_fn is None]
        try:
            out.sum().backward()
        except RuntimeError as exc:
            state.append(str(exc))
        return state, base.grad

    same(program)


# -- post-accumulate-grad hooks --------------------------------------------------------------


def _add_half_to_grad(t: Any) -> None:
    t.grad.add_(0.5)


def test_post_accumulate_grad_hook_ordering() -> None:
    """torch's own test: tensor hook, then the accumulator's pre-hook, then the
    post-accumulate hook, whose in-place edit of ``.grad`` the accumulator's post-hook sees
    (the accumulator took the pre-hook's result as ``.grad`` itself)."""

    def program(lib: Any) -> Any:
        x = lib.ones(3, 3, requires_grad=True)
        acc = x.view(3, 3).grad_fn.next_functions[0][0]
        x.register_hook(lambda g: g - 2.0)
        acc.register_prehook(lambda grad_out: (grad_out[0] / 5.0,))
        x.register_post_accumulate_grad_hook(_add_half_to_grad)

        def acc_post(grad_in: Any, grad_out: Any) -> None:
            x.grad = grad_out[0] * 10

        acc.register_hook(acc_post)
        x.sum().backward()
        return x.grad

    assert same(program)[0][0] == "returned"


# what a hook does with the gradient it is shown: kept, a hook holds on to the tensor
TENSOR_HOOKS: dict[str, Callable[[list[Any]], Any]] = {
    "none": lambda kept: None,
    "returns a new tensor": lambda kept: lambda g: g * 2,
    "returns None": lambda kept: lambda g: None,
    "keeps what it saw": lambda kept: lambda g: kept.append(g),
    "keeps what it returns": lambda kept: lambda g: kept.append(g * 2) or kept[-1],
}
PRE_HOOKS: dict[str, Callable[[list[Any]], Any]] = {
    "none": lambda kept: None,
    "returns a new tensor": lambda kept: lambda go: (go[0] / 4.0,),
    "returns None": lambda kept: lambda go: None,
    "keeps what it saw": lambda kept: lambda go: kept.append(go[0]),
    "keeps what it returns": lambda kept: lambda go: kept.append(go[0] / 4.0) or (kept[-1],),
}
ROOTS = {
    "x * 3": lambda lib, x: (x * 3).sum().backward(),
    "x.sum()": lambda lib, x: x.sum().backward(),
    "x with a gradient the caller holds": lambda lib, x: x.backward(lib.ones(3)),
}


@pytest.mark.parametrize("root", ROOTS)
@pytest.mark.parametrize("pre_hook", PRE_HOOKS)
@pytest.mark.parametrize("tensor_hook", TENSOR_HOOKS)
def test_post_accumulate_grad_hook_edit_of_grad(tensor_hook: str, pre_hook: str, root: str) -> None:
    """A post-accumulate hook edits ``.grad`` in place; the accumulator's post-hook sees that
    edit exactly when the leaf took the incoming gradient as its ``.grad`` (nothing else held
    it), and a tensor a hook kept never sees it (torch copies a gradient someone holds)."""

    def program(lib: Any) -> Any:
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        acc = x.view(3).grad_fn.next_functions[0][0]
        kept: list[Any] = []
        if (hook := TENSOR_HOOKS[tensor_hook](kept)) is not None:
            x.register_hook(hook)
        if (pre := PRE_HOOKS[pre_hook](kept)) is not None:
            acc.register_prehook(pre)
        x.register_post_accumulate_grad_hook(_add_half_to_grad)
        seen: list[Any] = []
        acc.register_hook(lambda grad_in, grad_out: seen.append(grad_out[0].tolist()))
        ROOTS[root](lib, x)
        return x.grad, seen, kept

    assert same(program)[0][0] == "returned"


# -- which tensors are views ---------------------------------------------------------------

VIEWS = {
    "x[0]": lambda x: x[0],
    "x[:, ::2]": lambda x: x[:, ::2],
    "x.t()": lambda x: x.t(),
    "x.reshape(6)": lambda x: x.reshape(6),
    "x.t().reshape(6)": lambda x: x.t().reshape(6),
    "x.view(3, 2)": lambda x: x.view(3, 2),
    "x.detach()": lambda x: x.detach(),
    "x * 1": lambda x: x * 1,
    "x.sum()": lambda x: x.sum(),
    "x.expand(2, 2, 3)": lambda x: x.expand(2, 2, 3),
}


@pytest.mark.parametrize("expression", list(VIEWS))
def test_is_view_says_what_torch_says(expression: str) -> None:
    """`_is_view()` is torch's private check, which layout tests and user code call."""

    def program(lib: Any) -> Any:
        x = lib.ones(2, 3, requires_grad=True)
        made = VIEWS[expression](x)
        return made._is_view(), made._base is x

    same(program)


def test_node_hooks_see_views_where_torch_does() -> None:
    """Which of the gradients a node's hooks are shown are views in memory (a sum's
    expanded gradient is; a product's is not)."""

    def program(lib: Any) -> Any:
        seen: list[Any] = []

        def show(tag: str) -> Callable[..., None]:
            def hook(*groups: Any) -> None:
                flat = [g for group in groups for g in group]
                seen.append((tag, [None if g is None else g._is_view() for g in flat]))

            return hook

        x = lib.ones(2, 3, requires_grad=True)
        y = x * 2
        total = y.sum()
        total.grad_fn.register_hook(show("sum post"))
        total.grad_fn.register_prehook(show("sum pre"))
        y.grad_fn.register_prehook(show("mul pre"))
        y.grad_fn.register_hook(show("mul post"))
        total.backward()
        flat = lib.ones(4, requires_grad=True)
        square = flat.reshape(2, 2)
        product = square * 1
        product.grad_fn.register_hook(show("mul2 post"))
        square.grad_fn.register_hook(show("view post"))
        product.backward(lib.ones(2, 2))
        return seen

    same(program)
