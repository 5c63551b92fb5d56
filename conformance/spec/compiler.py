"""Compile statement strings into the instruction set with `ast`, rejecting anything else.

Nothing is ever evaluated here. Each rejection is a `SpecError` that names the real file line,
even inside a multi-line `|` block, says what was expected and shows the offending line.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field

from conformance.errors import Location, SpecError
from conformance.spec import language as L
from conformance.spec.limits import (
    MAX_EXPRESSION_DEPTH,
    MAX_INT_DIGITS,
    MAX_STATEMENT_CHARS,
    power_problem,
)

_RESERVED = (
    {name for name in L.FUNCTIONS if "." not in name}
    | L.RANDOM
    | L.HOOKS
    | L.BUILTINS
    | L.GRAD_MODES
    | set(L.DTYPES)
    | {"autograd"}
)
_CALLABLE = sorted(
    _RESERVED - set(L.DTYPES) - {"autograd"} | {"autograd.grad", "autograd.backward"}
)
_BINARY = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.Pow: "**",
    ast.MatMult: "@",
}
_METHOD_USES = {
    "register_hook": "hooks",
    "register_post_accumulate_grad_hook": "post_accumulate_hooks",
    "register_prehook": "node_hooks",
    "retain_grad": "retain_grad",
    "is_inference": "inference_mode",
    "add_": "inplace",
    "sub_": "inplace",
    "mul_": "inplace",
    "div_": "inplace",
    "zero_": "inplace",
}
_ATTRIBUTE_USES = {
    "retains_grad": "retain_grad",
    "next_functions": "graph_introspection",
    "requires_grad": "requires_grad",
    "grad_fn": "grad_fn",
    "is_leaf": "grad_fn",
}
_GRAD_MODE_USES = {"no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled"}
_DTYPE_USES = {
    "float64": "float64",
    "int64": "int_dtypes",
    "int32": "int_dtypes",
    "bool": "int_dtypes",
}
_BANNED = {
    ast.Lambda: "lambda is not allowed (a spec is data; hooks are scale(k) or record(name))",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.Import: "import is not allowed (a spec is data, not code)",
    ast.ImportFrom: "import is not allowed (a spec is data, not code)",
    ast.FunctionDef: "def is not allowed (a spec is data, not code)",
    ast.AsyncFunctionDef: "def is not allowed (a spec is data, not code)",
    ast.ClassDef: "class is not allowed (a spec is data, not code)",
}


@dataclass
class Scope:
    """What a scenario's earlier steps have bound, and the capabilities its steps use."""

    bound: set[str] = field(default_factory=set)
    uses: set[str] = field(default_factory=set)


LineMap = Callable[[int], int]  # the file line of each 1-based line of a statement's text


def compile_statements(
    text: str, where: Location, scope: Scope, lines: LineMap | None = None
) -> tuple[L.Stmt, ...]:
    """Compile one or more statements whose first line is at `where` (or, in a quoted
    string whose lines do not follow the file's, whose lines are where `lines` says)."""
    compiler = _Compiler(text, where, scope, lines)
    tree = compiler.parse("exec")
    assert isinstance(tree, ast.Module)
    if not tree.body:
        raise SpecError(where, "expected at least one statement, found an empty string")
    return tuple(compiler.statement(node) for node in tree.body)


def compile_expression(
    text: str, where: Location, scope: Scope, lines: LineMap | None = None
) -> L.Expr:
    """Compile the single expression of an `expect` step."""
    compiler = _Compiler(text, where, scope, lines)
    tree = compiler.parse("eval")
    assert isinstance(tree, ast.Expression)
    return compiler.expr(tree.body)


