"""What BorgmaticHost delivers, as text: pure functions of ``pg-dr:backup`` (no Pulumi, no I/O), and the plan.

:func:`plan_backup` computes everything once into a frozen :class:`BackupPlan` that the component turns
into resources.

* ``borgmatic_config``: the borgmatic 2.x ``config.yaml`` (``local_path``, absolute ``pg_dump_command`` /
  ``pg_restore_command`` / ``psql_command``, no password: libpq reads ``~/.pgpass``);
* ``pgpass_block``: the ``# BEGIN pg-dr`` ... ``# END pg-dr`` block of ``~/.pgpass`` (one line per host,
  port and user; :mod:`components.remote.pgpass` escapes and merges it);
* ``schedule_files``: a launchd LaunchAgent plist or systemd user service + timer;
* ``expected_dumps``: where borgmatic 2.1 stores each database's dump inside an archive.
"""

from __future__ import annotations

import plistlib
import posixpath
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

import yaml

from components.borgmatic.config import BackupConfig, DatabaseConfig
from components.outputs import host_file
from components.remote.pgpass import PgpassLine
from components.remote.pgpass import pgpass_block as _block
from components.remote.shell import BARE_PATH

PGPASS_BEGIN = "# BEGIN pg-dr"
PGPASS_END = "# END pg-dr"
REDACTED = "[redacted]"
# Every file pg-dr writes on the host carries this mark: the host check (adopt.py) refuses to overwrite
# a file at one of pg-dr's paths that does not (it is someone else's) unless pg-dr:backup.adoptExisting.
OWNER_MARK = "Managed by pg-dr"
HEADER = f"# {OWNER_MARK} (pg-dr:backup): edit the stack config, not this file.\n"


# ------------------------------------------------------------------------------------------ binaries
def pg_tool(cfg: BackupConfig, name: str) -> str:
    return posixpath.join(cfg.pg_bin_dir, name)


@dataclass(frozen=True)
class Binary:
    name: str
    path: str  # absolute, on the backup host
    key: str  # the config key that sets it, for the preflight's message


def required_binaries(cfg: BackupConfig) -> list[Binary]:
    """Every executable the backup host must have."""
    tools = [
        Binary("borg", cfg.borg_path, "pg-dr:backup.borgPath"),
        Binary("borgmatic", cfg.borgmatic_path, "pg-dr:backup.borgmaticPath"),
        Binary("pg_dump", pg_tool(cfg, "pg_dump"), "pg-dr:backup.pgBinDir"),
        Binary("pg_restore", pg_tool(cfg, "pg_restore"), "pg-dr:backup.pgBinDir"),
        Binary("psql", pg_tool(cfg, "psql"), "pg-dr:backup.pgBinDir"),
        Binary("pg_dumpall", pg_tool(cfg, "pg_dumpall"), "pg-dr:backup.pgBinDir"),
    ]
    if cfg.schedule.kind == "launchd":
        tools.append(Binary("launchctl", cfg.schedule.launchctl_path, "pg-dr:backup.schedule.launchctlPath"))
    elif cfg.schedule.kind == "systemd":
        tools.append(Binary("systemctl", cfg.schedule.systemctl_path, "pg-dr:backup.schedule.systemctlPath"))
    return tools


def pgpass_env(cfg: BackupConfig) -> dict[str, str]:
    """``PGPASSFILE`` when the pgpass file is not libpq's default ``$HOME/.pgpass``."""
    default = posixpath.join(cfg.home_dir, ".pgpass")
    return {} if cfg.resolved_pgpass_path == default else {"PGPASSFILE": cfg.resolved_pgpass_path}


def run_path(cfg: BackupConfig) -> str:
    """The PATH a scheduled run gets: pgBinDir and borg's directory first (the LaunchAgent PATH lesson)."""
    dirs = [cfg.pg_bin_dir, posixpath.dirname(cfg.borg_path), posixpath.dirname(cfg.borgmatic_path), *BARE_PATH]
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


