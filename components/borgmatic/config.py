"""``pg-dr:backup``: borgmatic on the backup host (see docs/configuration.md, ``pg-dr:backup``)."""

from __future__ import annotations

import posixpath
import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    Field,
    model_validator,
)

from components.borgmatic.archives import derived_match, format_problem, match_problem
from components.config.base import (
    AbsPath,
    HostKey,
    Hostname,
    Model,
    PgIdent,
    Port,
    RoleName,
    Tag,
    Text,
    _check,
    _NestedProblems,
)
from components.config.host_key import rsa_pin_problem
from components.monitoring.config import MonitoringConfig
from components.remote.pgpass import PgpassLine, password_conflicts
from components.secrets.refs import SecretRef

# ---------------------------------------------------------------------------------------------- backup
# Dump and restore defaults, in one place: the restore benchmark (bench/rto.py; bench/results.md and
# bench/variants.md) picks them; every database entry can override them (``format``, ``compression``,
# ``restoreJobs``). An uncompressed custom dump streamed into borg, which compresses it (zstd,3):
# * restore: the same as every other custom-format setting tried (raw pg_restore + ~2 s of fixed
#   borgmatic/borg start-up and ANALYZE; streaming costs nothing measurable);
# * backup: ~4x faster than pg_dump -Fc's own gzip (pg_dump's single-threaded compressor is the bottleneck);
# * repository: the smallest archive, and borg deduplicates day to day (+7 MB for a day's churn of a
#   500 MB database, against +175 MB or more for a gzip'd dump, which changes after its first change).
# Streamed custom dumps restore single-job (pg_restore cannot read stdin in parallel); a directory dump
# with restoreJobs restored slower on the 2-core benchmark machine (extracted to disk first).
DEFAULT_DUMP_FORMAT: Literal["custom", "directory", "tar", "plain"] = "custom"
DEFAULT_DUMP_COMPRESSION: str | int | None = 0
DEFAULT_RESTORE_JOBS: int | None = None
DEFAULT_BORG_COMPRESSION = "zstd,3"
# pg-dr's archives in a repository another borgmatic config also writes to: its own name prefix, and the
# match that keeps prune/check/list of either config off the other's archives (proved in archives.py;
# see docs/brownfield.md).
DEFAULT_ARCHIVE_NAME_FORMAT = "pg-dr-{hostname}-{now:%Y-%m-%dT%H:%M:%S.%f}"
DEFAULT_MATCH_ARCHIVES = derived_match(DEFAULT_ARCHIVE_NAME_FORMAT)
# The frequent config's archives (databases[].every): a prefix pg-dr's nightly match never matches (every
# nightly format starts with the literal "pg-dr-", and so does its match), so neither config's prune ever
# counts (or deletes) the other's archives; kept per hour for two days.
FREQUENT_ARCHIVE_NAME_FORMAT = "pgdr-frequent-{hostname}-{now:%Y-%m-%dT%H:%M:%S.%f}"
FREQUENT_MATCH_ARCHIVES = "sh:pgdr-frequent-*"
FREQUENT_KEEP_HOURLY = 48
# Waits a night can afford: beyond them a run never ends in practice (and 10^30 is no shell number).
MAX_LOGIN_WAIT_SECONDS = 3600
MAX_LOCK_WAIT_SECONDS = 86400
MAX_RESTORE_JOBS = 2147483647  # pg_restore --jobs takes 1..INT_MAX

_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_DUMP_COMPRESSION = re.compile(r"(none|gzip|lz4|zstd)(:[A-Za-z0-9=,_-]+)?|[0-9]")
Label = Annotated[Text, AfterValidator(_check(_LABEL, "a label of letters, digits, '.', '_' and '-'"))]


def _dump_compression(value: str | int | None) -> str | int | None:
    if value is not None and not _DUMP_COMPRESSION.fullmatch(str(value)):
        raise ValueError(f"{value!r} is not a pg_dump compression (0-9, none, gzip, lz4, zstd[:detail])")
    return value


