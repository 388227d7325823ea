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

from components.borgmatic.config import (
    FREQUENT_ARCHIVE_NAME_FORMAT,
    FREQUENT_KEEP_HOURLY,
    FREQUENT_MATCH_ARCHIVES,
    BackupConfig,
    DatabaseConfig,
    unit_paths,
)
from components.monitoring.plan import (
    CURL,
    Values,
    borgmatic_commands,
    borgmatic_monitoring,
    locked,
    needs_report,
    report_script,
)
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


def required_binaries(cfg: BackupConfig, drill_scheduled: bool = False) -> list[Binary]:
    """Every executable the backup host must have (a scheduled drill's wrapper also runs perl and curl)."""
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
    if drill_scheduled:
        tools.append(Binary("perl", "/usr/bin/perl", "pg-dr:drill.schedule (the wrapper reads JSON with perl)"))
        tools.append(Binary("curl", CURL, "pg-dr:drill.schedule (the wrapper pings with curl)"))
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


def roles_servers(cfg: BackupConfig, databases: Sequence[DatabaseConfig] | None = None) -> list[DatabaseConfig]:
    """One database per roles file (the first of each dump directory: a server's roles are stored once)."""
    first: dict[str, DatabaseConfig] = {}
    for db in cfg.databases if databases is None else databases:
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


def borgmatic_config(
    cfg: BackupConfig, values: Values | None = None, drill_scheduled: bool = False, frequent: bool = False
) -> str:
    """The borgmatic 2.x configuration file, deterministic for a given config.

    ``values``: the monitoring secrets (reference -> value); default: ``[redacted]`` (the review copy).
    ``frequent``: the frequent config instead (``databases[].every``): only those databases, its own
    archive names and match, hourly retention, no checks, and only ntfy's fail notification of the
    monitoring (a success ping every hour would hide a missed night from a Healthchecks check).
    """
    if values is None:
        values = dict.fromkeys(cfg.monitoring.secret_refs(), REDACTED)
    databases = cfg.frequent if frequent else cfg.databases
    doc: dict[str, object] = {
        # the roles of every backed-up server (below), in the same archive as the dumps
        "source_directories": [cfg.roles_directory],
        "local_path": cfg.borg_path,
        "repositories": [{"path": r.path, "label": r.label} for r in cfg.repositories],
        # pg-dr's archives only: another config's prune/check in the same repository never matches
        # these, and this config's never matches theirs (borgmatic passes --match-archives to borg).
        "archive_name_format": FREQUENT_ARCHIVE_NAME_FORMAT if frequent else cfg.archive_name_format,
        "match_archives": FREQUENT_MATCH_ARCHIVES if frequent else cfg.match_archives,
    }
    if cfg.lock_wait is not None:
        doc["lock_wait"] = cfg.lock_wait
    # its own runtime base: another config's run never removes this one's dumps in progress (nor the reverse)
    doc["user_runtime_directory"] = cfg.resolved_runtime_directory + ("-frequent" if frequent else "")
    if cfg.encryption_passcommand:
        doc["encryption_passcommand"] = cfg.encryption_passcommand
    doc["compression"] = cfg.compression
    if frequent:
        doc["keep_hourly"] = FREQUENT_KEEP_HOURLY
    else:
        for key in ("keep_daily", "keep_weekly", "keep_monthly", "keep_yearly"):
            value = getattr(cfg.retention, key)
            if value is not None:
                doc[key] = value
        if cfg.checks:
            doc["checks"] = [{"name": c.name, "frequency": c.frequency} for c in cfg.checks]
    doc["postgresql_databases"] = [_database_entry(cfg, db) for db in databases]
    monitoring = cfg.monitoring
    if frequent:
        monitoring = monitoring.model_copy(update={"healthchecks": None, "uptime_kuma": None})
        if monitoring.ntfy is not None:
            monitoring = monitoring.model_copy(update={"ntfy": monitoring.ntfy.model_copy(update={"states": ["fail"]})})
    what = f"pg-dr {'frequent ' if frequent else ''}backup on {cfg.host}"
    doc |= borgmatic_monitoring(monitoring, values, what)
    # the roles of every backed-up server, dumped before create into source_directories (same archive)
    roles = {
        "before": "action",
        "when": ["create"],
        "run": [roles_dump_command(cfg, db) for db in roles_servers(cfg, databases)],
    }
    hooks = borgmatic_commands(cfg, frequent or locked(cfg, drill_scheduled), databases)
    # in the order they run: the run lock (before the configuration), then the roles (before create)
    first = [h for h in hooks if h.get("before") == "configuration"]
    doc["commands"] = [*first, roles, *(h for h in hooks if h not in first)]
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


