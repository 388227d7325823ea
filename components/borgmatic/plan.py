"""What pg-dr delivers to the backup host, as text: pure functions of ``pg-dr:backup`` (no Pulumi, no I/O).

* ``borgmatic_config``: the borgmatic 2.x ``config.yaml`` (``local_path``, absolute ``pg_dump_command`` /
  ``pg_restore_command`` / ``psql_command``, no password: libpq reads ``~/.pgpass``);
* ``pgpass_block``: the ``# BEGIN pg-dr`` ... ``# END pg-dr`` block of ``~/.pgpass`` (one line per host,
  port and user, ``\\`` and ``:`` escaped as libpq requires) and ``merge_pgpass``, the reference for how
  the remote script splices it into the user's file (their lines kept byte for byte);
* ``schedule_files``: a launchd LaunchAgent plist or systemd user service + timer;
* ``expected_dumps``: where borgmatic 2.1 stores each database's dump inside an archive.
"""

from __future__ import annotations

import hashlib
import plistlib
import posixpath
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import yaml

from components.borgmatic.config import BackupConfig, DatabaseConfig

PGPASS_BEGIN = "# BEGIN pg-dr"
PGPASS_END = "# END pg-dr"
REDACTED = "[redacted]"
# The PATH LaunchAgents and systemd user services start with, before pg-dr adds pgBinDir and borg's dir.
SYSTEM_PATH = ("/usr/bin", "/bin", "/usr/sbin", "/sbin")
HEADER = "# Managed by pg-dr (pg-dr:backup): edit the stack config, not this file.\n"


def sha256(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


# ------------------------------------------------------------------------------------------ binaries
def pg_tool(cfg: BackupConfig, name: str) -> str:
    return posixpath.join(cfg.pg_bin_dir, name)


def required_binaries(cfg: BackupConfig) -> list[tuple[str, str, str]]:
    """``(name, absolute path, config key)`` of every executable the backup host must have."""
    tools = [
        ("borg", cfg.borg_path, "pg-dr:backup.borgPath"),
        ("borgmatic", cfg.borgmatic_path, "pg-dr:backup.borgmaticPath"),
        ("pg_dump", pg_tool(cfg, "pg_dump"), "pg-dr:backup.pgBinDir"),
        ("pg_restore", pg_tool(cfg, "pg_restore"), "pg-dr:backup.pgBinDir"),
        ("psql", pg_tool(cfg, "psql"), "pg-dr:backup.pgBinDir"),
    ]
    if cfg.schedule.kind == "launchd":
        tools.append(("launchctl", cfg.schedule.launchctl_path, "pg-dr:backup.schedule.launchctlPath"))
    elif cfg.schedule.kind == "systemd":
        tools.append(("systemctl", cfg.schedule.systemctl_path, "pg-dr:backup.schedule.systemctlPath"))
    return tools


def pgpass_env(cfg: BackupConfig) -> dict[str, str]:
    """``PGPASSFILE`` when the pgpass file is not libpq's default ``$HOME/.pgpass``."""
    default = posixpath.join(cfg.home_dir, ".pgpass")
    return {} if cfg.resolved_pgpass_path == default else {"PGPASSFILE": cfg.resolved_pgpass_path}


def run_path(cfg: BackupConfig) -> str:
    """The PATH a scheduled run gets: pgBinDir and borg's directory first (the LaunchAgent PATH lesson)."""
    dirs = [cfg.pg_bin_dir, posixpath.dirname(cfg.borg_path), posixpath.dirname(cfg.borgmatic_path), *SYSTEM_PATH]
    return ":".join(dict.fromkeys(dirs))


# ------------------------------------------------------------------------------------------ borgmatic
def _database_entry(cfg: BackupConfig, db: DatabaseConfig) -> dict[str, object]:
    entry: dict[str, object] = {"name": db.name}
    if db.label:
        entry["label"] = db.label
    entry |= {"hostname": db.hostname, "port": db.port, "username": db.username, "format": db.format}
    if db.compression is not None:
        entry["compression"] = db.compression
    entry |= {
        "pg_dump_command": shlex.quote(pg_tool(cfg, "pg_dump")),
        "pg_restore_command": shlex.quote(pg_tool(cfg, "pg_restore")),
        "psql_command": shlex.quote(pg_tool(cfg, "psql")),
    }
    if db.restore_jobs is not None:
        entry["restore_options"] = f"--jobs={db.restore_jobs}"
    return entry


def borgmatic_config(cfg: BackupConfig) -> str:
    """The borgmatic 2.x configuration file, deterministic for a given config."""
    doc: dict[str, object] = {
        "local_path": cfg.borg_path,
        "repositories": [{"path": r.path, "label": r.label} for r in cfg.repositories],
    }
    if cfg.encryption_passcommand:
        doc["encryption_passcommand"] = cfg.encryption_passcommand
    doc["compression"] = cfg.compression
    for key in ("keep_daily", "keep_weekly", "keep_monthly", "keep_yearly"):
        value = getattr(cfg.retention, key)
        if value is not None:
            doc[key] = value
    if cfg.checks:
        doc["checks"] = [{"name": c.name, "frequency": c.frequency} for c in cfg.checks]
    doc["postgresql_databases"] = [_database_entry(cfg, db) for db in cfg.databases]
    return HEADER + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=1000)


