"""Shell for the backup host: scripts live in ``.sh`` files; Python picks one and fills in its values.

A script template names its values ``@NAME@`` (upper case). :func:`fill` replaces every token in one
pass, so a value that itself contains ``@OTHER@`` is never substituted again, and it refuses a template
token without a value or a value without a token. Values are inserted as given: quote words with
:func:`q` (every path, label and name comes from the stack config).
"""

from __future__ import annotations

import re
import shlex
from functools import cache
from pathlib import Path

_TOKEN = re.compile(r"@([A-Z][A-Z0-9_]*)@")
# The PATH a LaunchAgent or a systemd user service starts with (no Homebrew, no pgBinDir).
BARE_PATH = ("/usr/bin", "/bin", "/usr/sbin", "/sbin")


def q(word: object) -> str:
    """One shell word (POSIX single quotes where needed)."""
    return shlex.quote(str(word))


def ere(text: str) -> str:
    """``text`` as a literal inside a POSIX extended regular expression."""
    return "".join(f"[{c}]" if c in ".*+?(){}|^$" else ("\\" + c if c in "[]\\" else c) for c in text)


def sh_command(script: str) -> str:
    """The command string the provider sends: the script run by /bin/sh whatever the login shell."""
    return "/bin/sh -c " + q(script.strip() + "\n")


@cache
def template(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def fill(text: str, values: dict[str, str]) -> str:
    """``text`` with each ``@NAME@`` replaced by ``values[NAME]``, in one pass."""
    tokens = set(_TOKEN.findall(text))
    if tokens != set(values):
        raise ValueError(f"template tokens {sorted(tokens)} do not match the values given {sorted(values)}")
    return _TOKEN.sub(lambda m: values[m.group(1)], text)


def script(directory: Path, name: str, **values: str) -> str:
    """The script ``directory/name`` (a ``.sh`` file) with its values filled in."""
    return fill(template(directory / name), values)


def snippet(directory: Path, name: str, **values: str) -> str:
    """A one-piece script fragment (a hook run inside another script), without its final newline."""
    return script(directory, name, **values).rstrip("\n")


def fail_traps() -> str:
    """The EXIT/HUP/INT/PIPE/TERM traps and ``fail`` shared by the delivered commands that keep a reason
    (pg-dr-restore, pg-dr-drill): ``cleanup`` and ``reason`` are the includer's."""
    lines = template(Path(__file__).resolve().parent / "sh" / "fail-traps.sh").splitlines(keepends=True)
    return "".join(line for line in lines if not line.startswith("# ")).rstrip("\n")
