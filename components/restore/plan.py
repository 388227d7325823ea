"""``pg-dr-restore``: the disaster restore, generated with the backup host's settings baked in.

The script (``sh/pg-dr-restore.sh``, POSIX sh for macOS's bash 3.2 and BSD userland) needs nothing but
the host: borg, the PostgreSQL client in ``pgBinDir``, the pgpass file and the repository passphrase
command. It carries paths, labels, names and the archive glob, never a secret. What it does and prints
is documented in ``docs/restore.md``.

Baked in, each as one shell word (:func:`components.remote.shell.q`):

* ``repositories``: ``label<TAB>path`` lines (the first is the default);
* ``databases``: ``name<TAB>hostname<TAB>port<TAB>label (- for none)<TAB>format<TAB>dump path<TAB>roles path`` lines,
  the dump and roles paths as they are inside an archive (:attr:`DatabaseConfig.dump_path`,
  :meth:`BackupConfig.roles_archive_path`);
* the archive glob of ``matchArchives`` (Borg 1.x ``--glob-archives``): ``latest`` is pg-dr's newest
  archive, never another config's in a shared repository.
"""

from __future__ import annotations

from pathlib import Path

from components.borgmatic.config import BackupConfig
from components.remote.shell import BARE_PATH, fail_traps, q, script, template

SH = Path(__file__).resolve().parent / "sh"
OK_PREFIX = "pg-dr-restore: OK "
FAILED_PREFIX = "pg-dr-restore: FAILED "
DEFAULT_LOCK_WAIT = 600  # seconds a restore waits for the repository lock (a nightly run may hold it)


def archive_glob(match_archives: str) -> str:
    """borgmatic's ``match_archives`` as Borg 1.x's ``--glob-archives`` (borgmatic's own translation)."""
    return match_archives.removeprefix("sh:")


def _lines(rows: list[list[str]]) -> str:
    for row in rows:
        for field in row:
            if "\t" in field or "\n" in field:
                raise ValueError(f"{field!r} holds a tab or newline")  # config refuses control characters
    return "\n".join("\t".join(row) for row in rows)


def awk_program(path: Path) -> str:
    """An awk program file as one shell word's text: its code, without its comment lines."""
    return "\n".join(line for line in template(path).splitlines() if not line.lstrip().startswith("#")) + "\n"


def restore_script(cfg: BackupConfig) -> str:
    """The ``pg-dr-restore`` file for this backup host."""
    repositories = _lines([[r.label, r.path.rstrip("/") or "/"] for r in cfg.repositories])
    databases = _lines(
        [
            [db.name, db.hostname, str(db.port), db.label or "-", db.format, db.dump_path, cfg.roles_archive_path(db)]
            for db in cfg.databases
        ]
    )
    passcommand = ""
    if cfg.encryption_passcommand:
        passcommand = f"BORG_PASSCOMMAND={q(cfg.encryption_passcommand)}\nexport BORG_PASSCOMMAND"
    return script(
        SH,
        "pg-dr-restore.sh",
        FAIL_TRAPS=fail_traps(),
        DEAL_ROWS=q(awk_program(SH / "deal-rows.awk")),
        BARE_PATH=":".join(BARE_PATH),
        BORG=q(cfg.borg_path),
        PG_BIN=q(cfg.pg_bin_dir.rstrip("/") or "/"),
        PGPASS=q(cfg.resolved_pgpass_path),
        PASSCOMMAND=passcommand,
        ARCHIVES=q(archive_glob(cfg.match_archives)),
        LOCK_WAIT=str(cfg.lock_wait if cfg.lock_wait is not None else DEFAULT_LOCK_WAIT),
        REPOSITORIES=q(repositories),
        DATABASES=q(databases),
    )
