"""``pg-dr:backup``: borgmatic on the backup host (see README, ``pg-dr:backup``)."""

from __future__ import annotations

import posixpath
import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    Field,
    model_validator,
)

from components.config.base import (
    AbsPath,
    HostKey,
    Hostname,
    Model,
    PgIdent,
    Port,
    Tag,
    Text,
    _check,
    _NestedProblems,
)
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
# match that keeps prune/check/list of either config off the other's archives (see README).
DEFAULT_ARCHIVE_NAME_FORMAT = "pg-dr-{hostname}-{now:%Y-%m-%dT%H:%M:%S.%f}"
DEFAULT_MATCH_ARCHIVES = "sh:pg-dr-*"
_MATCH_ALL = frozenset({"*", "sh:*", "re:.*", "re:", "sh:**"})

_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_DUMP_COMPRESSION = re.compile(r"(none|gzip|lz4|zstd)(:[A-Za-z0-9=,_-]+)?|[0-9]")
Label = Annotated[Text, AfterValidator(_check(_LABEL, "a label of letters, digits, '.', '_' and '-'"))]


def _dump_compression(value: str | int | None) -> str | int | None:
    if value is not None and not _DUMP_COMPRESSION.fullmatch(str(value)):
        raise ValueError(f"{value!r} is not a pg_dump compression (0-9, none, gzip, lz4, zstd[:detail])")
    return value


class RepositoryConfig(Model):
    path: Text = Field(min_length=1)
    label: Label


class RetentionConfig(Model):
    keep_daily: int | None = Field(default=7, ge=0)
    keep_weekly: int | None = Field(default=None, ge=0)
    keep_monthly: int | None = Field(default=12, ge=0)
    keep_yearly: int | None = Field(default=1000, ge=0)


class CheckConfig(Model):
    name: Literal["repository", "archives", "data", "extract", "spot"]
    frequency: Text = "always"


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
    username: PgIdent
    password: SecretRef | None = None
    tailnet_tag: Tag | None = None
    cluster: bool = False
    label: Label | None = None
    format: Literal["custom", "directory", "tar", "plain"] = DEFAULT_DUMP_FORMAT
    compression: Annotated[str | int | None, AfterValidator(_dump_compression)] = DEFAULT_DUMP_COMPRESSION
    restore_jobs: int | None = Field(default=DEFAULT_RESTORE_JOBS, ge=1)

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
    archive_name_format: str = Field(default=DEFAULT_ARCHIVE_NAME_FORMAT, min_length=1)
    match_archives: str = Field(default=DEFAULT_MATCH_ARCHIVES, min_length=1)
    lock_wait: int | None = Field(default=None, ge=0)
    runtime_directory: AbsPath | None = None
    login_wait_seconds: int = Field(default=300, ge=0)
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
    restore_command_path: AbsPath | None = None  # pg-dr-restore (and pg-dr-drill beside it); 0755

    @model_validator(mode="after")
    def _host_key_pinned(self) -> BackupConfig:
        problems: list[tuple[str, str]] = []
        if self.host_key is None and not self.insecure_ignore_host_key:
            problems.append(("hostKey", "required: pin the host key (ssh-keyscan) or set insecureIgnoreHostKey: true"))
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
        if self.match_archives.strip() in _MATCH_ALL:
            problems.append(
                ("matchArchives", "matches every archive: prune would remove other configs' archives in the repository")
            )
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
        if problems:
            raise _NestedProblems(problems)
        return self

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
        return f"{self.home_dir.rstrip('/')}/.local/state/pg-dr/roles"

    def roles_path(self, db: DatabaseConfig) -> str:
        """The roles file of ``db``'s server on the host (one per dump directory: label or host:port)."""
        return f"{self.roles_directory}/{db.dump_identifier}.sql"

    def roles_archive_path(self, db: DatabaseConfig) -> str:
        """The roles file's path inside an archive (borg stores absolute paths without the leading slash)."""
        return self.roles_path(db).lstrip("/")


def schedule_unit_paths(cfg: BackupConfig) -> list[str]:
    """The files the schedule installs on the backup host (as ``plan.schedule_files`` writes them)."""
    label = cfg.schedule.label
    if cfg.schedule.kind == "launchd":
        return [posixpath.join(cfg.home_dir, "Library", "LaunchAgents", f"{label}.plist")]
    if cfg.schedule.kind == "systemd":
        unit_dir = posixpath.join(cfg.home_dir, ".config", "systemd", "user")
        return [posixpath.join(unit_dir, f"{label}.{suffix}") for suffix in ("service", "timer")]
    return []


def _path_collisions(cfg: BackupConfig) -> list[tuple[str, str]]:
    """Two files pg-dr writes on the backup host must never be one file (each delivery would overwrite the
    other), nor a program it runs. macOS file systems are case-insensitive by default, so a launchd host
    compares paths casefolded."""
    fold = str.casefold if cfg.schedule.kind == "launchd" else str
    written = [
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