def roles_servers(cfg: BackupConfig) -> list[DatabaseConfig]:
    """One database per roles file (the first of each dump directory: a server's roles are stored once)."""
    first: dict[str, DatabaseConfig] = {}
    for db in cfg.databases:
        first.setdefault(cfg.roles_path(db), db)
    return list(first.values())


def roles_dump_command(cfg: BackupConfig, db: DatabaseConfig) -> str:
    """The hook command storing ``db``'s server's roles before ``create``: ``pg_dumpall --roles-only
    --no-role-passwords`` as the backup role (it reads ``pg_roles``; no superuser, no password in the file),
    mode 0600 (umask 077), written aside and renamed, so a failed dump never leaves half a file."""
    path = cfg.roles_path(db)
    part = posixpath.join(posixpath.dirname(path), "." + posixpath.basename(path) + ".part")
    dump = [
        pg_tool(cfg, "pg_dumpall"),
        *("--roles-only", "--no-role-passwords", "-w"),
        *("-h", db.hostname, "-p", str(db.port), "-U", db.username, "-l", db.name, "-f", part),
    ]
    return (
        f"umask 077 && mkdir -p {shlex.quote(cfg.roles_directory)} && "
        f"PGPASSFILE={shlex.quote(cfg.resolved_pgpass_path)} {shlex.join(dump)} "
        f"&& mv -f {shlex.quote(part)} {shlex.quote(path)}"
    )


def borgmatic_config(cfg: BackupConfig) -> str:
    """The borgmatic 2.x configuration file, deterministic for a given config."""
    doc: dict[str, object] = {
        # the roles of every backed-up server (below), in the same archive as the dumps
        "source_directories": [cfg.roles_directory],
        "local_path": cfg.borg_path,
        "repositories": [{"path": r.path, "label": r.label} for r in cfg.repositories],
        # pg-dr's archives only: another config's prune/check in the same repository never matches
        # these, and this config's never matches theirs (borgmatic passes --match-archives to borg).
        "archive_name_format": cfg.archive_name_format,
        "match_archives": cfg.match_archives,
    }
    if cfg.lock_wait is not None:
        doc["lock_wait"] = cfg.lock_wait
    # its own runtime base: another config's run never removes this one's dumps in progress (nor the reverse)
    doc["user_runtime_directory"] = cfg.resolved_runtime_directory
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
    doc["commands"] = [
        {"before": "action", "when": ["create"], "run": [roles_dump_command(cfg, db) for db in roles_servers(cfg)]}
    ]
    return HEADER + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=1000)


# ---------------------------------------------------------------------------------------------- pgpass
PGPASS_COMMENT = "# managed by pg-dr (pg-dr:backup.databases); lines outside this block are yours"


@dataclass(frozen=True)
class PgpassEntry(PgpassLine):
    database: DatabaseConfig  # the first entry with these credentials (its ``password`` is the reference)


def pgpass_entries(cfg: BackupConfig) -> list[PgpassEntry]:
    """One entry per (host, port, user) that has a password reference, in config order."""
    entries: dict[tuple[str, int, str], PgpassEntry] = {}
    for db in cfg.databases:
        if db.password is not None:
            entries.setdefault((db.hostname, db.port, db.username), PgpassEntry(db.hostname, db.port, db.username, db))
    return list(entries.values())


def pgpass_block(entries: Sequence[PgpassEntry], passwords: Sequence[str]) -> str:
    """The managed block (``passwords`` in the order of ``entries``); ends with a newline."""
    return _block(PGPASS_BEGIN, PGPASS_END, PGPASS_COMMENT, entries, passwords)


def redacted_pgpass_block(entries: Sequence[PgpassEntry]) -> str:
    """The block as published for review: every password replaced by ``[redacted]``."""
    return pgpass_block(entries, [REDACTED] * len(entries))


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
    text = plistlib.dumps(doc, fmt=plistlib.FMT_XML, sort_keys=False).decode()
    declaration, _, rest = text.partition("\n")
    return (
        f"{declaration}\n<!-- {OWNER_MARK} (pg-dr:backup.schedule): edit the stack config, not this file. -->\n{rest}"
    )