class _Compiler:
    def __init__(
        self, text: str, where: Location, scope: Scope, line_map: LineMap | None = None
    ) -> None:
        self.text = text
        self.lines = text.splitlines()
        self.where = where
        self.scope = scope
        self.line_map = line_map

    # --- errors ----------------------------------------------------------------------------

    def _at(self, lineno: int) -> Location:
        if self.line_map is not None:
            return Location(self.where.path, self.line_map(lineno))
        return Location(self.where.path, self.where.line + lineno - 1)

    def error(self, node: ast.AST, problem: str) -> SpecError:
        lineno = getattr(node, "lineno", 1)
        return SpecError(self._at(lineno), problem + self._shown(lineno))

    def _shown(self, lineno: int) -> str:
        """The offending line, to print under the problem (cut short when long)."""
        shown = self.lines[lineno - 1].strip() if 0 < lineno <= len(self.lines) else ""
        if len(shown) > _SHOWN_CHARS:
            shown = shown[: _SHOWN_CHARS - 3] + "..."
        return f"\n    in: {shown}" if shown else ""

    def parse(self, mode: str) -> ast.AST:
        """The text's syntax tree, once it is known to be small and shallow enough to walk."""
        what = "an expression" if mode == "eval" else "Python-style statements"
        if len(self.text) > MAX_STATEMENT_CHARS:
            raise SpecError(
                self._at(1),
                f"expected {what} of at most {MAX_STATEMENT_CHARS:,} characters, "
                f"found {len(self.text):,}",
            )
        try:
            tree = ast.parse(self.text, mode=mode)
        except SyntaxError as exc:
            lineno = exc.lineno or 1
            raise SpecError(
                self._at(lineno),
                f"expected {what}, found a syntax error ({_first_clause(exc.msg)})"
                + self._shown(lineno),
            ) from None
        except (ValueError, MemoryError, RecursionError) as exc:
            # Python's parser gives up on deep nesting (10,000 unary minus) this way, and on
            # a NUL character with ValueError.
            deep = "nesting too deep for Python's parser"
            problem = str(exc) if isinstance(exc, ValueError) else deep
            raise SpecError(self._at(1), f"expected {what}, found {problem}") from None
        self.check_depth(tree)
        return tree

    def check_depth(self, tree: ast.AST) -> None:
        """Refuse deep nesting (hundreds of chained calls, indexes or operators) before the
        compiler, which recurses, walks it."""
        stack = [(tree, 0)]
        while stack:
            node, depth = stack.pop()
            if depth > MAX_EXPRESSION_DEPTH:
                raise self.error(
                    node,
                    f"expected expressions nested at most {MAX_EXPRESSION_DEPTH} deep, found "
                    "deeper nesting (a long chain of calls, indexes or operators)",
                )
            stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))

    def banned(self, node: ast.AST) -> SpecError:
        reason = _BANNED.get(type(node))
        if reason is None:
            reason = f"{type(node).__name__} is not part of the spec language"
        return self.error(node, reason)

    # --- statements ------------------------------------------------------------------------

    def statement(self, node: ast.stmt) -> L.Stmt:
        line = self._at(node.lineno).line
        if isinstance(node, ast.Assign):
            value = self.expr(node.value)
            targets = tuple(self.target(target) for target in node.targets)
            return L.Assign(line, targets, value)
        if isinstance(node, ast.AugAssign):
            op = _BINARY.get(type(node.op))
            if op is None:
                raise self.error(
                    node,
                    "expected one of += -= *= /= **= @=, found another augmented assignment",
                )
            target = node.target
            if not isinstance(target, (ast.Name, ast.Attribute)):
                raise self.error(node, "expected a name or attribute before an in-place operator")
            compiled = self.expr(target)
            assert isinstance(compiled, (L.Var, L.GetAttr))
            self.scope.uses.add("inplace")
            value = self.expr(node.value)
            if op == "**":
                self.check_power(node, L.BinOp(op, compiled, value))
            return L.InPlace(line, compiled, op + "=", value)
        if isinstance(node, ast.Expr):
            return L.Evaluate(line, self.expr(node.value))
        if isinstance(node, ast.With):
            modes = tuple(self.grad_mode(item) for item in node.items)
            return L.WithModes(line, modes, tuple(self.statement(child) for child in node.body))
        if type(node) in _BANNED:
            raise self.banned(node)
        raise self.error(
            node,
            "expected an assignment, an in-place update (+= -= *= /=), a call or a `with` "
            f"grad-mode block, found {_describe(node)}",
        )

    def grad_mode(self, item: ast.withitem) -> L.GradMode:
        call = item.context_expr
        if not (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Name)
            and call.func.id in L.GRAD_MODES
        ):
            raise self.error(
                call,
                "expected a grad-mode block (with no_grad(), enable_grad(), "
                "set_grad_enabled(flag) or inference_mode())",
            )
        if item.optional_vars is not None:
            raise self.error(call, "expected `with mode():`, found `with mode() as name:`")
        if call.keywords or any(isinstance(arg, ast.Starred) for arg in call.args):
            raise self.error(call, f"{call.func.id}() takes positional arguments only here")
        if call.func.id == "inference_mode":
            self.scope.uses.add("inference_mode")
        else:
            self.scope.uses.add("grad_mode")
        return L.GradMode(call.func.id, tuple(self.expr(arg) for arg in call.args))

    def target(self, node: ast.expr) -> L.Target:
        if isinstance(node, ast.Name):
            self.check_name(node)
            if node.id in _RESERVED:
                raise self.error(
                    node, f"cannot assign to {node.id!r}: it names a function or dtype"
                )
            self.scope.bound.add(node.id)
            return L.Var(node.id)
        if isinstance(node, ast.Attribute):
            self.check_attribute_name(node)
            if node.attr in _ATTRIBUTE_USES:
                self.scope.uses.add(_ATTRIBUTE_USES[node.attr])
            if node.attr not in L.SETTABLE_ATTRIBUTES:
                allowed = ", ".join(sorted(L.SETTABLE_ATTRIBUTES))
                raise self.error(
                    node, f"cannot assign to .{node.attr}; assignable attributes are {allowed}"
                )
            return L.GetAttr(self.expr(node.value), node.attr)
        if isinstance(node, (ast.Tuple, ast.List)):
            return L.Unpack(tuple(self.target(item) for item in node.elts))
        raise self.error(
            node, f"expected a name, an attribute or a tuple to assign to, found {_describe(node)}"
        )

    # --- expressions -----------------------------------------------------------------------

    def expr(self, node: ast.expr) -> L.Expr:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, int) and node.value.bit_length() > _INT_BITS:
                raise self.error(node, f"expected an integer of at most {MAX_INT_DIGITS} digits")
            if node.value is None or isinstance(node.value, (bool, int, float, str)):
                return L.Const(node.value)
            raise self.error(node, f"expected a number, bool, None or string, found {node.value!r}")
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.List):
            return L.ListOf(tuple(self.expr(item) for item in node.elts))
        if isinstance(node, ast.Tuple):
            return L.TupleOf(tuple(self.expr(item) for item in node.elts))
        if isinstance(node, ast.BinOp):
            op = _BINARY.get(type(node.op))
            if op is None:
                raise self.error(
                    node, "expected one of the operators + - * / ** @, found another operator"
                )
            compiled = L.BinOp(op, self.expr(node.left), self.expr(node.right))
            if op == "**":
                self.check_power(node, compiled)
            return compiled
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            operand = self.expr(node.operand)
            value = operand.value if isinstance(operand, L.Const) else None
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return L.Const(-value)
            return L.Neg(operand)
        if isinstance(node, ast.UnaryOp):
            raise self.error(node, "expected unary minus, found another unary operator")
        if isinstance(node, ast.Subscript):
            return L.Index(self.expr(node.value), self.index(node.slice))
        if isinstance(node, ast.Attribute):
            return self.attribute(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        if type(node) in _BANNED:
            raise self.banned(node)
        raise self.error(node, f"{_describe(node)} is not part of the spec language")

    def check_power(self, node: ast.AST, power: L.BinOp) -> None:
        """Refuse a power of constants too large to compute (`10**10**10`) now, not at run
        time; powers of variables are bounded when they run."""
        problem = power_problem(_constant(power.left), _constant(power.right))
        if problem is not None:
            raise self.error(node, problem)

    def index(self, node: ast.expr) -> L.Expr:
        if isinstance(node, ast.Slice):
            return L.SliceOf(
                *(
                    None if part is None else self.expr(part)
                    for part in (node.lower, node.upper, node.step)
                )
            )
        if isinstance(node, ast.Tuple):
            return L.TupleOf(tuple(self.index(item) for item in node.elts))
        return self.expr(node)

    def check_name(self, node: ast.Name) -> None:
        if node.id.startswith("_"):
            raise self.error(node, f"names starting with '_' are not allowed, found {node.id!r}")

    def check_attribute_name(self, node: ast.Attribute) -> None:
        if node.attr.startswith("_"):
            raise self.error(
                node, f"attributes starting with '_' are not allowed, found .{node.attr}"
            )

    def name(self, node: ast.Name) -> L.Expr:
        self.check_name(node)
        if node.id in self.scope.bound:
            return L.Var(node.id)
        dtype = L.DTYPES.get(node.id)
        if dtype is not None:
            if dtype in _DTYPE_USES:
                self.scope.uses.add(_DTYPE_USES[dtype])
            return L.DType(dtype)
        if node.id in _RESERVED:
            raise self.error(node, f"{node.id!r} is a function: call it, as in {node.id}(...)")
        raise self.error(
            node,
            f"unknown name {node.id!r}: expected a name bound by an earlier step or a dtype "
            f"({', '.join(sorted(L.DTYPES))})",
        )

    def attribute(self, node: ast.Attribute) -> L.Expr:
        self.check_attribute_name(node)
        if node.attr in L.ATTRIBUTES:
            if node.attr in _ATTRIBUTE_USES:
                self.scope.uses.add(_ATTRIBUTE_USES[node.attr])
            return L.GetAttr(self.expr(node.value), node.attr)
        if node.attr in L.METHODS:
            raise self.error(node, f".{node.attr} is a method: call it, as in .{node.attr}(...)")
        raise self.error(
            node,
            f"unknown attribute .{node.attr}; expected one of {', '.join(sorted(L.ATTRIBUTES))}",
        )

    def arguments(self, node: ast.Call) -> tuple[tuple[L.Expr, ...], L.Kwargs]:
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.error(arg, "expected plain arguments, found *args")
        kwargs = []
        for keyword in node.keywords:
            if keyword.arg is None:
                raise self.error(node, "expected plain keyword arguments, found **kwargs")
            if keyword.arg.startswith("_"):
                raise self.error(
                    node, f"keywords starting with '_' are not allowed, found {keyword.arg}"
                )
            if keyword.arg == "create_graph" and not (
                isinstance(keyword.value, ast.Constant) and keyword.value.value is False
            ):
                self.scope.uses.add("create_graph")
            if keyword.arg == "requires_grad" and not _is_true(keyword.value):
                self.scope.uses.add("requires_grad")  # requires_grad=True is every engine's
            kwargs.append((keyword.arg, self.expr(keyword.value)))
        return tuple(self.expr(arg) for arg in node.args), tuple(kwargs)

    def call(self, node: ast.Call) -> L.Expr:
        func = node.func
        if isinstance(func, ast.Name):
            return self.function_call(node, func)
        if isinstance(func, ast.Attribute):
            self.check_attribute_name(func)
            receiver = func.value
            if (
                isinstance(receiver, ast.Name)
                and receiver.id == "autograd"
                and "autograd" not in self.scope.bound
            ):
                dotted = f"autograd.{func.attr}"
                if dotted not in L.FUNCTIONS:
                    raise self.error(
                        node,
                        f"unknown function {dotted}; expected autograd.grad or autograd.backward",
                    )
                self.scope.uses.add("autograd_grad")
                return L.Call(dotted, *self.arguments(node))
            if func.attr in L.METHODS:
                if func.attr == "register_hook" and _is_node(receiver):
                    self.scope.uses.add("node_hooks")  # grad_fn.register_hook, not a tensor's
                elif func.attr in _METHOD_USES:
                    self.scope.uses.add(_METHOD_USES[func.attr])
                elif func.attr == "requires_grad_" and not all(map(_is_true, node.args)):
                    self.scope.uses.add("requires_grad")  # requires_grad_() asks for a gradient
                elif func.attr in L.OP_CAPABILITIES:
                    self.scope.uses.add(L.OP_CAPABILITIES[func.attr])
                obj = self.expr(receiver)
                return L.CallMethod(obj, func.attr, *self.arguments(node))
            written = _module_prefix(receiver, func.attr)
            if written:
                bare = written.split(".", 1)[1]
                raise self.error(
                    node,
                    f"{written}(): drop `{written.split('.')[0]}.`; a spec calls the "
                    f"backend's functions by their bare names: {bare}(...)",
                )
            if func.attr in L.ATTRIBUTES:
                raise self.error(
                    node, f".{func.attr} is an attribute, not a method: drop the parentheses"
                )
            raise self.error(
                node,
                f"unknown method .{func.attr}(); expected one of {', '.join(sorted(L.METHODS))}",
            )
        raise self.error(node, "only named functions and methods can be called")

    def function_call(self, node: ast.Call, func: ast.Name) -> L.Expr:
        name = func.id
        self.check_name(func)
        if name in L.RANDOM:
            return self.random(node, name)
        if name in L.HOOKS:
            return self.hook(node, name)
        if name == "len":
            args, kwargs = self.arguments(node)
            if len(args) != 1 or kwargs:
                raise self.error(node, "len takes exactly one argument")
            return L.Len(args[0])
        if name in L.FUNCTIONS:
            if name in _GRAD_MODE_USES:
                self.scope.uses.add("grad_mode")
            if name in L.OP_CAPABILITIES:
                self.scope.uses.add(L.OP_CAPABILITIES[name])
            return L.Call(name, *self.arguments(node))
        if name in L.GRAD_MODES:
            raise self.error(node, f"{name}() is only allowed as a block: with {name}(): ...")
        if name in self.scope.bound:
            raise self.error(node, f"{name!r} is a value, not a function")
        raise self.error(node, f"unknown function {name!r}; expected one of {', '.join(_CALLABLE)}")

    def random(self, node: ast.Call, kind: str) -> L.Random:
        dtype = "float32"
        requires_grad: L.Expr = L.Const(False)
        for keyword in node.keywords:
            if keyword.arg == "dtype":
                value = keyword.value
                if not (isinstance(value, ast.Name) and value.id in L.DTYPES):
                    raise self.error(node, f"{kind}(dtype=...) expects a dtype name")
                dtype = L.DTYPES[value.id]
                if dtype in _DTYPE_USES:
                    self.scope.uses.add(_DTYPE_USES[dtype])
            elif keyword.arg == "requires_grad":
                requires_grad = self.expr(keyword.value)
                if not _is_true(keyword.value):
                    self.scope.uses.add("requires_grad")
            else:
                raise self.error(
                    node, f"{kind}() takes a shape, dtype= and requires_grad=; found {keyword.arg}="
                )
        if dtype not in ("float32", "float64"):
            raise self.error(
                node, f"{kind}() draws floating-point values; expected dtype float32 or float64"
            )
        args = node.args
        if any(isinstance(arg, ast.Starred) for arg in args):
            raise self.error(node, "expected plain arguments, found *args")
        return L.Random(kind, tuple(self.expr(arg) for arg in args), dtype, requires_grad)

    def hook(self, node: ast.Call, kind: str) -> L.Hook:
        if len(node.args) != 1 or node.keywords:
            raise self.error(node, f"{kind} takes exactly one argument")
        (arg,) = node.args
        if kind == "scale":
            return L.Hook(kind, self.expr(arg))
        if isinstance(arg, ast.Name):
            self.check_name(arg)
            name = arg.id
        elif isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            name = arg.value
        else:
            raise self.error(node, "record takes the name of the list to append to")
        if name in _RESERVED or not name.isidentifier() or name.startswith("_"):
            raise self.error(node, f"record({name!r}): expected a plain variable name")
        self.scope.bound.add(name)
        self.scope.uses.add("hooks")
        return L.Hook(kind, L.Const(name))


_SHOWN_CHARS = 120
_INT_BITS = int(MAX_INT_DIGITS * 3.33)  # about MAX_INT_DIGITS decimal digits


def _first_clause(message: str) -> str:
    """A parser message without its advice (Python's on long integers runs to 200 chars)."""
    return message.split(";")[0][:_SHOWN_CHARS]


def _constant(expr: L.Expr) -> object:
    """The value of a constant number or a tower of constant powers (already checked to be
    small enough to compute); None for anything else."""
    if isinstance(expr, L.Const):
        return expr.value
    if isinstance(expr, L.BinOp) and expr.op == "**":
        base, exponent = _constant(expr.left), _constant(expr.right)
        numbers = (int, float)
        if isinstance(base, numbers) and isinstance(exponent, numbers):
            try:
                return base**exponent
            except (OverflowError, ZeroDivisionError):
                return None
    return None


def _describe(node: ast.AST) -> str:
    """A reader's name for an ast node: 'a for statement', 'a comparison'."""
    names = {
        "For": "a for loop",
        "While": "a while loop",
        "If": "an if statement",
        "Try": "a try statement",
        "Return": "a return statement",
        "Delete": "a del statement",
        "Global": "a global statement",
        "Nonlocal": "a nonlocal statement",
        "Assert": "an assert statement",
        "Raise": "a raise statement",
        "Pass": "a pass statement",
        "AnnAssign": "an annotated assignment",
        "Compare": "a comparison",
        "BoolOp": "and/or",
        "IfExp": "a conditional expression",
        "Dict": "a dict",
        "Set": "a set",
        "JoinedStr": "an f-string",
        "NamedExpr": "an assignment expression (:=)",
        "Starred": "a starred expression",
        "Subscript": "an index assignment",
        "Await": "await",
        "Yield": "yield",
    }
    return names.get(type(node).__name__, f"a {type(node).__name__} node")


def _is_true(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _module_prefix(receiver: ast.expr, name: str) -> str:
    """`torch.ones` for `torch.ones(3)`, `torch.autograd.grad` for `torch.autograd.grad(...)`:
    a function the spec language knows, written with its module out of habit ("" if not)."""
    dotted = ast.unparse(receiver)
    head, _, tail = dotted.partition(".")
    if head not in ("torch", "reference"):
        return ""
    known = f"{tail}.{name}" if tail else name
    return f"{dotted}.{name}" if known in L.FUNCTIONS | L.RANDOM else ""


def _is_node(receiver: ast.expr) -> bool:
    """Whether an expression visibly names a graph node: ``….grad_fn`` or an entry of
    ``….next_functions`` (a name bound to a node is not seen: list node_hooks then)."""
    while isinstance(receiver, ast.Subscript):
        receiver = receiver.value
    return isinstance(receiver, ast.Attribute) and receiver.attr in ("grad_fn", "next_functions")
