"""Repros for a failing result: the command that reruns it alone, and, for a torch-shaped
backend, a standalone Python snippet that replays the scenario up to the failing step.

The snippet is the spec's own statements with its names made explicit (`ones` becomes
`torch.ones`, `scale(2)` a lambda), so a backend author can paste it into a bug report
without installing this tool.
"""

from __future__ import annotations

import ast
import shlex
from dataclasses import dataclass

from conformance.backends.base import Backend
from conformance.isolation import Executor, executor_for
from conformance.run.results import ScenarioResult
from conformance.spec import language as L
from conformance.spec.model import Expect, Raises, Run, Step, Warns

_TORCH_NAMES = {name.split(".")[0] for name in L.FUNCTIONS} | set(L.GRAD_MODES)


@dataclass(frozen=True, slots=True)
class Repro:
    command: str
    snippet: str | None


def repro(result: ScenarioResult, backend: Backend | Executor, baseline: str | None) -> Repro:
    scenario = result.scenario
    command = ["conformance", "show", scenario.id, "--spec", scenario.where.path]
    command += ["--backend", result.backend]
    if scenario.has_cross_checks and baseline and baseline != result.backend:
        command += ["--baseline", baseline]
    snippet = None
    target = executor_for(backend).snippet_target()
    if target is not None:
        snippet = _snippet(result, *target)
    return Repro(shlex.join(command), snippet)


def _failing_line(result: ScenarioResult) -> int | None:
    if result.error is not None:
        return result.error.where.line
    if result.mismatches:
        return min(m.where.step.line for m in result.mismatches)
    return None


def _snippet(result: ScenarioResult, module: str, device: str | None) -> str:
    scenario = result.scenario
    line = _failing_line(result)
    steps = list(scenario.steps)
    if line is not None:
        steps = [step for step in steps if step.where.line <= line] or steps[:1]
    body: list[str] = []
    records: set[str] = set()
    for index, step in enumerate(steps):
        failing = index == len(steps) - 1 and line is not None
        body.extend(_step(step, result, failing, records))
    source = "\n".join(body)
    imports = [f"import {module}" if module == "torch" else f"import {module} as torch"]
    setup: list[str] = []
    if "randn(" in source or "rand(" in source:
        imports.insert(0, "import numpy as np")
        setup += _random_helpers(scenario.seed)
    if device is not None:
        setup.append(f"torch.set_default_device({device!r})")
    if any(isinstance(s, Warns) or (isinstance(s, Expect) and s.warns) for s in steps):
        imports.insert(0, "import warnings")
        setup.append('warnings.simplefilter("always")')
    setup += [f"{name} = []" for name in sorted(records - _assigned(source))]
    head = [
        f"# {scenario.id} on {result.backend}: {result.status.value}",
        f"# {scenario.title}",
        f"# spec: {scenario.where.path}",
        *imports,
    ]
    return "\n".join([*head, *([""] if setup else []), *setup, "", *body]) + "\n"


def _assigned(source: str) -> set[str]:
    return {
        node.id
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)
    }


def _step(step: Step, result: ScenarioResult, failing: bool, records: set[str]) -> list[str]:
    if isinstance(step, (Run, Warns)):
        return _code(step.source, records).splitlines()
    if isinstance(step, Raises):
        code = _code(step.source, records)
        expected = f"# expected: {step.expected.describe()}"
        if failing:
            return [expected, *code.splitlines()]
        inner = [f"    {line}" for line in code.splitlines()]
        return ["try:", *inner, f"except {step.expected.name}:", f"    pass  {expected}"]
    if not failing:
        return []  # a passing expectation changes nothing; the snippet stays minimal
    lines = [f"value = {_code(step.source, records)}", "print(value)"]
    for mismatch in result.mismatches:
        if mismatch.where.step != step.where:
            continue
        lines.append(f"# {mismatch.path}: {mismatch.problem}")
        lines += _labelled("expected:", mismatch.expected)
        lines += _labelled("got:", mismatch.got)
    return lines


def _labelled(label: str, text: str, rows: int = 4) -> list[str]:
    """`text` as comment lines under `label`, continuation rows aligned beneath it."""
    first, *rest = text.splitlines()[:rows] or [""]
    return [f"#   {label:<9} {first}", *(f"#   {'':<9} {row}" for row in rest)]


def _code(source: str, records: set[str]) -> str:
    tree = ast.parse(source.strip())
    tree = _ToTorch(records).visit(tree)
    return ast.unparse(ast.fix_missing_locations(tree))


class _ToTorch(ast.NodeTransformer):
    """Rewrite spec names into plain torch-style Python."""

    def __init__(self, records: set[str]) -> None:
        self.records = records

    def visit_Call(self, node: ast.Call) -> ast.AST:
        func = node.func
        if isinstance(func, ast.Name) and func.id in L.HOOKS and len(node.args) == 1:
            (arg,) = node.args
            if func.id == "record":
                name = arg.id if isinstance(arg, ast.Name) else str(getattr(arg, "value", arg))
                self.records.add(name)
                return ast.Attribute(ast.Name(name, ast.Load()), "append", ast.Load())
            factor = self.visit(arg)
            grad = ast.Name("grad", ast.Load())
            scaled = ast.BinOp(grad, ast.Mult(), factor)
            arguments = ast.arguments([], [ast.arg("grad")], None, [], [], None, [])
            return ast.Lambda(arguments, scaled)
        self.generic_visit(node)
        return node

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if not isinstance(node.ctx, ast.Load):
            return node
        if node.id in _TORCH_NAMES:
            return ast.Attribute(ast.Name("torch", ast.Load()), node.id, ast.Load())
        if node.id in L.DTYPES:
            return ast.Attribute(ast.Name("torch", ast.Load()), L.DTYPES[node.id], ast.Load())
        return node


def _random_helpers(seed: int) -> list[str]:
    """The harness's randn and rand: numpy's generator, so every backend gets the same data."""
    return [
        f"_rng = np.random.default_rng({seed})",
        "",
        "",
        "def _draw(draw, shape, dtype, requires_grad):",
        "    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):",
        "        shape = tuple(shape[0])",
        '    data = draw(shape).astype(str(dtype).rsplit(".", 1)[-1])',
        "    return torch.tensor(data.tolist(), dtype=dtype, requires_grad=requires_grad)",
        "",
        "",
        "def randn(*shape, dtype=torch.float32, requires_grad=False):",
        "    return _draw(_rng.standard_normal, shape, dtype, requires_grad)",
        "",
        "",
        "def rand(*shape, dtype=torch.float32, requires_grad=False):",
        "    return _draw(_rng.random, shape, dtype, requires_grad)",
        "",
    ]
