"""A managed block of ``~/.pgpass``: its lines (escaped as libpq requires) and the reference merge.

The block runs from a ``begin`` marker line to an ``end`` marker line; every line outside it is the
user's and is kept byte for byte. :func:`merge_pgpass` is the reference for what the delivery scripts
(:mod:`components.remote.delivery`) do in POSIX sh.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PgpassLine:
    """Who a line is for: ``hostname:port:*:username``."""

    hostname: str
    port: int
    username: str

    def __str__(self) -> str:
        return f"{self.username}@{self.hostname}:{self.port}"


def pgpass_escape(field: str) -> str:
    """A .pgpass field: backslash and colon escaped with a backslash (libpq's rule)."""
    return field.replace("\\", "\\\\").replace(":", "\\:")


def pgpass_block(begin: str, end: str, comment: str, lines: Sequence[PgpassLine], passwords: Sequence[str]) -> str:
    """The managed block (``passwords`` in the order of ``lines``), ending with a newline."""
    if len(lines) != len(passwords):
        raise ValueError("one password per pgpass line")
    out = [begin, comment]
    for line, password in zip(lines, passwords, strict=True):
        if "\n" in password or "\r" in password:
            raise ValueError(f"the password of {line} contains a newline")
        host, port, user = pgpass_escape(line.hostname), pgpass_escape(str(line.port)), pgpass_escape(line.username)
        out.append(f"{host}:{port}:*:{user}:{pgpass_escape(password)}")
    out.append(end)
    return "\n".join(out) + "\n"


def merge_pgpass(existing: bytes | None, block: bytes | None, begin: str, end: str) -> bytes:
    """The reference merge (the remote script does the same in POSIX sh).

    The user's lines outside the block are kept byte for byte; an existing block is replaced where it is;
    without one, the block goes first (so its lines win libpq's first-match rule). ``block=None`` removes
    the block. A file with an unbalanced or repeated block is refused (ValueError).
    """
    existing = existing or b""
    lines = re.findall(rb"[^\n]*\n|[^\n]+\Z", existing)  # newline-terminated lines, like grep and head count
    begins = [i for i, line in enumerate(lines) if line.rstrip(b"\n") == begin.encode()]
    ends = [i for i, line in enumerate(lines) if line.rstrip(b"\n") == end.encode()]
    new = block or b""
    if not begins and not ends:
        return new + existing
    if len(begins) != 1 or len(ends) != 1 or begins[0] > ends[0]:
        raise ValueError(f"malformed pg-dr block ({len(begins)} BEGIN, {len(ends)} END lines)")
    head, tail = b"".join(lines[: begins[0]]), b"".join(lines[ends[0] + 1 :])
    return head + new + tail


def password_conflicts(
    entries: Iterable[tuple[str, PgpassLine, Hashable]],
) -> Iterator[tuple[str, str, PgpassLine]]:
    """``(where, where of the first, line)`` for each entry whose password differs from the first entry's for
    the same host, port and user: one pgpass file holds one password for them (libpq takes the first line
    that matches). ``entries`` are ``(where, line, password reference)``."""
    first: dict[PgpassLine, tuple[str, Hashable]] = {}
    for where, line, password in entries:
        seen = first.setdefault(line, (where, password))
        if seen[0] != where and seen[1] != password:
            yield where, seen[0], line
