"""No ``echo`` of a variable in anything sent to the backup host (issue 16).

macOS ``/bin/sh`` is bash 3.2 in POSIX mode with ``xpg_echo`` on: ``echo`` interprets backslash escapes, as
dash's and posh's do, so a name, path or JSON with a ``\\`` is printed as something else (the drill's result
line broke ``pulumi up`` after a successful drill). Every variable goes out through ``printf '%s\\n'``.
Checked on every ``*.sh`` under ``components/`` (so scripts added later are covered too) and on every command
the rendered stacks register (scripts filled in, and the shell Python writes itself).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from offline.engine import iter_plain_strings
from tests.support.render import render_stack

COMPONENTS = Path(__file__).resolve().parents[3] / "components"
# an echo command (at the start of a line or after an operator or keyword) and its arguments
_ECHO = re.compile(r"(?:^|[;&|(){}!]|\bthen\b|\bdo\b|\belse\b)\s*echo\b(?P<args>[^;&|\n)]*)", re.M)
_VARIABLE = re.compile(r"[$`]|@[A-Z][A-Z0-9_]*@")


def echoes_of_variables(text: str) -> list[str]:
    """Lines that ``echo`` a variable, a command substitution or a template value (comments skipped)."""
    found = []
    for line in text.splitlines():
        code = line.lstrip()
        if code.startswith("#"):
            continue
        found += [line.strip() for m in _ECHO.finditer(code) if _VARIABLE.search(m.group("args"))]
    return found


def test_the_check_finds_what_it_is_for() -> None:
    assert echoes_of_variables('echo "pg-dr: $target"') == ['echo "pg-dr: $target"']
    assert echoes_of_variables('  if x; then echo "@PREFIX@$r"; fi') != []
    assert echoes_of_variables("{ borg extract; echo $? >rc; }") != []
    assert echoes_of_variables("printf '%s\\n' \"$x\"  # not echo $x") == []
    assert echoes_of_variables('# echo "$x"\necho done') == []


@pytest.mark.parametrize(
    "path", sorted(COMPONENTS.rglob("*.sh")), ids=lambda p: str(p.relative_to(COMPONENTS))
)  # fmt: skip
def test_no_shell_source_echoes_a_variable(path: Path) -> None:
    assert echoes_of_variables(path.read_text()) == []


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_no_rendered_command_echoes_a_variable(stack: str) -> None:
    render = render_stack(stack)
    commands = render.of_type("command:remote:Command")
    assert commands
    scripts = 0
    for resource in commands:
        for key in ("create", "update", "delete"):
            for _, text in iter_plain_strings(resource.inputs.get(key)):
                scripts += 1
                assert echoes_of_variables(text) == [], f"{resource.name}.{key}"
    assert scripts >= 10
