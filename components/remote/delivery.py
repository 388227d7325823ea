"""Atomic delivery of files and of a managed ``.pgpass`` block on the backup host (scripts in ``sh/``).

Every script is POSIX sh plus tools macOS and Debian both ship (``mktemp``, ``cmp``, ``grep -c -x``,
``head``/``tail``, ``sed -n``). Scripts carry paths and labels only: file contents, and so every secret,
arrive on stdin, never in a command string or the environment.

Delivery (:func:`deliver_file` / :func:`deliver_pgpass`) is atomic: content is written to a temp file in
the target's directory, compared with what is there (identical: nothing changes), the current file is
copied to ``<file>.pg-dr-previous``, and the temp file is renamed over the target with its mode set.
Removal (:func:`remove_file` / :func:`remove_pgpass`) never deletes data: it receives the content this
resource delivered on stdin (the provider replays the stored stdin on delete) and acts only if the file
still holds exactly that, so the old resource's delete after a replacement (Pulumi creates the new one
first) leaves the new version alone. A removed file is moved to ``<file>.pg-dr-removed-<UTC time>``; a
removed pgpass block leaves the user's lines and the previous file beside.
"""

from __future__ import annotations

from pathlib import Path

from components.remote.shell import q, script

SH = Path(__file__).resolve().parent / "sh"


def _prelude(target: str, mode: str) -> str:
    return script(SH, "delivery-prelude.sh", TARGET=q(target), MODE=q(mode))


def deliver_file(target: str, mode: str = "600", after_change: str = "", always: str = "") -> str:
    """Write stdin to ``target`` atomically; ``after_change`` runs when it changed, ``always`` every time."""
    on_change = script(SH, "on-change.sh", HOOK=after_change.strip()) if after_change.strip() else ""
    return _prelude(target, mode) + script(
        SH, "deliver-file.sh", ON_CHANGE=on_change, ALWAYS=always.strip() + "\n" if always.strip() else ""
    )


def remove_file(target: str, before_remove: str = "", after_remove: str = "") -> str:
    """Move ``target`` aside if it still holds exactly stdin (what this resource delivered); never delete."""
    return script(
        SH, "remove-file.sh", TARGET=q(target), BEFORE_REMOVE=before_remove.strip(), AFTER_REMOVE=after_remove.strip()
    )


def _pgpass_script(target: str, begin: str, end: str, body: str) -> str:
    """A pgpass script: the block on stdin is read and the current block located before ``body`` runs."""
    return _prelude(target, "600") + script(SH, "pgpass-functions.sh", BEGIN=q(begin), END=q(end)) + script(SH, body)


def deliver_pgpass(target: str, begin: str, end: str) -> str:
    """Splice the block on stdin into the pgpass file (replacing ours, keeping the user's lines), mode 0600.

    ``begin``/``end`` name the block's marker lines (each component keeps its own block).
    """
    return _pgpass_script(target, begin, end, "pgpass-deliver.sh")


def remove_pgpass(target: str, begin: str, end: str) -> str:
    """Take our block out if it is still exactly the one on stdin; the user's lines and the previous file stay."""
    return _pgpass_script(target, begin, end, "pgpass-remove.sh")