@dataclass(frozen=True)
class Job:
    """A scheduled job on the backup host, as launchd and systemd both run it (the backup, the drill)."""

    label: str
    argv: list[str]
    env: dict[str, str]  # PATH first (launchd starts a job with almost none), then the job's own
    home_dir: str
    hour: int
    minute: int
    weekday: int | None  # None: every day; 0 (or 7) Sunday .. 6 Saturday
    what: str  # for the units' descriptions, e.g. "borgmatic backup"
    key: str  # the config key that sets it, for the "edit the stack config" mark
    every_hours: int | None = None  # every N hours (N divides 24) from ``hour``, instead of once a day


def borgmatic_argv(cfg: BackupConfig) -> list[str]:
    """What the schedule runs: borgmatic's default actions (create, prune, compact, check) on our config."""
    return [cfg.borgmatic_path, "--config", cfg.resolved_config_path, "--verbosity", "1"]


def backup_job(cfg: BackupConfig) -> Job:
    s = cfg.schedule
    env = {"PATH": run_path(cfg), **pgpass_env(cfg)}
    return Job(
        s.label, borgmatic_argv(cfg), env, cfg.home_dir, s.hour, s.minute, None, "borgmatic backup", "backup.schedule"
    )


def frequent_argv(cfg: BackupConfig) -> list[str]:
    """What the frequent schedule runs: its config's create, prune and compact (checks stay nightly)."""
    return [cfg.borgmatic_path, "--config", cfg.frequent_config_path, "--verbosity", "1", "create", "prune", "compact"]


def frequent_job(cfg: BackupConfig) -> Job:
    """Every ``databases[].every`` hours, at half past the backup's minute (never at the nightly's minute)."""
    s = cfg.schedule
    every = cfg.frequent[0].every_hours
    assert every is not None
    env = {"PATH": run_path(cfg), **pgpass_env(cfg)}
    minute = (s.minute + 30) % 60
    return Job(
        cfg.frequent_label, frequent_argv(cfg), env, cfg.home_dir, s.hour % every, minute, None,
        "borgmatic frequent backup", "backup.databases[].every", every,
    )  # fmt: skip


def _mark(job: Job) -> str:
    return f"{OWNER_MARK} (pg-dr:{job.key}): edit the stack config, not this file."


def launchd_plist(job: Job) -> str:
    logs = posixpath.join(job.home_dir, "Library", "Logs", f"{job.label}.log")
    calendar: dict[str, int] | list[dict[str, int]] = {"Hour": job.hour, "Minute": job.minute}
    if job.weekday is not None:
        calendar["Weekday"] = job.weekday  # type: ignore[index]
    if job.every_hours == 1:
        calendar = {"Minute": job.minute}  # launchd: every hour
    elif job.every_hours is not None:
        calendar = [{"Hour": h, "Minute": job.minute} for h in range(job.hour % job.every_hours, 24, job.every_hours)]
    doc = {
        "Label": job.label,
        "ProgramArguments": job.argv,
        "EnvironmentVariables": {"PATH": job.env["PATH"], "HOME": job.home_dir, **job.env},
        "StartCalendarInterval": calendar,
        "RunAtLoad": False,
        "ProcessType": "Background",
        "StandardOutPath": logs,
        "StandardErrorPath": logs,
    }
    text = plistlib.dumps(doc, fmt=plistlib.FMT_XML, sort_keys=False).decode()
    declaration, _, rest = text.partition("\n")
    return f"{declaration}\n<!-- {_mark(job)} -->\n{rest}"


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


WEEKDAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def on_calendar(job: Job) -> str:
    """systemd's OnCalendar for the job's time (and weekday)."""
    day = f"{WEEKDAYS[job.weekday]} " if job.weekday is not None else ""
    if job.every_hours == 1:
        return f"*-*-* *:{job.minute:02d}:00"
    if job.every_hours is not None:
        return f"*-*-* {job.hour % job.every_hours:02d}/{job.every_hours}:{job.minute:02d}:00"
    return f"{day}*-*-* {job.hour:02d}:{job.minute:02d}:00"


