"""The README stays a short guide, its links and the docs' links resolve, and every
`conformance COMMAND --option` it shows exists in that command's parser."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from conformance.cli.main import _parser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_README_LINES = 220

_FENCE = re.compile(r"^(```+|~~~+)[^\n]*\n.*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
_INLINE = re.compile(r"(`+)(.+?)\1", re.DOTALL)
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_COMMAND = re.compile(r"(?<![\w./-])conformance[ \t]+([a-z][a-z-]*)\b")
_OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")
_END = re.compile(r"\|\||&&|[;|#]")  # a shell command ends at these (a comment too)


def _docs() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


def _without_code(text: str) -> str:
    """The prose: fenced blocks and inline code removed (links inside code are not links)."""
    return _INLINE.sub("", _FENCE.sub("", text))


def _code(text: str) -> list[str]:
    """Every piece of code: each line of a fenced block, each inline span."""
    pieces: list[str] = []
    for block in _FENCE.finditer(text):
        pieces += block.group(0).splitlines()[1:-1]
    for span in _INLINE.finditer(_FENCE.sub("", text)):
        pieces.append(" ".join(span.group(2).split()))
    return pieces


def _uses(text: str) -> list[tuple[str, str]]:
    """(command, option) for each `--option` written after `conformance COMMAND` in code,
    up to the end of that shell command."""
    found = []
    for piece in _code(text):
        matches = list(_COMMAND.finditer(piece))
        for index, match in enumerate(matches):
            stop = matches[index + 1].start() if index + 1 < len(matches) else len(piece)
            rest = piece[match.end() : stop]
            end = _END.search(rest)
            rest = rest[: end.start()] if end else rest
            found += [(match.group(1), option) for option in _OPTION.findall(rest)]
    return found


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = _parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("conformance's parser has no subcommands")


def test_the_readme_is_a_short_guide() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, (
        f"README.md has {len(lines)} lines; keep it at most {MAX_README_LINES} and move depth "
        f"to docs/"
    )


@pytest.mark.parametrize("page", _docs(), ids=lambda page: str(page.relative_to(ROOT)))
def test_relative_links_point_to_files_that_exist(page: Path) -> None:
    broken = []
    for target in _LINK.findall(_without_code(page.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL (https:, mailto:) or an anchor in the same page
        path = target.split("#", 1)[0]
        if not (page.parent / path).exists():
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)} links to missing files: {broken}"


def test_every_command_and_option_in_the_readme_exists() -> None:
    commands = _subparsers()
    text = README.read_text(encoding="utf-8")
    named = {match.group(1) for piece in _code(text) for match in _COMMAND.finditer(piece)}
    assert named, "the README shows no `conformance COMMAND`"
    unknown = sorted(named - set(commands))
    assert not unknown, f"the README names commands conformance lacks: {unknown}"
    uses = _uses(text)
    assert uses, "the README shows no `conformance COMMAND --option`"
    missing = sorted(
        {
            (command, option)
            for command, option in uses
            if option not in commands[command]._option_string_actions
        }
    )
    assert not missing, f"the README shows options their commands lack: {missing}"


def test_the_option_check_reads_commands_as_written() -> None:
    text = (
        "```sh\nconformance run --backend a --nope || conformance gate --update  # --not-this\n"
        "```\nand `conformance fuzz --seed 0` then `conformance merge\n-o x --output y`."
    )
    assert _uses(text) == [
        ("run", "--backend"),
        ("run", "--nope"),
        ("gate", "--update"),
        ("fuzz", "--seed"),
        ("merge", "--output"),
    ]