# ---------------------------------------------------------------------------------------------- pgpass
@dataclass(frozen=True)
class PgpassEntry:
    hostname: str
    port: int
    username: str
    database: DatabaseConfig  # the first entry with these credentials (its ``password`` is the reference)


def pgpass_entries(cfg: BackupConfig) -> list[PgpassEntry]:
    """One entry per (host, port, user) that has a password reference, in config order."""
    entries: dict[tuple[str, int, str], PgpassEntry] = {}
    for db in cfg.databases:
        if db.password is not None:
            entries.setdefault((db.hostname, db.port, db.username), PgpassEntry(db.hostname, db.port, db.username, db))
    return list(entries.values())


def pgpass_escape(field: str) -> str:
    """A .pgpass field: backslash and colon escaped with a backslash (libpq's rule)."""
    return field.replace("\\", "\\\\").replace(":", "\\:")


def pgpass_block(entries: Sequence[PgpassEntry], passwords: Sequence[str]) -> str:
    """The managed block (``passwords`` in the order of ``entries``); ends with a newline."""
    if len(entries) != len(passwords):
        raise ValueError("one password per pgpass entry")
    lines = [PGPASS_BEGIN, "# managed by pg-dr (pg-dr:backup.databases); lines outside this block are yours"]
    for entry, password in zip(entries, passwords, strict=True):
        if "\n" in password or "\r" in password:
            raise ValueError(f"the password of {entry.username}@{entry.hostname}:{entry.port} contains a newline")
        host, port, user = pgpass_escape(entry.hostname), pgpass_escape(str(entry.port)), pgpass_escape(entry.username)
        lines.append(f"{host}:{port}:*:{user}:{pgpass_escape(password)}")
    lines.append(PGPASS_END)
    return "\n".join(lines) + "\n"


def redacted_pgpass_block(entries: Sequence[PgpassEntry]) -> str:
    """The block as published for review: every password replaced by ``[redacted]``."""
    return pgpass_block(entries, [REDACTED] * len(entries))


def merge_pgpass(existing: bytes | None, block: bytes | None) -> bytes:
    """The reference merge (the remote script does the same in POSIX sh).

    The user's lines outside the block are kept byte for byte; an existing block is replaced where it is;
    without one, the block goes first (so its lines win libpq's first-match rule). ``block=None`` removes
    the block. A file with an unbalanced or repeated block is refused (ValueError).
    """
    existing = existing or b""
    lines = re.findall(rb"[^\n]*\n|[^\n]+\Z", existing)  # newline-terminated lines, like grep and head count
    begins = [i for i, line in enumerate(lines) if line.rstrip(b"\n") == PGPASS_BEGIN.encode()]
    ends = [i for i, line in enumerate(lines) if line.rstrip(b"\n") == PGPASS_END.encode()]
    new = block or b""
    if not begins and not ends:
        return new + existing
    if len(begins) != 1 or len(ends) != 1 or begins[0] > ends[0]:
        raise ValueError(f"malformed pg-dr block ({len(begins)} BEGIN, {len(ends)} END lines)")
    head, tail = b"".join(lines[: begins[0]]), b"".join(lines[ends[0] + 1 :])
    return head + new + tail


# -------------------------------------------------------------------------------------------- schedule
@dataclass(frozen=True)
class ScheduleFile:
    path: str  # absolute, on the backup host
    text: str
    unit: str  # the file name (render path under hosts/<host>/)


def borgmatic_argv(cfg: BackupConfig) -> list[str]:
    """What the schedule runs: borgmatic's default actions (create, prune, compact, check) on our config."""
    return [cfg.borgmatic_path, "--config", cfg.resolved_config_path, "--verbosity", "1"]