def _systemd_quote(word: str, argument: bool = False) -> str:
    """``word`` as one word of a unit file line: ``%`` escaped (systemd expands specifiers such as ``%h``),
    in a command's arguments ``$`` too (``$VAR`` is expanded there, not in the program's path), quoted when
    it holds anything else."""
    word = word.replace("%", "%%")
    if argument:
        word = word.replace("$", "$$")
    if all(c.isalnum() or c in "/._-:=@+,%$" for c in word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd_units(cfg: BackupConfig) -> tuple[str, str]:
    """The user service and timer (``<label>.service`` / ``<label>.timer``)."""
    env = {"PATH": run_path(cfg), **pgpass_env(cfg)}
    service = "\n".join(
        [
            f"# {OWNER_MARK} (pg-dr:backup.schedule): edit the stack config, not this file.",
            "[Unit]",
            "Description=borgmatic backup (pg-dr)",
            "Wants=network-online.target",
            "After=network-online.target",
            "",
            "[Service]",
            "Type=oneshot",
            *(f"Environment={_systemd_quote(f'{k}={v}')}" for k, v in env.items()),
            "ExecStart=" + " ".join(_systemd_quote(a, argument=i > 0) for i, a in enumerate(borgmatic_argv(cfg))),
            "",
        ]
    )
    timer = "\n".join(
        [
            f"# {OWNER_MARK} (pg-dr:backup.schedule): edit the stack config, not this file.",
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
    """pg-dr's own schedule files (none with kind ``existing`` or ``none``)."""
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
    directory: bool  # a directory-format dump (a directory entry, not a file)
    roles: bool = False  # the server's roles file (pg_dumpall --roles-only), not a database dump


def expected_dumps(cfg: BackupConfig) -> list[ExpectedDump]:
    """Each database's dump in a borgmatic 2.1 archive (:attr:`DatabaseConfig.dump_path`), then each
    server's roles file."""
    dumps = [
        ExpectedDump(f"{db.name}@{db.hostname}:{db.port}", db.dump_path, db.format == "directory")
        for db in cfg.databases
    ]
    dumps += [
        ExpectedDump(f"roles of {db.hostname}:{db.port}", cfg.roles_archive_path(db), False, roles=True)
        for db in roles_servers(cfg)
    ]
    return dumps


@dataclass(frozen=True)
class BackupPlan:
    """Everything BorgmaticHost delivers and checks, computed once from ``pg-dr:backup``."""

    config_text: str
    binaries: list[Binary]
    schedule_files: list[ScheduleFile]
    pgpass_entries: list[PgpassEntry]
    expected_dumps: list[ExpectedDump]
    pgpass_env: dict[str, str]

    @property
    def content_triggers(self) -> list[str]:
        """The texts whose change re-runs the preflight and the verification: config, then schedule files."""
        return [self.config_text, *(f.text for f in self.schedule_files)]

    def render_files(self, host: str) -> dict[str, str]:
        """Files published for review under ``hosts/<host>/`` (passwords redacted)."""
        files = {host_file(host, "borgmatic.yaml"): self.config_text}
        if self.pgpass_entries:
            files[host_file(host, "pgpass")] = redacted_pgpass_block(self.pgpass_entries)
        for f in self.schedule_files:
            files[host_file(host, f.unit)] = f.text
        return files


def plan_backup(cfg: BackupConfig) -> BackupPlan:
    return BackupPlan(
        config_text=borgmatic_config(cfg),
        binaries=required_binaries(cfg),
        schedule_files=schedule_files(cfg),
        pgpass_entries=pgpass_entries(cfg),
        expected_dumps=expected_dumps(cfg),
        pgpass_env=pgpass_env(cfg),
    )
