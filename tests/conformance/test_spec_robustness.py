"""Malformed specs never crash or hang the loader: each is accepted or one clean SpecError.

The property mutates the shipped specs (structure, types, truncation, bytes, nesting, aliases,
numbers, regexes, long chains); the regression tests pin each case that once crashed or hung.
CI runs the property at 10,000 examples (it sets CI); a local run does a few hundred.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.errors import SpecError
from conformance.spec import load_each_spec, load_spec, load_specs

SPECS = Path(__file__).parents[2] / "specs"
SHIPPED = [path.read_text(encoding="utf-8") for path in sorted(SPECS.rglob("*.yaml"))]
EXAMPLES = int(os.environ.get("SPEC_FUZZ_EXAMPLES", 10_000 if os.environ.get("CI") else 300))
# CPU seconds of this process. A load takes milliseconds, and a busy or stalled machine adds
# none, so only runaway work (backtracking, an alias bomb, a huge power) gets this far.
HANG_CPU_S = 10.0
YAML_BREAKS = re.compile("\r\n|[\r\n\x85\u2028\u2029]")

Draw = Callable[[st.SearchStrategy], object]

# --- mutations: each takes hypothesis's draw and a spec's text, and returns a changed text --


def truncate(draw: Draw, text: str) -> str:
    return text[: draw(st.integers(0, len(text)))]


def _lines(text: str) -> list[str]:
    return text.split("\n")


def restructure(draw: Draw, text: str) -> str:
    """Delete, duplicate, swap or re-indent lines."""
    lines = _lines(text)
    i = draw(st.integers(0, len(lines) - 1))
    j = draw(st.integers(0, len(lines) - 1))
    how = draw(st.sampled_from(["delete", "duplicate", "swap", "indent", "dedent"]))
    if how == "delete":
        del lines[i]
    elif how == "duplicate":
        lines.insert(j, lines[i])
    elif how == "swap":
        lines[i], lines[j] = lines[j], lines[i]
    elif how == "indent":
        lines[i] = " " * draw(st.integers(1, 6)) + lines[i]
    else:
        lines[i] = lines[i].lstrip()
    return "\n".join(lines)


ODD_VALUES = [
    "[]", "{}", "null", "~", "true", "no", "1", "-1", "0", "1.5", "'text'", '"a\\nb"', "[1, [2]]",
    "{a: 1}", "!!binary aGk=", "!!python/object:os.system x", "!!set {a}", "2024-99-99",
    "2001-12-14", "!!bool maybe", "!!int x", "!!float y", "=", "0x", "0o9", "1:2:3", "|", ">",
    "- a", "&a", "*a", "'", '"', "@x", "`x`", "%YAML 1.1", "? x", "!custom 1", "!!timestamp 1",
]  # fmt: skip


def retype(draw: Draw, text: str) -> str:
    """Give a `key: value` line a value of another type."""
    lines = _lines(text)
    keyed = [i for i, line in enumerate(lines) if re.match(r"\s*-?\s*\w+:", line)]
    if not keyed:
        return text
    i = draw(st.sampled_from(keyed))
    key = lines[i].split(":", 1)[0]
    value = draw(st.sampled_from(ODD_VALUES) | st.text(max_size=12))
    lines[i] = f"{key}: {value}"
    return "\n".join(lines)


def splice_text(draw: Draw, text: str) -> str:
    """Insert or overwrite a few random characters anywhere."""
    at = draw(st.integers(0, len(text)))
    noise = draw(st.text(min_size=1, max_size=8))
    cut = draw(st.integers(0, 3))
    return text[:at] + noise + text[at + cut :]


NESTS = [
    lambda n: "[" * n + "]" * n,
    lambda n: "{a: " * n + "1" + "}" * n,
    lambda n: "\n      " + "- " * n + "x",  # block lists, one inside the next
    lambda n: "[" * n,
]


def nest(draw: Draw, text: str) -> str:
    """Nest a value deeply: flow lists and mappings, block lists, unclosed brackets."""
    depth = draw(st.sampled_from([5, 49, 51, 100, 999, 1001, 5000]))
    deep = draw(st.sampled_from(NESTS))(depth)
    return _append_step(text, f"expect: x\n    value: {deep}")


def _bomb(levels: int) -> str:
    names = [f"l{k}" for k in range(levels + 1)]
    lines = [f"    {names[0]}: &{names[0]} [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for previous, name in zip(names, names[1:]):
        lines.append(f"    {name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    return "\n".join(lines)


ALIASES = [
    lambda: "expect: x\n    value: &r [*r]",
    lambda: "expect: x\n    value: &r {a: *r}",
    lambda: "&s x = ones(2)\n  - *s",
    lambda: "expect: x\n    value: *nowhere",
    lambda: "&m {expect: x}\n  - {<<: *m, value: 1}",
    lambda: "&m {<<: *m}",
    lambda: "expect: x\n    value:\n" + _bomb(9),
    lambda: "expect: x\n    value:\n" + _bomb(4),
]


def alias(draw: Draw, text: str) -> str:
    """Anchors and aliases: loops, bombs, merges, undefined ones."""
    return _append_step(text, draw(st.sampled_from(ALIASES))())


NUMBERS = [
    "1" + "0" * 400, "1" + "0" * 5000, "1e400", "-1e400", ".inf", "-.inf", ".nan", "-0.0",
    "-1", "0x" + "f" * 300, "1:2:3:4:5:6:7:8:9", "1_000", "1e-400", "10**400", "2**-1", "1e",
]  # fmt: skip


def number(draw: Draw, text: str) -> str:
    """Replace a number with a huge, infinite, odd or negative one."""
    spots = list(re.finditer(r"(?<![\w.])-?\d+(\.\d+)?(e-?\d+)?(?![\w.])", text))
    value = draw(st.sampled_from(NUMBERS))
    if not spots or draw(st.booleans()):
        key = draw(st.sampled_from(["rtol", "atol", "value", "seed"]))
        return _append_step(text, f"expect: x\n    {key}: {value}")
    spot = draw(st.sampled_from(spots))
    return text[: spot.start()] + value + text[spot.end() :]


PATTERNS = [
    "(a+)+$", "(a|a)*", "(a?){30}a{30}", "(.*)*", ".*.*.*.*x", "(", "[", "a{99999999999999}",
    "(?P<n>a+)+", "(?i)x", "\\", "a" * 600, "(" * 300 + ")" * 300, "(?<=a+)b", "x{2,1}",
]  # fmt: skip


def regex(draw: Draw, text: str) -> str:
    """Replace or add a `match:` regex: catastrophic, invalid, long or random."""
    pattern = draw(st.sampled_from(PATTERNS) | st.text(max_size=20))
    quoted = '"' + pattern.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if "match:" in text and draw(st.booleans()):
        return re.sub(r"match: .*", lambda _: f"match: {quoted}", text, count=1)
    return _append_step(text, f"raises: RuntimeError\n    match: {quoted}\n    run: x = 1")


CHAINS = [
    lambda n: "y = x" + ".exp()" * n,
    lambda n: "y = x" + ".grad" * n,
    lambda n: "y = x" + "[0]" * n,
    lambda n: "y = " + "+".join(["x"] * n),
    lambda n: "y = " + "-" * n + "1",
    lambda n: "y = " + "(" * n + "1" + ")" * n,
    lambda n: "y = " + "**".join(["2"] * n),
    lambda n: "y = " + "9" * n,
    lambda n: "y = 10**10**10",
    lambda n: "y = " + "not " * n + "x",
    lambda n: "x = 1\\n" * n,
]


def chain(draw: Draw, text: str) -> str:
    """Add a statement with a long chain of calls, indexes or operators, or huge numbers."""
    length = draw(st.sampled_from([3, 99, 101, 300, 1000, 4301, 10_001]))
    statement = draw(st.sampled_from(CHAINS))(length)
    return _append_step(text, f'"{statement}"' if "\\n" in statement else statement)


def _append_step(text: str, step: str) -> str:
    return text.rstrip("\n") + "\n  - " + step + "\n"


MUTATIONS = [truncate, restructure, retype, splice_text, nest, alias, number, regex, chain]


@st.composite
def malformed_specs(draw: Draw) -> bytes:
    """A shipped spec after one to three mutations, sometimes with random bytes spliced in."""
    text = draw(st.sampled_from(SHIPPED))
    for _ in range(draw(st.integers(1, 3))):
        text = draw(st.sampled_from(MUTATIONS))(draw, text)
    data = text.encode("utf-8")
    if draw(st.integers(0, 9)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]
    return data


# --- the property ---------------------------------------------------------------------------


@contextmanager
def no_runaway_work() -> Iterator[None]:
    """Fail if the block spent HANG_CPU_S of CPU: a hang guard, not a speed check."""
    started = time.process_time()
    yield
    spent = time.process_time() - started
    assert spent < HANG_CPU_S, f"{spent:.1f} s of CPU: runaway work"


def assert_clean_load(path: Path, data: bytes) -> None:
    """Loading ends and either succeeds or raises one SpecError naming a line of the file."""
    path.write_bytes(data)
    with no_runaway_work():
        try:
            load_spec(path)
        except SpecError as error:
            assert_clean_error(error, path, data)


def assert_clean_error(error: SpecError, path: Path, data: bytes) -> None:
    assert error.where is not None and error.where.path == str(path)
    text = data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    last = len(YAML_BREAKS.findall(text)) + 1
    assert 1 <= error.where.line <= last, f"line {error.where.line} of a {last}-line file"
    message = str(error).split("\n    in: ")[0]
    assert message.startswith(f"{path}:{error.where.line}: ") and "\n" not in message


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mutated") / "mutated.yaml"


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=malformed_specs())
def test_a_mutated_spec_loads_or_is_one_clean_spec_error(spec_path: Path, data: bytes) -> None:
    assert_clean_load(spec_path, data)


def test_every_shipped_spec_still_loads() -> None:
    assert len(load_specs(sorted(SPECS.rglob("*.yaml")))) == len(SHIPPED)


# --- regressions: each once crashed, hung or named a wrong line -----------------------------


def load_error(path: Path) -> str:
    with no_runaway_work(), pytest.raises(SpecError) as caught:
        load_spec(path)
    assert_clean_error(caught.value, path, path.read_bytes())
    return str(caught.value)


def test_a_billion_laughs_alias_bomb_is_refused(write_spec) -> None:
    path = write_spec("  - expect: x\n    value:\n" + _bomb(9) + "\n")
    assert len(path.read_bytes()) < 1000
    assert "expected at most 100,000 values with aliases expanded" in load_error(path)


def test_a_recursive_alias_is_refused(write_spec) -> None:
    path = write_spec("  - expect: x\n    value: &r [*r]\n")
    assert load_error(path).startswith(f"{path}:10: expected plain YAML data, found an alias")


@pytest.mark.parametrize("depth", [60, 999, 5000])
def test_deep_flow_nesting_is_refused(write_spec, depth: int) -> None:
    path = write_spec(f"  - expect: x\n    value: {'[' * depth}{']' * depth}\n")
    assert "nest" in load_error(path)


def test_ten_thousand_unary_minus_are_refused(write_spec) -> None:
    for count in (10_000, 5_000, 900):
        path = write_spec(f"  - x = {'-' * count}1\n", name=f"minus{count}.yaml")
        assert load_error(path).startswith(f"{path}:9: expected ")


def test_a_5000_digit_integer_literal_is_refused(write_spec) -> None:
    path = write_spec(f"  - x = {'7' * 5000}\n")
    assert "Exceeds the limit" in load_error(path)
    path = write_spec(f"  - x = {'7' * 200}\n", name="shorter.yaml")
    assert "expected an integer of at most 100 digits" in load_error(path)
    path = write_spec(
        f"  - x = ones(1)\n  - expect: x\n    value: {'7' * 5000}\n", name="yaml.yaml"
    )
    assert "expected an integer of at most 100 digits" in load_error(path)


@pytest.mark.parametrize("value", ["1" + "0" * 400, ".inf", "-.inf", ".nan", "1e400", "-1"])
def test_tolerances_must_be_finite_and_non_negative(write_spec, value: str) -> None:
    for key in ("rtol", "atol"):
        path = write_spec(
            f"  - x = ones(1)\n  - expect: x\n    {key}: {value}\n", name=f"{key}.yaml"
        )
        assert "expected" in load_error(path)


def test_300_chained_calls_attributes_indexes_and_operators_are_refused(write_spec) -> None:
    chains = [".exp()" * 300, ".grad" * 300, "[0]" * 300, "+x" * 300]
    for k, tail in enumerate(chains):
        path = write_spec(f"  - x = ones(1)\n  - y = x{tail}\n", name=f"chain{k}.yaml")
        assert load_error(path).startswith(f"{path}:10: expected expressions nested at most")


def test_statements_in_quoted_strings_name_their_own_lines(write_spec) -> None:
    path = write_spec('  - "x = ones(2)\\ny = x.numpy()\\nz = 1"\n')  # one file line: 9
    assert load_error(path).startswith(f"{path}:9: unknown method .numpy()")
    path = write_spec(
        '  - "x = ones(2)\n'  # line 9
        "\n"  # a folded blank line: the text's line break
        '    y = x.numpy()"\n',  # line 11
        name="folded.yaml",
    )
    assert load_error(path).startswith(f"{path}:11: unknown method .numpy()")
    path = write_spec(
        '  - expect: "ones(2)\\n\\\n'  # line 9: an escaped line break continues the string
        '      .numpy()"\n',
        name="escaped.yaml",
    )
    assert f"{path}:9:" in load_error(path)


@pytest.mark.parametrize("pattern", ["(a+)+$", "(a|a)*$", "(x?){30}", ".*.*.*.*y", "a" * 600])
def test_regexes_that_could_backtrack_for_ever_are_refused(write_spec, pattern: str) -> None:
    path = write_spec(f"  - raises: RuntimeError\n    match: '{pattern}'\n    run: x = 1\n")
    assert load_error(path).startswith(f"{path}:10: match: expected a regex")


def test_an_invalid_regex_is_a_load_error(write_spec) -> None:
    path = write_spec("  - raises: RuntimeError\n    match: '(a'\n    run: x = 1\n")
    assert "match: expected a regular expression" in load_error(path)


def test_a_constant_exponent_tower_is_refused_when_loaded(write_spec) -> None:
    path = write_spec("  - y = 10**10**10\n")
    assert "expected an integer power of at most 10,000 digits" in load_error(path)
    assert load_spec(write_spec("  - y = 2**64 + 10**-400\n", name="fine.yaml"))


def test_an_exponent_tower_of_variables_is_refused_when_run(write_spec) -> None:
    pytest.importorskip("torch")
    from conformance.backends import resolve_backend
    from conformance.run.interpreter import Interpreter

    path = write_spec("  - k = 10\n  - y = k**k**k\n  - z = k**k\n  - expect: z\n    value: 1\n")
    with no_runaway_work():
        outcome = Interpreter(load_spec(path), resolve_backend("torch-cpu")).run()
    assert outcome.error is not None and outcome.error.where.line == 10
    assert "expected an integer power of at most 10,000 digits" in outcome.error.message


def test_one_bad_spec_leaves_the_others_loaded(write_spec) -> None:
    good = write_spec("  - x = ones(1)\n", id="test.good", name="good.yaml")
    bad = write_spec("  - y = 10**10**10\n", id="test.bad", name="bad.yaml")
    twin = write_spec("  - x = ones(2)\n", id="test.good", name="twin.yaml")
    scenarios, errors = load_each_spec([good, bad, twin])
    assert [scenario.id for scenario in scenarios] == ["test.good"]
    assert [error.where.path for error in errors if error.where] == [str(bad), str(twin)]
    with pytest.raises(SpecError):
        load_specs([good, bad])


def test_the_cli_runs_the_good_specs_and_exits_2_for_the_bad(tmp_path, write_spec, capsys) -> None:
    pytest.importorskip("torch")
    from conformance.cli.main import main

    good = write_spec("  - x = ones(1)\n  - expect: x\n    value: [1.0]\n", name="good.yaml")
    write_spec("  - y = 10**10**10\n", id="test.bad", name="bad.yaml")
    write_spec("a: &r [*r]\n", name="loop.yaml")
    folder = str(good.parent)
    reports = str(tmp_path / "reports")
    code = main(["run", "--spec", folder, "--backend", "torch-cpu", "--repeat", "0",
                 "--report-dir", reports])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 2
    assert "test.example" in out and "1 pass" in out
    assert f"{folder}/bad.yaml:9: expected an integer power" in err
    assert f"{folder}/loop.yaml:9: expected plain YAML data" in err  # under the header
    assert err.rstrip().endswith("2 spec files could not be loaded (see above)")