def launchd_plist(cfg: BackupConfig) -> str:
    label = cfg.schedule.label
    logs = posixpath.join(cfg.home_dir, "Library", "Logs", f"{label}.log")
    doc = {
        "Label": label,
        "ProgramArguments": borgmatic_argv(cfg),
        "EnvironmentVariables": {"PATH": run_path(cfg), "HOME": cfg.home_dir, **pgpass_env(cfg)},
        "StartCalendarInterval": {"Hour": cfg.schedule.hour, "Minute": cfg.schedule.minute},
        "RunAtLoad": False,
        "ProcessType": "Background",
        "StandardOutPath": logs,
        "StandardErrorPath": logs,
    }
    return plistlib.dumps(doc, fmt=plistlib.FMT_XML, sort_keys=False).decode()


def _systemd_quote(word: str) -> str:
    if all(c.isalnum() or c in "/._-:=@+," for c in word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd_units(cfg: BackupConfig) -> tuple[str, str]:
    """The user service and timer (``<label>.service`` / ``<label>.timer``)."""
    env = {"PATH": run_path(cfg), **pgpass_env(cfg)}
    service = "\n".join(
        [
            "# Managed by pg-dr (pg-dr:backup.schedule): edit the stack config, not this file.",
            "[Unit]",
            "Description=borgmatic backup (pg-dr)",
            "Wants=network-online.target",
            "After=network-online.target",
            "",
            "[Service]",
            "Type=oneshot",
            *(f"Environment={_systemd_quote(f'{k}={v}')}" for k, v in env.items()),
            "ExecStart=" + " ".join(_systemd_quote(a) for a in borgmatic_argv(cfg)),
            "",
        ]
    )
    timer = "\n".join(
        [
            "# Managed by pg-dr (pg-dr:backup.schedule): edit the stack config, not this file.",
            "[Unit]",
            "Description=borgmatic backup schedule (pg-dr)",
            "",
            "[Timer]",
            f"OnCalendar=*-*-* {cfg.schedule.hour:02d}:{cfg.schedule.minute:02d}:00",
            "Persistent=true",
            f"Unit={cfg.schedule.label}.service",
            "",
            "[Install]",
            "WantedBy=timers.target",
            "",
        ]
    )
    return service, timer


def schedule_files(cfg: BackupConfig) -> list[ScheduleFile]:
    label = cfg.schedule.label
    if cfg.schedule.kind == "launchd":
        path = posixpath.join(cfg.home_dir, "Library", "LaunchAgents", f"{label}.plist")
        return [ScheduleFile(path, launchd_plist(cfg), f"{label}.plist")]
    if cfg.schedule.kind == "systemd":
        unit_dir = posixpath.join(cfg.home_dir, ".config", "systemd", "user")
        service, timer = systemd_units(cfg)
        return [
            ScheduleFile(posixpath.join(unit_dir, f"{label}.service"), service, f"{label}.service"),
            ScheduleFile(posixpath.join(unit_dir, f"{label}.timer"), timer, f"{label}.timer"),
        ]
    return []


# ------------------------------------------------------------------------------------------- archives
@dataclass(frozen=True)
class ExpectedDump:
    database: str  # "name@hostname:port", for messages
    path: str  # the archive path below borgmatic's runtime directory


def expected_dumps(cfg: BackupConfig) -> list[ExpectedDump]:
    """Each database's dump path in a borgmatic 2.1 archive.

    borgmatic dumps to ``<runtime dir>/./borgmatic/postgresql_databases/<label or hostname:port>/<name>``;
    with Borg >= 1.4 the "/./" cuts the prefix, so the archive path is exactly the path below; older Borg
    keeps the runtime directory in front of it (``tmp/borgmatic-XXXX/borgmatic/...``).
    """
    return [
        ExpectedDump(
            f"{db.name}@{db.hostname}:{db.port}", f"borgmatic/postgresql_databases/{db.dump_identifier}/{db.name}"
        )
        for db in cfg.databases
    ]


def render_files(cfg: BackupConfig) -> Mapping[str, str]:
    """Files published for review under ``hosts/<host>/`` (passwords redacted)."""
    base = f"hosts/{cfg.host}"
    files = {f"{base}/borgmatic.yaml": borgmatic_config(cfg)}
    entries = pgpass_entries(cfg)
    if entries:
        files[f"{base}/pgpass"] = redacted_pgpass_block(entries)
    for f in schedule_files(cfg):
        files[f"{base}/{f.unit}"] = f.text
    return files
