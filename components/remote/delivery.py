"""Atomic delivery of files and of a managed ``.pgpass`` block on the backup host (scripts in ``sh/``).

Every script is POSIX sh plus tools macOS and Debian both ship (``mktemp -d``, ``cmp``, ``grep -c -x``,
``head``/``tail``, ``sed -n``, ``find -mmin``, ``sha256sum`` or ``shasum -a 256``). Scripts carry paths,
labels, lengths and digests of non-secret content only: file contents, and so every secret, arrive on
stdin, never in a command string or the environment.

* **What arrived is what was sent.** A file's script carries its byte length and sha256; a pgpass block
  (secret) travels behind a ``pg-dr-stdin <bytes> <sha256>`` header line on stdin (:func:`frame`) and
  must run from its BEGIN line to its END line. A stdin cut short (a dropped connection) changes nothing
  and fails.
* **Private temporaries.** Everything a run writes first lives in one ``mktemp -d`` directory (0700) in
  the target's directory, removed on exit and on HUP/INT/TERM/PIPE; what SIGKILL left, the next run
  removes (``.pg-dr.*`` older than ten minutes). A target directory that the group or others can write
  is refused. The new file is renamed over the target (atomic: same directory, same filesystem).
* **History.** The replaced (or removed) version goes to ``<file>.pg-dr-history/<UTC time>-<n>`` (never
  overwritten; removed versions end in ``-removed``); the newest :data:`KEEP` entries are kept.
* **Ownership.** Each delivery records the configured path it delivered through (``owner`` in the
  history directory; one record per pgpass block). A removal whose path is not the recorded one, while
  the recorded path reaches the same file (a new ``homeDir`` through a symlink, a case change on
  macOS), leaves everything in place. A removal also acts only if the file (or block) still holds
  exactly what this resource delivered (the provider replays the stored stdin on delete), so the old
  resource's delete after a replacement leaves the new version alone.
* **One writer at a time.** A ``<file>.pg-dr.lock`` symlink naming the holder's pid serialises the runs
  on one target (the backup's and the drill's pgpass blocks share a file); a lock whose process is gone,
  or older than ten minutes, is taken over.
* **Activation converges.** ``after_change`` runs after a change and on every later run until a run
  completed it (and ``always``) for this content: a failed reload is retried by the next ``up``.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from components.remote.shell import q, script

SH = Path(__file__).resolve().parent / "sh"
KEEP = 10  # history entries kept per file
HEADER = "pg-dr-stdin"


def frame(block: str) -> str:
    """The stdin of a pgpass script: a header line with the block's length and sha256, then the block."""
    data = block.encode()
    return f"{HEADER} {len(data)} {hashlib.sha256(data).hexdigest()}\n{block}"


def _prelude(target: str, mode: str, owner: str) -> str:
    return script(SH, "delivery-prelude.sh", TARGET=q(target), MODE=q(mode), OWNER=owner, KEEP=str(KEEP))


def _size_and_digest(text: str) -> dict[str, str]:
    data = text.encode()
    return {"LENGTH": str(len(data)), "SHA256": hashlib.sha256(data).hexdigest()}


def _receive(text: str | None) -> dict[str, str]:
    """How a script takes its stdin: ``text`` known (its length and sha256 in the script), or a secret
    behind its :func:`frame` header (``text`` None: nothing of it in the script)."""
    if text is None:
        return {"RECEIVE": 'receive_framed "$work/body"', "RECEIVED": '"$work/body"'}
    checks = _size_and_digest(text)
    return {
        "RECEIVE": f'receive\ncheck_received "$work/in" {checks["LENGTH"]} {checks["SHA256"]}',
        "RECEIVED": '"$work/in"',
    }


def deliver_file(target: str, mode: str = "600", after_change: str = "", always: str = "", *, text: str | None) -> str:
    """Write stdin (which must be ``text``; None: a secret behind its :func:`frame` header) to ``target``
    atomically.

    ``after_change`` runs when it changed (and again until a run completed it), ``always`` every time.
    """
    activate = ""
    if after_change.strip() or always.strip():
        activate = script(
            SH,
            "activate.sh",
            AFTER_CHANGE=after_change.strip(),
            ALWAYS=always.strip(),
            SHA256=_size_and_digest(text)["SHA256"] if text is not None else '"$digest"',
        )
    return _prelude(target, mode, "owner") + script(SH, "deliver-file.sh", ACTIVATE=activate, **_receive(text))


def remove_file(target: str, before_remove: str = "", after_remove: str = "", *, text: str | None) -> str:
    """Move ``target`` to its history if this resource still owns it and it holds ``text`` (None: the secret
    on stdin, framed); never delete."""
    return _prelude(target, "600", "owner") + script(
        SH,
        "remove-file.sh",
        BEFORE_REMOVE=before_remove.strip(),
        AFTER_REMOVE=after_remove.strip(),
        **_receive(text),
    )


def _owner(begin: str) -> str:
    """The owner record of one block (each component keeps its own block in the file)."""
    return "owner-" + (re.sub(r"[^A-Za-z0-9]+", "-", begin).strip("-") or "block")


def _pgpass_script(target: str, begin: str, end: str, body: str) -> str:
    functions = script(SH, "pgpass-functions.sh", BEGIN=q(begin), END=q(end))
    return _prelude(target, "600", _owner(begin)) + functions + script(SH, body)


def deliver_pgpass(target: str, begin: str, end: str) -> str:
    """Splice the block on stdin (:func:`frame`) into the pgpass file, keeping the user's lines, mode 0600.

    ``begin``/``end`` name the block's marker lines (each component keeps its own block).
    """
    return _pgpass_script(target, begin, end, "pgpass-deliver.sh")


def remove_pgpass(target: str, begin: str, end: str) -> str:
    """Take our block out if this resource still owns it and it is exactly the one on stdin (:func:`frame`)."""
    return _pgpass_script(target, begin, end, "pgpass-remove.sh")
