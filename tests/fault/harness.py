"""Run the delivery scripts (components/remote/sh) with a real /bin/sh, the way the provider runs them.

``PG_DR_TEST_SH`` names another shell to run them with (e.g. a ``bash --posix`` wrapper: macOS's /bin/sh).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from components.borgmatic.plan import PGPASS_BEGIN, PGPASS_END
from components.remote import delivery

DRILL_BEGIN, DRILL_END = "# BEGIN pg-dr drill", "# END pg-dr drill"


def block(password: str, begin: str = PGPASS_BEGIN, end: str = PGPASS_END) -> bytes:
    return f"{begin}\n# managed by pg-dr\nh:5432:*:u:{password}\n{end}\n".encode()


def sh(script: str, stdin: bytes, **kw) -> subprocess.CompletedProcess[bytes]:
    shell = os.environ.get("PG_DR_TEST_SH", "/bin/sh")
    return subprocess.run([shell, "-c", script], input=stdin, capture_output=True, timeout=60, **kw)


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
