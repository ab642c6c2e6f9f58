"""README's command lines name only flags the commands have (a new user copies them first)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gutlink.cli import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"


def _command_lines() -> list[tuple[int, str]]:
    lines, block, joined = [], False, ""
    for number, line in enumerate(README.read_text().splitlines(), 1):
        if line.startswith("```"):
            block = not block
            continue
        if not block:
            continue
        joined = f"{joined} {line.strip()}" if joined else line.strip()
        if joined.endswith("\\"):
            joined = joined[:-1]
            continue
        if joined.startswith("gutlink ") or " && gutlink " in joined:
            lines.append((number, joined[joined.index("gutlink "):].split("#")[0]))
        joined = ""
    return lines


def _subparsers(parser):
    action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return action.choices


@pytest.mark.parametrize("number, line", _command_lines(), ids=lambda v: str(v) if isinstance(v, int) else "")
def test_readme_command_names_real_flags(number, line):
    words = line.split()
    parser = _subparsers(build_parser())[words[1]]
    for word in words[2:]:  # nested steps such as `dynamics fit|forecast|simulate`
        steps = word.split("|")
        try:
            choices = _subparsers(parser)
        except StopIteration:
            break
        if all(s in choices for s in steps):
            parser = choices[steps[0]]
            break
    known = {s for a in parser._actions for s in a.option_strings}
    flags = {m.group(0).split("=")[0] for m in re.finditer(r"(?<![\w-])--[a-z][\w-]*(=\S+)?", line)}
    assert flags - known == set(), f"README.md line {number}: {sorted(flags - known)} not options of `{words[1]}`"


def test_readme_opens_with_the_two_commands():
    blocks = README.read_text().split("```")
    assert blocks[0].strip() == "# gutlink"
    assert blocks[1].split("\n", 1)[1].strip() == "pip install . && gutlink demo"
    assert blocks[3].split("\n", 1)[1].strip() == 'pip install ".[test]" && pytest'
    assert 'pip install ".[test]"' in (README.parent / ".ci" / "run").read_text()