def systemd_units(job: Job) -> tuple[str, str]:
    """The user service and timer (``<label>.service`` / ``<label>.timer``)."""
    service = "\n".join(
        [
            f"# {_mark(job)}",
            "[Unit]",
            f"Description={job.what} (pg-dr)",
            "Wants=network-online.target",
            "After=network-online.target",
            "",
            "[Service]",
            "Type=oneshot",
            *(f"Environment={_systemd_quote(f'{k}={v}')}" for k, v in job.env.items()),
            "ExecStart=" + " ".join(_systemd_quote(a, argument=i > 0) for i, a in enumerate(job.argv)),
            "",
        ]
    )
    timer = "\n".join(
        [
            f"# {_mark(job)}",
            "[Unit]",
            f"Description={job.what} schedule (pg-dr)",
            "",
            "[Timer]",
            f"OnCalendar={on_calendar(job)}",
            "Persistent=true",
            f"Unit={job.label}.service",
            "",
            "[Install]",
            "WantedBy=timers.target",
            "",
        ]
    )
    return service, timer


def job_files(kind: str, job: Job) -> list[ScheduleFile]:
    """A job's schedule files for ``kind`` (none for ``existing`` or ``none``)."""
    paths = unit_paths(kind, job.home_dir, job.label)
    texts = [launchd_plist(job)] if kind == "launchd" else list(systemd_units(job)) if kind == "systemd" else []
    return [ScheduleFile(path, text, posixpath.basename(path)) for path, text in zip(paths, texts, strict=True)]


def schedule_files(cfg: BackupConfig) -> list[ScheduleFile]:
    """pg-dr's own backup schedule files (none with kind ``existing`` or ``none``)."""
    return job_files(cfg.schedule.kind, backup_job(cfg))


def frequent_schedule_files(cfg: BackupConfig) -> list[ScheduleFile]:
    """The frequent schedule's files (``databases[].every``; the config requires kind launchd or systemd)."""
    return job_files(cfg.schedule.kind, frequent_job(cfg)) if cfg.frequent else []


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
    report_text: str | None  # pg-dr-report (metrics, the run lock), when needed
    frequent_config_text: str | None  # the frequent config (databases[].every), review copy
    frequent_schedule_files: list[ScheduleFile]

    @property
    def content_triggers(self) -> list[str]:
        """The texts whose change re-runs the preflight and the verification: config, then schedule files."""
        return [
            self.config_text,
            *(f.text for f in self.schedule_files),
            *([self.report_text] if self.report_text else []),
        ]

    def render_files(self, host: str) -> dict[str, str]:
        """Files published for review under ``hosts/<host>/`` (passwords redacted)."""
        files = {host_file(host, "borgmatic.yaml"): self.config_text}
        if self.report_text is not None:
            files[host_file(host, "pg-dr-report")] = self.report_text
        if self.frequent_config_text is not None:
            files[host_file(host, "borgmatic-frequent.yaml")] = self.frequent_config_text
        for f in self.frequent_schedule_files:
            files[host_file(host, f.unit)] = f.text
        if self.pgpass_entries:
            files[host_file(host, "pgpass")] = redacted_pgpass_block(self.pgpass_entries)
        for f in self.schedule_files:
            files[host_file(host, f.unit)] = f.text
        return files


def plan_backup(cfg: BackupConfig, drill_scheduled: bool = False) -> BackupPlan:
    """``drill_scheduled``: a scheduled drill shares the run lock (borgmatic's hooks take it)."""
    return BackupPlan(
        config_text=borgmatic_config(cfg, drill_scheduled=drill_scheduled),
        binaries=required_binaries(cfg, drill_scheduled),
        schedule_files=schedule_files(cfg),
        pgpass_entries=pgpass_entries(cfg),
        expected_dumps=expected_dumps(cfg),
        pgpass_env=pgpass_env(cfg),
        report_text=report_script(cfg) if needs_report(cfg, drill_scheduled) else None,
        frequent_config_text=borgmatic_config(cfg, frequent=True) if cfg.frequent else None,
        frequent_schedule_files=frequent_schedule_files(cfg),
    )
