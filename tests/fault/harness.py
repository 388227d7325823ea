"""Run the delivery scripts (components/remote/sh) with a real shell, the way the provider runs them.

macOS ``/bin/sh`` is bash 3.2 in POSIX mode (with ``xpg_echo``: ``echo`` interprets backslashes). No shell
here is that one, so every script test of this tier runs under each shell that shares part of its
behaviour (tests/fault/conftest.py parametrizes them): ``dash`` (Debian's /bin/sh; its ``echo`` interprets
backslashes too), ``posh`` (policy-compliant POSIX only: no ``[ -ef ]``, no ``local``) and ``bash --posix``
(bash's POSIX mode, but bash 5's, with ``xpg_echo`` off). ``PG_DR_TEST_SH`` adds another (a path to a shell).
What stays unproven for macOS is in docs/macos.md.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from components.borgmatic.plan import PGPASS_BEGIN, PGPASS_END
from components.remote import delivery

DRILL_BEGIN, DRILL_END = "# BEGIN pg-dr drill", "# END pg-dr drill"


def block(password: str, begin: str = PGPASS_BEGIN, end: str = PGPASS_END) -> bytes:
    return f"{begin}\n# managed by pg-dr\nh:5432:*:u:{password}\n{end}\n".encode()


SHELLS = {
    name: argv
    for name, argv in {"dash": ["dash"], "posh": ["posh"], "bash-posix": ["bash", "--posix"]}.items()
    if shutil.which(argv[0])
}
if os.environ.get("PG_DR_TEST_SH"):
    SHELLS["PG_DR_TEST_SH"] = [os.environ["PG_DR_TEST_SH"]]
_current = {"argv": ["dash"]}


def use_shell(name: str) -> None:
    """The shell the next scripts run under (set per test by tests/fault/conftest.py)."""
    _current["argv"] = SHELLS[name]


def shell() -> list[str]:
    """The argv of the shell under test (add ``-c script``)."""
    return list(_current["argv"])


def sh(script: str, stdin: bytes, **kw) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*shell(), "-c", script], input=stdin, capture_output=True, timeout=60, **kw)


def deliver(target: Path, text: str, stdin: bytes | None = None, **hooks: str) -> subprocess.CompletedProcess[bytes]:
    """Deliver ``text`` to ``target``; ``stdin``: what actually arrives (default: all of ``text``)."""
    script = delivery.deliver_file(str(target), "600", text=text, **hooks)
    return sh(script, text.encode() if stdin is None else stdin)


def remove(target: Path, text: str, stdin: bytes | None = None, **hooks: str) -> subprocess.CompletedProcess[bytes]:
    script = delivery.remove_file(str(target), text=text, **hooks)
    return sh(script, text.encode() if stdin is None else stdin)


def framed(data: bytes) -> bytes:
    return delivery.frame(data.decode()).encode()


def deliver_block(
    target: Path, data: bytes, stdin: bytes | None = None, begin: str = PGPASS_BEGIN, end: str = PGPASS_END
) -> subprocess.CompletedProcess[bytes]:
    """Splice the block ``data`` into ``target``; ``stdin``: what actually arrives (default: the framed block)."""
    return sh(delivery.deliver_pgpass(str(target), begin, end), framed(data) if stdin is None else stdin)


def remove_block(
    target: Path, data: bytes, stdin: bytes | None = None, begin: str = PGPASS_BEGIN, end: str = PGPASS_END
) -> subprocess.CompletedProcess[bytes]:
    return sh(delivery.remove_pgpass(str(target), begin, end), framed(data) if stdin is None else stdin)


def leftovers(directory: Path) -> list[str]:
    """pg-dr's temporaries and locks left in ``directory``."""
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".pg-dr.") or p.name.endswith(".lock"))


def files_holding(root: Path, secret: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and secret in p.read_bytes()]