def _repository_path(value: str) -> str:
    if "::" in value:
        raise ValueError(f"{value!r} holds '::': Borg reads what follows as an archive name")
    return value


class RepositoryConfig(Model):
    path: Annotated[Text, AfterValidator(_repository_path)] = Field(min_length=1)
    label: Label


class RetentionConfig(Model):
    keep_daily: int | None = Field(default=7, ge=0)
    keep_weekly: int | None = Field(default=None, ge=0)
    keep_monthly: int | None = Field(default=12, ge=0)
    keep_yearly: int | None = Field(default=1000, ge=0)

    @model_validator(mode="after")
    def _keeps_an_archive(self) -> RetentionConfig:
        # borgmatic passes the keep_* it has to borg prune, which refuses to run with none above 0 ("At least
        # one of the keep-... settings must be specified"): every nightly run would fail after its backup.
        if not any(getattr(self, k) for k in ("keep_daily", "keep_weekly", "keep_monthly", "keep_yearly")):
            raise ValueError(
                "keeps no archive: borg prune refuses to run unless one of keepDaily, keepWeekly, keepMonthly, "
                "keepYearly is at least 1 (every nightly run would fail)"
            )
        return self


# borgmatic 2.1.10 (actions/check.py parse_frequency): "always", or "<integer> <unit>" split on one space,
# after strip() and lower(); the unit, with an "s" added when missing, is a timedelta keyword, months or years.
_FREQUENCY_UNITS = {"microseconds": 1e-6, "milliseconds": 1e-3, "seconds": 1, "minutes": 60, "hours": 3600,
                    "days": 86400, "weeks": 604800, "months": 30 * 86400, "years": 365 * 86400}  # fmt: skip
MAX_CHECK_FREQUENCY_SECONDS = 100 * 365 * 86400  # later borgmatic adds it to a date: a year past 9999 crashes


def frequency_seconds(frequency: str) -> float | None:
    """The check interval borgmatic reads from ``frequency`` (None: always); ValueError where borgmatic fails."""
    if not frequency:
        return None
    text = frequency.strip().lower()
    if text == "always":
        return None
    parts = text.split(" ")
    if len(parts) != 2:
        raise ValueError
    number, unit = parts
    count = int(number)  # what borgmatic calls: takes "+2", "-2", "1_0" and non-ASCII digits too
    unit = unit if unit.endswith("s") else unit + "s"
    if unit not in _FREQUENCY_UNITS:
        raise ValueError
    return count * _FREQUENCY_UNITS[unit]


def _frequency(value: str) -> str:
    try:
        seconds = frequency_seconds(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a frequency borgmatic reads: 'always' or '<number> <unit>' (one space; unit: "
            "minute(s), hour(s), day(s), week(s), month(s), year(s)); borgmatic's check would fail every night"
        ) from None
    if seconds is not None and abs(seconds) > MAX_CHECK_FREQUENCY_SECONDS:
        raise ValueError(f"{value!r} is more than 100 years: borgmatic's check would fail adding it to a date")
    return value


class CheckConfig(Model):
    name: Literal["repository", "archives", "data", "extract", "spot"]
    frequency: Annotated[Text, AfterValidator(_frequency)] = "always"

    @model_validator(mode="after")
    def _no_spot(self) -> CheckConfig:
        if self.name == "spot":
            # borgmatic's spot check needs data_sample_percentage & co. and compares source files with the
            # latest archive: pg-dr's config has database dumps only, so the check fails every night.
            raise _NestedProblems([("name", "spot compares source files with the archive: pg-dr backs up "
                                    "databases only (use repository, archives, data or extract)")])  # fmt: skip
        return self


class ScheduleConfig(Model):
    """When pg-dr's config runs: its own agent/timer, an existing one the host already has, or none.

    ``existing``: pg-dr adds no schedule; the host's agent ``existingLabel`` runs ``borgmatic`` without
    ``-c``/``--config``, and so runs every config in ``~/.config/borgmatic.d`` (pg-dr's included). The
    host check proves that before anything is delivered. With ``launchd``/``systemd``, an
    ``existingLabel`` names the host's other borgmatic agent: it must run its own ``--config`` (else
    pg-dr's config would run twice a night).
    """

    kind: Literal["launchd", "systemd", "existing", "none"] = "launchd"
    hour: int = Field(default=2, ge=0, le=23)
    minute: int = Field(default=0, ge=0, le=59)
    label: Label = "io.pg-dr.borgmatic"
    existing_label: Label | None = None
    existing_kind: Literal["launchd", "systemd"] = "launchd"
    launchctl_path: AbsPath = "/bin/launchctl"
    systemctl_path: AbsPath = "/usr/bin/systemctl"

    @model_validator(mode="after")
    def _existing_needs_a_label(self) -> ScheduleConfig:
        if self.kind == "existing" and self.existing_label is None:
            raise _NestedProblems([("existingLabel", "required with kind existing: the agent that runs borgmatic")])
        if self.existing_label is not None and self.existing_label == self.label and self.kind != "existing":
            raise _NestedProblems([("existingLabel", f"is pg-dr's own label {self.label!r}: choose another label")])
        return self


class DatabaseConfig(Model):
    """One ``postgresql_databases`` entry of borgmatic."""

    name: PgIdent
    hostname: Hostname = "localhost"
    port: Port = 5432
    username: RoleName
    password: SecretRef | None = None
    tailnet_tag: Tag | None = None
    cluster: bool = False
    label: Label | None = None
    format: Literal["custom", "directory", "tar", "plain"] = DEFAULT_DUMP_FORMAT
    compression: Annotated[str | int | None, AfterValidator(_dump_compression)] = DEFAULT_DUMP_COMPRESSION
    restore_jobs: int | None = Field(default=DEFAULT_RESTORE_JOBS, ge=1, le=MAX_RESTORE_JOBS)
    # RPO below a day: also dumped by the frequent schedule (pg-dr's second config in the same repository)
    every: Literal["1h", "2h", "3h", "4h", "6h", "8h", "12h"] | None = None

    @property
    def every_hours(self) -> int | None:
        return int(self.every.removesuffix("h")) if self.every else None

    @model_validator(mode="after")
    def _restore_jobs_need_archive_format(self) -> DatabaseConfig:
        if self.restore_jobs is not None and self.format not in ("custom", "directory"):
            raise _NestedProblems([("restoreJobs", "parallel restore needs format custom or directory")])
        # Found by the restore benchmark (bench/results.md), borgmatic 2.1.10:
        if self.restore_jobs not in (None, 1) and self.format == "custom":
            raise _NestedProblems(
                [("restoreJobs", "borgmatic streams custom dumps into pg_restore's stdin, which cannot run in "
                  "parallel (\"parallel restore from standard input is not supported\"): use format directory")]
            )  # fmt: skip
        if self.format == "directory" and self.label is None:
            raise _NestedProblems(
                [("label", "required with format directory: borgmatic looks for a directory dump under the restore "
                  "target's host:port, so a restore to another server (the runbook's) finds nothing without one")]
            )  # fmt: skip
        return self

    @property
    def key(self) -> str:
        return f"{self.hostname}:{self.port}/{self.name}"

    @property
    def dump_identifier(self) -> str:
        """The directory borgmatic names this database's dump after: the label, else ``hostname:port``."""
        return self.label or f"{self.hostname}:{self.port}"

    @property
    def dump_path(self) -> str:
        """Where borgmatic 2.1 keeps this database's dump inside an archive (below its runtime directory).

        borgmatic dumps to ``<runtime dir>/./borgmatic/postgresql_databases/<label or hostname:port>/<name>``;
        with Borg >= 1.4 the "/./" cuts the prefix, so the archive path is exactly this; older Borg keeps the
        runtime directory in front of it (``tmp/borgmatic-XXXX/borgmatic/...``).
        """
        return f"borgmatic/postgresql_databases/{self.dump_identifier}/{self.name}"


class MetricsConfig(Model):
    """Prometheus metrics in node_exporter's textfile collector format (docs/monitoring.md)."""

    textfile_path: AbsPath

    @model_validator(mode="after")
    def _prom_file(self) -> MetricsConfig:
        if not self.textfile_path.endswith(".prom"):
            raise _NestedProblems(
                [("textfilePath", "must end in .prom (node_exporter's textfile collector reads only those)")]
            )
        return self


def _default_checks() -> list[CheckConfig]:
    return [CheckConfig(name="repository", frequency="2 weeks"), CheckConfig(name="archives", frequency="2 weeks")]


class BackupConfig(Model):
    """``pg-dr:backup``: borgmatic on the backup host, delivered over SSH."""

    host: Hostname
    port: Port = 22
    user: Text = Field(min_length=1)
    host_key: HostKey | None = None
    insecure_ignore_host_key: bool = False
    private_key: SecretRef | None = None
    home_dir: AbsPath
    config_path: AbsPath | None = None
    pgpass_path: AbsPath | None = None
    adopt_existing: bool = False
    archive_name_format: Text = Field(default=DEFAULT_ARCHIVE_NAME_FORMAT, min_length=1)
    match_archives: Text = Field(default=DEFAULT_MATCH_ARCHIVES, min_length=1)  # unset: derived from the format
    lock_wait: int | None = Field(default=None, ge=0, le=MAX_LOCK_WAIT_SECONDS)
    runtime_directory: AbsPath | None = None
    login_wait_seconds: int = Field(default=300, ge=0, le=MAX_LOGIN_WAIT_SECONDS)
    borg_path: AbsPath = "/opt/homebrew/bin/borg"
    borgmatic_path: AbsPath = "/opt/homebrew/bin/borgmatic"
    pg_bin_dir: AbsPath = "/opt/homebrew/opt/postgresql@18/bin"
    repositories: list[RepositoryConfig] = Field(min_length=1)
    encryption_passcommand: Text | None = None
    compression: Text = DEFAULT_BORG_COMPRESSION
    retention: RetentionConfig = RetentionConfig()
    checks: list[CheckConfig] = Field(default_factory=_default_checks)
    schedule: ScheduleConfig = ScheduleConfig()
    databases: list[DatabaseConfig] = Field(min_length=1)
    verify: bool = True
    monitoring: MonitoringConfig = MonitoringConfig()
    metrics: MetricsConfig | None = None
    rpo_hours: int = Field(default=26, ge=1)
    run_lock_wait_seconds: int = Field(default=3600, ge=0)  # a backup and a scheduled drill wait for each other
    restore_command_path: AbsPath | None = None  # pg-dr-restore (and pg-dr-drill beside it); 0755

    @model_validator(mode="before")
    @classmethod
    def _derive_match_archives(cls, data: object) -> object:
        """``matchArchives`` unset: the one pattern that matches exactly the format's literal head."""
        if not isinstance(data, dict) or "matchArchives" in data or "match_archives" in data:
            return data
        fmt = data.get("archiveNameFormat", data.get("archive_name_format"))
        if isinstance(fmt, str) and format_problem(fmt) is None:
            return {**data, "matchArchives": derived_match(fmt)}
        return data

    @model_validator(mode="after")
    def _host_key_pinned(self) -> BackupConfig:
        problems: list[tuple[str, str]] = []
        if self.host_key is None and not self.insecure_ignore_host_key:
            problems.append(("hostKey", "required: pin the host key (ssh-keyscan) or set insecureIgnoreHostKey: true"))
        elif self.host_key is not None and self.host_key.split()[0] == "ssh-rsa":
            problems.append(("hostKey", rsa_pin_problem(self.host)))
        seen: dict[tuple[str, int, str], int] = {}
        for i, db in enumerate(self.databases):
            k = (db.hostname, db.port, db.name)
            if k in seen:
                problems.append((f"databases[{i}]", f"duplicate database {db.key} (also databases[{seen[k]}])"))
            seen.setdefault(k, i)
        dumps: dict[tuple[str, str], int] = {}
        for i, db in enumerate(self.databases):
            first = dumps.setdefault((db.dump_identifier, db.name), i)
            other = self.databases[first]
            if first != i and (other.hostname, other.port) != (db.hostname, db.port):
                at = f"databases[{i}].label"
                problems.append((at, f"dump path {db.dump_identifier}/{db.name} is also used by databases[{first}]"))
        if self.schedule.kind == "existing" and not self.config_found_by_default:
            problems.append(
                ("configPath", "with schedule.kind existing it must be a file borgmatic reads when run without -c "
                 "(<homeDir>/.config/borgmatic.d/<name>.yaml)")
            )  # fmt: skip
        if self.schedule.kind == "existing" and self.resolved_pgpass_path != posixpath.join(self.home_dir, ".pgpass"):
            problems.append(
                ("pgpassPath", "with schedule.kind existing it must be <homeDir>/.pgpass: the host's agent does not "
                 "set PGPASSFILE")
            )  # fmt: skip
        if problem := format_problem(self.archive_name_format):
            problems.append(("archiveNameFormat", problem))
        elif problem := match_problem(self.match_archives, self.archive_name_format):
            problems.append(("matchArchives", problem))
        labels: dict[str, int] = {}
        for i, repo in enumerate(self.repositories):
            if repo.label in labels:
                problems.append(
                    (f"repositories[{i}].label", f"duplicate label (also repositories[{labels[repo.label]}])")
                )
            labels.setdefault(repo.label, i)
        for where, _, line in password_conflicts(self.pgpass_lines()):
            problems.append((where, f"differs from another entry for {line}"))
        if posixpath.basename(self.resolved_restore_command_path) == "pg-dr-drill":
            problems.append(("restoreCommandPath", "pg-dr-drill is the drill's file beside it: name it otherwise"))
        problems += _path_collisions(self)
        problems += _login_critical_paths(self)
        problems += self._frequent_problems()
        if problems:
            raise _NestedProblems(problems)
        return self

    def _frequent_problems(self) -> list[tuple[str, str]]:
        frequent = [(i, db) for i, db in enumerate(self.databases) if db.every is not None]
        if not frequent:
            return []
        problems: list[tuple[str, str]] = []
        first_i, first = frequent[0]
        for i, db in frequent[1:]:
            if db.every != first.every:
                problems.append(
                    (f"databases[{i}].every", f"{db.every} differs from databases[{first_i}].every {first.every}: "
                     "one frequent schedule per stack")
                )  # fmt: skip
        if self.schedule.kind not in ("launchd", "systemd"):
            problems.append(
                (f"databases[{first_i}].every", "needs pg-dr's own schedule (schedule.kind launchd or systemd)")
            )
        return problems

    @property
    def frequent(self) -> list[DatabaseConfig]:
        """The databases with ``every`` (dumped by the frequent schedule too)."""
        return [db for db in self.databases if db.every is not None]

    @property
    def frequent_config_path(self) -> str:
        """The frequent config: outside borgmatic's directories (a bare ``borgmatic`` never runs it)."""
        return f"{self.home_dir}/.config/pg-dr/borgmatic-frequent.yaml"

    @property
    def frequent_label(self) -> str:
        return f"{self.schedule.label}.frequent"

    def pgpass_lines(self) -> list[tuple[str, PgpassLine, SecretRef | None]]:
        """``(key path, pgpass line, password reference)`` of every database."""
        return [
            (f"databases[{i}].password", PgpassLine(db.hostname, db.port, db.username), db.password)
            for i, db in enumerate(self.databases)
        ]

    @property
    def resolved_config_path(self) -> str:
        """pg-dr's own file in borgmatic's config directory: a bare ``borgmatic`` runs it beside the host's."""
        return self.config_path or f"{self.home_dir}/.config/borgmatic.d/pg-dr.yaml"

    @property
    def resolved_runtime_directory(self) -> str:
        """borgmatic's ``user_runtime_directory`` for pg-dr's config: its own, not ``/tmp`` or ``$TMPDIR``.

        borgmatic 2.x removes leftover dumps with a glob over *every* ``borgmatic-*`` directory in its
        runtime base (``<base>/borgmatic-*/borgmatic/postgresql_databases``) when a run starts: a run of
        another config sharing the base deletes the dumps (and bootstrap data) of a run in progress.
        """
        return self.runtime_directory or f"{self.home_dir}/.cache/pg-dr/borgmatic"

    @property
    def config_found_by_default(self) -> bool:
        """Whether ``borgmatic`` without ``-c`` (as the host's user) reads pg-dr's config file.

        borgmatic 2.x reads ``/etc/borgmatic/config.yaml``, ``/etc/borgmatic.d/*.yaml``,
        ``~/.config/borgmatic/config.yaml`` and ``~/.config/borgmatic.d/*.yaml`` (not recursively).
        """
        path = self.resolved_config_path
        user_dir = posixpath.join(self.home_dir, ".config")
        directory, name = posixpath.split(path)
        if directory in (posixpath.join(user_dir, "borgmatic.d"), "/etc/borgmatic.d"):
            return name.endswith((".yaml", ".yml"))
        return path in (posixpath.join(user_dir, "borgmatic", "config.yaml"), "/etc/borgmatic/config.yaml")

    @property
    def resolved_pgpass_path(self) -> str:
        return self.pgpass_path or f"{self.home_dir}/.pgpass"

    @property
    def resolved_restore_command_path(self) -> str:
        """Where ``pg-dr-restore`` is delivered (``pg-dr-drill`` goes beside it)."""
        return self.restore_command_path or f"{self.home_dir.rstrip('/')}/.local/bin/pg-dr-restore"

    @property
    def drill_command_path(self) -> str:
        return posixpath.join(posixpath.dirname(self.resolved_restore_command_path), "pg-dr-drill")

    @property
    def roles_directory(self) -> str:
        """Where the nightly run writes each server's roles (``pg_dumpall --roles-only``) before ``create``;
        a ``source_directories`` entry, so the roles are in the same archive as the dumps."""
        return f"{self.state_dir}/roles"

    def roles_path(self, db: DatabaseConfig) -> str:
        """The roles file of ``db``'s server on the host (one per dump directory: label or host:port)."""
        return f"{self.roles_directory}/{db.dump_identifier}.sql"

    def roles_archive_path(self, db: DatabaseConfig) -> str:
        """The roles file's path inside an archive (borg stores absolute paths without the leading slash)."""
        return self.roles_path(db).lstrip("/")

    @property
    def state_dir(self) -> str:
        """pg-dr's state on the host: the drill history, the lock shared by the backup and the drill."""
        return f"{self.home_dir.rstrip('/')}/.local/state/pg-dr"

    @property
    def lock_path(self) -> str:
        """One run at a time on pg-dr's repositories: the backup (borgmatic's hooks) and the drill."""
        return f"{self.state_dir}/run.lock"

    @property
    def report_path(self) -> str:
        """The delivered helper that writes metrics and takes the lock (``components/monitoring``)."""
        return posixpath.join(posixpath.dirname(self.resolved_restore_command_path), "pg-dr-report")


def unit_paths(kind: str, home_dir: str, label: str) -> list[str]:
    """The files a schedule of ``kind`` installs (a plist, or a service and a timer; ``plan.job_files``)."""
    if kind == "launchd":
        return [posixpath.join(home_dir, "Library", "LaunchAgents", f"{label}.plist")]
    if kind == "systemd":
        unit_dir = posixpath.join(home_dir, ".config", "systemd", "user")
        return [posixpath.join(unit_dir, f"{label}.{suffix}") for suffix in ("service", "timer")]
    return []


def schedule_unit_paths(cfg: BackupConfig) -> list[str]:
    """The files the schedule installs on the backup host (as ``plan.schedule_files`` writes them)."""
    return unit_paths(cfg.schedule.kind, cfg.home_dir, cfg.schedule.label)


# Files and directories a login depends on: a file pg-dr writes there (a mode-0600 borgmatic config over
# authorized_keys with adoptExisting, a pgpass block in a shell profile) locks the user out or runs as them.
_LOGIN_DIRECTORIES = frozenset({".ssh", ".gnupg"})
_LOGIN_FILES = frozenset(
    {".profile", ".bash_profile", ".bash_login", ".bash_logout", ".bashrc", ".zshenv", ".zprofile", ".zshrc",
     ".zlogin", ".zlogout", ".login", ".logout", ".cshrc", ".tcshrc", ".kshrc", ".shrc", ".inputrc", ".rhosts",
     ".shosts", ".k5login", ".forward", ".pam_environment", ".login_conf", ".netrc"}
)  # fmt: skip
_SYSTEM_ALLOWED = ("/etc/borgmatic/", "/etc/borgmatic.d/")


def login_critical_problem(path: str) -> str | None:
    """Why pg-dr must never write ``path`` (a file a login depends on), or None. Casefolded: macOS file systems
    are case-insensitive by default."""
    folded = posixpath.normpath(path).casefold()
    parts = folded.split("/")
    if _LOGIN_DIRECTORIES.intersection(parts):
        return f"{path} is under {'/'.join(p for p in parts if p in _LOGIN_DIRECTORIES)}: a login depends on it"
    if parts[-1] in _LOGIN_FILES:
        return f"{path} is a shell or login start-up file: a login depends on it"
    if folded.startswith(("/etc/", "/private/etc/")) and not folded.startswith(_SYSTEM_ALLOWED):
        return f"{path} is a system configuration file: only /etc/borgmatic/ and /etc/borgmatic.d/ take pg-dr's files"
    return None


def _login_critical_paths(cfg: BackupConfig) -> list[tuple[str, str]]:
    written = [
        ("configPath", cfg.resolved_config_path),
        ("pgpassPath", cfg.resolved_pgpass_path),
        ("runtimeDirectory", cfg.resolved_runtime_directory),
        *(("schedule.label", path) for path in schedule_unit_paths(cfg)),
    ]
    problems = []
    for key, path in written:
        if problem := login_critical_problem(path):
            problems.append((key, f"{problem}: pg-dr never writes there (choose another path)"))
    return problems


def _path_collisions(cfg: BackupConfig) -> list[tuple[str, str]]:
    """Two files pg-dr writes on the backup host must never be one file (each delivery would overwrite the
    other), nor a program it runs. macOS file systems are case-insensitive by default, so a launchd host
    compares paths casefolded."""
    fold = str.casefold if cfg.schedule.kind == "launchd" else str
    frequent = cfg.frequent_config_path if any(db.every for db in cfg.databases) else None
    written = [
        *((("databases[].every", frequent),) if frequent else ()),
        ("configPath", cfg.resolved_config_path),
        ("pgpassPath", cfg.resolved_pgpass_path),
        ("restoreCommandPath", cfg.resolved_restore_command_path),
        ("restoreCommandPath", cfg.drill_command_path),
        *(("schedule.label", path) for path in schedule_unit_paths(cfg)),
    ]
    programs = [
        ("borgPath", cfg.borg_path),
        ("borgmaticPath", cfg.borgmatic_path),
        ("schedule.launchctlPath", cfg.schedule.launchctl_path),
        ("schedule.systemctlPath", cfg.schedule.systemctl_path),
    ]
    problems: list[tuple[str, str]] = []
    seen: dict[str, str] = {fold(posixpath.normpath(path)): key for key, path in reversed(programs)}
    for key, path in written:
        other = seen.setdefault(fold(posixpath.normpath(path)), key)
        if other != key:
            what = "the program" if other in dict(programs) else "the file"
            problems.append((key, f"{path} is also {what} of {other} (pg-dr:backup.{other}): use another path"))
    return problems
