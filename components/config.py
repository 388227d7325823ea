"""Typed stack configuration for pg-dr (namespace ``pg-dr``, camelCase keys).

Every section of the stack file is validated here, before any resource registers. A bad stack file
fails with one :class:`ConfigError` that lists every problem by its key path, for example::

    pg-dr:cluster.roles[1].connectionLimit: must be >= -1

The models are the product's interface: keep them stable and documented in the README.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, Literal

import pulumi
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel

from components.secret_refs import SecretRef

NAMESPACE = "pg-dr"
SECTIONS = ("secrets", "tailnet", "cluster", "backup", "drill")

# CNPG's webhook and DatabaseRole CEL rules reject these role names.
RESERVED_ROLE_NAMES = frozenset({"postgres", "streaming_replica"})
RESERVED_ROLE_PREFIXES = ("cnpg_", "pg_")
# Roles a read-only backup user may be a member of.
READ_ONLY_GRANT_ROLES = frozenset({"pg_read_all_data", "pg_monitor"})

_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_TAG = re.compile(r"^tag:[A-Za-z0-9][A-Za-z0-9_-]*$")
_PG_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$|^\[?[0-9a-fA-F:.]+\]?$")


class ConfigError(pulumi.RunError):
    """A stack configuration error. ``problems`` holds ``(key path, message)`` pairs."""

    def __init__(self, problems: Iterable[tuple[str, str]]):
        self.problems = list(problems)
        lines = [f"{path}: {message}" for path, message in self.problems]
        super().__init__(
            f"invalid stack configuration ({len(lines)} problem{'s' if len(lines) != 1 else ''}):\n  "
            + "\n  ".join(lines)
        )


def _check(pattern: re.Pattern[str], what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return check


def _absolute(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"{value!r} must be an absolute path (LaunchAgents have no PATH and '~' is not expanded)")
    if posixpath.normpath(value) != value.rstrip("/") and value != "/":
        raise ValueError(f"{value!r} must be a normalised absolute path")
    return value


def _host_key(value: str) -> str:
    parts = value.split()
    if len(parts) < 2 or not (parts[0].startswith("ssh-") or parts[0].startswith("ecdsa-")):
        raise ValueError("must be a public key line like 'ssh-ed25519 AAAA...' (from ssh-keyscan)")
    return value


DnsName = Annotated[str, AfterValidator(_check(_DNS1123, "a DNS-1123 name (lowercase letters, digits, '-')"))]
Quantity = Annotated[str, AfterValidator(_check(_QUANTITY, "a Kubernetes quantity like 10Gi"))]
Tag = Annotated[str, AfterValidator(_check(_TAG, "a Tailscale tag like tag:k8s"))]
PgIdent = Annotated[str, AfterValidator(_check(_PG_IDENT, "a PostgreSQL identifier"))]
Hostname = Annotated[str, AfterValidator(_check(_HOSTNAME, "a host name or IP address"))]
AbsPath = Annotated[str, AfterValidator(_absolute)]
HostKey = Annotated[str, AfterValidator(_host_key)]
Port = Annotated[int, Field(ge=1, le=65535)]


class Model(BaseModel):
    """Base: camelCase keys, unknown keys rejected, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, strict=False
    )


# --------------------------------------------------------------------------------------------- secrets
class SecretsConfig(Model):
    """``pg-dr:secrets``: which backend resolves ``op://`` references."""

    provider: Literal["onepassword", "env", "config"] = "onepassword"
    desktop_account: str | None = None
    integration_name: str = "pg-dr"


# --------------------------------------------------------------------------------------------- tailnet
class TailnetConfig(Model):
    """``pg-dr:tailnet``: the Tailscale policy the backup grants are spliced into."""

    manage: bool = True
    policy_file: str = "policy/tailnet.hujson"
    backup_source: Tag = "tag:homelab"
    overwrite_existing: bool = False


# --------------------------------------------------------------------------------------------- cluster
class StorageConfig(Model):
    size: Quantity = "10Gi"
    storage_class: str | None = None


class BootstrapConfig(Model):
    database: PgIdent = "app"
    owner: PgIdent = "app"


class RoleConfig(Model):
    """One CNPG managed role. Defaults are CNPG's, spelled out so the API server adds nothing."""

    name: PgIdent
    ensure: Literal["present", "absent"] = "present"
    login: bool = False
    superuser: bool = False
    createdb: bool = False
    createrole: bool = False
    replication: bool = False
    bypassrls: bool = False
    inherit: bool = True
    connection_limit: int = Field(default=-1, ge=-1)
    in_roles: list[PgIdent] = Field(default_factory=list)
    password: SecretRef | None = None
    disable_password: bool = False
    valid_until: str | None = None
    comment: str | None = None

    @model_validator(mode="after")
    def _password_xor_disabled(self) -> RoleConfig:
        if self.disable_password and self.password is not None:
            raise ValueError("disablePassword and password are mutually exclusive (CNPG rejects both)")
        return self

    @property
    def read_only(self) -> bool:
        """A role that may read everything and change nothing."""
        return (
            not (self.superuser or self.createdb or self.createrole or self.replication or self.bypassrls)
            and "pg_read_all_data" in self.in_roles
            and set(self.in_roles) <= READ_ONLY_GRANT_ROLES
        )


class ClusterConfig(Model):
    """``pg-dr:cluster``: the CloudNativePG cluster and its managed roles."""

    name: DnsName
    namespace: DnsName = "default"
    mode: Literal["cluster", "databaseRole"] = "cluster"
    instances: int = Field(default=1, ge=1)
    image_name: str | None = None
    storage: StorageConfig = StorageConfig()
    bootstrap: BootstrapConfig | None = None
    roles: list[RoleConfig] = Field(default_factory=list)
    protect: bool = True

    def secret_name(self, role: RoleConfig) -> str:
        """The basic-auth Secret CNPG reads the role's password from (``<cluster>-<role>``)."""
        return f"{self.name}-{role.name.replace('_', '-').lower()}"

    def role(self, name: str) -> RoleConfig | None:
        return next((r for r in self.roles if r.name == name), None)


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

_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_DUMP_COMPRESSION = re.compile(r"^(none|gzip|lz4|zstd)(:[A-Za-z0-9=,_-]+)?$|^[0-9]$")
Label = Annotated[str, AfterValidator(_check(_LABEL, "a label of letters, digits, '.', '_' and '-'"))]


def _dump_compression(value: str | int | None) -> str | int | None:
    if value is not None and not _DUMP_COMPRESSION.match(str(value)):
        raise ValueError(f"{value!r} is not a pg_dump compression (0-9, none, gzip, lz4, zstd[:detail])")
    return value


class RepositoryConfig(Model):
    path: str = Field(min_length=1)
    label: Label


class RetentionConfig(Model):
    keep_daily: int | None = Field(default=7, ge=0)
    keep_weekly: int | None = Field(default=None, ge=0)
    keep_monthly: int | None = Field(default=12, ge=0)
    keep_yearly: int | None = Field(default=1000, ge=0)


class CheckConfig(Model):
    name: Literal["repository", "archives", "data", "extract", "spot"]
    frequency: str = "always"


class ScheduleConfig(Model):
    kind: Literal["launchd", "systemd", "none"] = "launchd"
    hour: int = Field(default=2, ge=0, le=23)
    minute: int = Field(default=0, ge=0, le=59)
    label: Label = "io.pg-dr.borgmatic"
    launchctl_path: AbsPath = "/bin/launchctl"
    systemctl_path: AbsPath = "/usr/bin/systemctl"


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


def _default_checks() -> list[CheckConfig]:
    return [CheckConfig(name="repository", frequency="2 weeks"), CheckConfig(name="archives", frequency="2 weeks")]


class BackupConfig(Model):
    """``pg-dr:backup``: borgmatic on the backup host, delivered over SSH."""

    host: Hostname
    port: Port = 22
    user: str = Field(min_length=1)
    host_key: HostKey | None = None
    insecure_ignore_host_key: bool = False
    private_key: SecretRef | None = None
    home_dir: AbsPath
    config_path: AbsPath | None = None
    pgpass_path: AbsPath | None = None
    borg_path: AbsPath = "/opt/homebrew/bin/borg"
    borgmatic_path: AbsPath = "/opt/homebrew/bin/borgmatic"
    pg_bin_dir: AbsPath = "/opt/homebrew/opt/postgresql@18/bin"
    repositories: list[RepositoryConfig] = Field(min_length=1)
    encryption_passcommand: str | None = None
    compression: str = DEFAULT_BORG_COMPRESSION
    retention: RetentionConfig = RetentionConfig()
    checks: list[CheckConfig] = Field(default_factory=_default_checks)
    schedule: ScheduleConfig = ScheduleConfig()
    databases: list[DatabaseConfig] = Field(min_length=1)
    verify: bool = True

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
        labels: dict[str, int] = {}
        for i, repo in enumerate(self.repositories):
            if repo.label in labels:
                problems.append(
                    (f"repositories[{i}].label", f"duplicate label (also repositories[{labels[repo.label]}])")
                )
            labels.setdefault(repo.label, i)
        creds: dict[tuple[str, int, str], SecretRef | None] = {}
        for i, db in enumerate(self.databases):
            k = (db.hostname, db.port, db.username)
            if k in creds and creds[k] != db.password:
                problems.append(
                    (
                        f"databases[{i}].password",
                        f"differs from another entry for {db.username}@{db.hostname}:{db.port}",
                    )
                )
            creds.setdefault(k, db.password)
        if problems:
            raise _NestedProblems(problems)
        return self

    @property
    def resolved_config_path(self) -> str:
        return self.config_path or f"{self.home_dir}/.config/borgmatic/config.yaml"

    @property
    def resolved_pgpass_path(self) -> str:
        return self.pgpass_path or f"{self.home_dir}/.pgpass"


# ----------------------------------------------------------------------------------------------- drill
_TABLE = re.compile(r"^([A-Za-z_][A-Za-z0-9_$]{0,62}\.)?[A-Za-z_][A-Za-z0-9_$]{0,62}$")
DRILL_FORMATS = ("custom", "tar", "directory")
# Never a drill's scratch database: PostgreSQL's own and CNPG's.
SYSTEM_DATABASES = frozenset({"postgres", "template0", "template1"})


class DrillTargetConfig(Model):
    """The server the drill restores into, and a role there with CREATEDB (restores with --no-owner --no-acl)."""

    hostname: Hostname = "localhost"
    port: Port = 5432
    username: PgIdent
    password: SecretRef | None = None  # None: the role's line is already in the backup host's pgpass file
    maintenance_database: PgIdent = "postgres"  # where CREATE/DROP DATABASE run


class DrillConfig(Model):
    """``pg-dr:drill``: the opt-in restore drill (RestoreDrill). Change ``runId`` to run it again."""

    enabled: bool = False
    run_id: str = Field(default="1", min_length=1)
    database: PgIdent | None = None  # a name in pg-dr:backup.databases
    source_hostname: Hostname | None = None  # pick the dump when several entries share the name
    source_port: Port | None = None
    repository: Label | None = None  # repository label; default: the first repository
    target: DrillTargetConfig | None = None
    scratch_database: PgIdent | None = None  # default: <database>_pgdr_drill
    expected_counts: dict[str, Annotated[int, Field(ge=0)]] | None = None  # table or schema.table -> rows
    compare_to_source: bool = False  # also/instead: every table's count must equal the source's count now

    @model_validator(mode="after")
    def _complete_when_enabled(self) -> DrillConfig:
        problems: list[tuple[str, str]] = []
        if self.enabled:
            if self.database is None:
                problems.append(("database", "required when the drill is enabled"))
            if self.target is None:
                problems.append(("target", "required when the drill is enabled (hostname, port, username)"))
            if not self.expected_counts and not self.compare_to_source:
                problems.append(("expectedCounts", "set expectedCounts and/or compareToSource: true"))
        for table in self.expected_counts or {}:
            if not _TABLE.match(table):
                problems.append((f"expectedCounts.{table}", "is not a table name (table or schema.table)"))
        scratch = self.scratch_name
        if scratch is not None:
            if scratch == self.database:
                problems.append(("scratchDatabase", f"must differ from the source database {self.database!r}"))
            if scratch in SYSTEM_DATABASES or (self.target and scratch == self.target.maintenance_database):
                problems.append(("scratchDatabase", f"{scratch!r} is a system or maintenance database"))
        if problems:
            raise _NestedProblems(problems)
        return self

    @property
    def scratch_name(self) -> str | None:
        if self.scratch_database is not None:
            return self.scratch_database
        return f"{self.database}_pgdr_drill"[:63] if self.database else None

    @property
    def expected_tables(self) -> dict[str, int]:
        """``expectedCounts`` keyed ``schema.table`` (bare names are in ``public``)."""
        return {(t if "." in t else f"public.{t}"): n for t, n in (self.expected_counts or {}).items()}

    def source(self, backup: BackupConfig) -> list[DatabaseConfig]:
        """The backup.databases entries this drill's settings match (exactly one when valid)."""
        return [
            db
            for db in backup.databases
            if db.name == self.database
            and self.source_hostname in (None, db.hostname)
            and self.source_port in (None, db.port)
        ]

    def cross_check(self, backup: BackupConfig | None) -> list[tuple[str, str]]:
        """Problems only visible with pg-dr:backup: the dump exists, is restorable, and is never overwritten."""
        if not self.enabled:
            return []
        if backup is None:
            return [("drill.enabled", "the drill restores borgmatic's archives: configure pg-dr:backup")]
        problems: list[tuple[str, str]] = []
        matches = self.source(backup)
        if not matches:
            problems.append(("drill.database", f"no pg-dr:backup.databases entry matches {self._wanted()}"))
        elif len(matches) > 1:
            found = ", ".join(db.key for db in matches)
            problems.append(("drill.sourceHostname", f"{self._wanted()} is ambiguous ({found}): set sourceHostname"))
        elif matches[0].format not in DRILL_FORMATS:
            problems.append(("drill.database", f"the drill restores {'/'.join(DRILL_FORMATS)} dumps, not plain"))
        labels = [r.label for r in backup.repositories]
        if self.repository is not None and self.repository not in labels:
            problems.append(("drill.repository", f"no repository labelled {self.repository!r} ({', '.join(labels)})"))
        if self.target is not None:
            t = self.target
            for i, db in enumerate(backup.databases):
                if (db.hostname, db.port, db.name) == (t.hostname, t.port, self.scratch_name):
                    problems.append(
                        ("drill.scratchDatabase", f"{db.key} is backed up (backup.databases[{i}]): never a scratch")
                    )
                if (db.hostname, db.port, db.username) == (t.hostname, t.port, t.username) and t.password not in (
                    None,
                    db.password,
                ):
                    problems.append(
                        ("drill.target.password", f"differs from backup.databases[{i}] for {t.username}@{db.hostname}")
                    )
        return problems

    def _wanted(self) -> str:
        where = f"{self.source_hostname or '*'}:{self.source_port or '*'}"
        return f"{where}/{self.database}"


# ----------------------------------------------------------------------------------------------- stack
class StackConfig(Model):
    secrets: SecretsConfig = SecretsConfig()
    tailnet: TailnetConfig = TailnetConfig()
    cluster: ClusterConfig | None = None
    backup: BackupConfig | None = None
    drill: DrillConfig = DrillConfig()

    @model_validator(mode="after")
    def _cross_checks(self) -> StackConfig:
        problems: list[tuple[str, str]] = []
        problems += self._check_cluster_databases()
        problems += self._check_secret_providers()
        problems += self.drill.cross_check(self.backup)
        if problems:
            raise _NestedProblems(problems)
        return self

    def _check_cluster_databases(self) -> list[tuple[str, str]]:
        """A database served by the CNPG cluster must use a managed, read-only login role, same password."""
        problems: list[tuple[str, str]] = []
        if self.backup is None:
            return problems
        for i, db in enumerate(self.backup.databases):
            if not db.cluster:
                continue
            at = f"backup.databases[{i}]"
            role = self.cluster.role(db.username) if self.cluster else None
            if self.cluster is None:
                problems.append((f"{at}.cluster", "true, but pg-dr:cluster is not configured"))
            elif role is None:
                problems.append((f"{at}.username", f"{db.username!r} is not a managed role in pg-dr:cluster.roles"))
            else:
                if not role.login or role.ensure != "present":
                    problems.append((f"{at}.username", f"role {role.name!r} must have login: true and ensure: present"))
                if not (role.superuser or set(role.in_roles) & READ_ONLY_GRANT_ROLES):
                    problems.append(
                        (f"{at}.username", f"role {role.name!r} has no read access (inRoles: [pg_read_all_data])")
                    )
                if db.password != role.password:
                    problems.append(
                        (
                            f"{at}.password",
                            f"must equal the password reference of role {role.name!r} in pg-dr:cluster.roles",
                        )
                    )
        return problems

    def _check_secret_providers(self) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        for path, ref in self.secret_refs():
            if ref.scheme == "op" and self.secrets.provider != "onepassword":
                problems.append(
                    (path, f"{ref} needs 1Password, but pg-dr:secrets.provider is {self.secrets.provider!r}")
                )
        return problems

    def secret_refs(self) -> list[tuple[str, SecretRef]]:
        """Every secret reference the stack uses, with its key path (section-relative)."""
        found: list[tuple[str, SecretRef]] = []

        def walk(value: Any, path: str) -> None:
            if isinstance(value, SecretRef):
                found.append((path, value))
            elif isinstance(value, BaseModel):
                for name, field in type(value).model_fields.items():
                    walk(getattr(value, name), f"{path}.{field.alias or name}" if path else (field.alias or name))
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    walk(item, f"{path}[{i}]")

        walk(self, "")
        return found


class _NestedProblems(ValueError):
    """Raised inside model validators to report problems at paths below the validated model."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{p}: {m}" for p, m in problems))


# ------------------------------------------------------------------------------------------- loading
_MESSAGES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "missing": lambda c: "required",
    "extra_forbidden": lambda c: "unknown key",
    "greater_than_equal": lambda c: f"must be >= {c['ge']}",
    "less_than_equal": lambda c: f"must be <= {c['le']}",
    "greater_than": lambda c: f"must be > {c['gt']}",
    "too_short": lambda c: f"needs at least {c['min_length']} item(s)",
    "string_too_short": lambda c: f"needs at least {c['min_length']} character(s)",
    "literal_error": lambda c: f"must be one of {c['expected']}",
    "bool_parsing": lambda c: "must be true or false",
    "bool_type": lambda c: "must be true or false",
    "int_parsing": lambda c: "must be an integer",
    "int_type": lambda c: "must be an integer",
    "int_from_float": lambda c: "must be an integer",
    "string_type": lambda c: "must be a string",
    "list_type": lambda c: "must be a list",
    "model_type": lambda c: "must be a mapping",
    "model_attributes_type": lambda c: "must be a mapping",
    "dict_type": lambda c: "must be a mapping",
}


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif "[" in str(part) or str(part).startswith("function-"):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def _problems_from(exc: ValidationError) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "nullable["))))
        base = _format_loc(loc)
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, _NestedProblems):
            for sub, message in cause.problems:
                path = f"{base}.{sub}" if base and not sub.startswith("[") else f"{base}{sub}"
                problems.append((f"{NAMESPACE}:{path}", message))
            continue
        make = _MESSAGES.get(err["type"])
        if make is not None:
            message = make(err.get("ctx") or {})
        else:
            message = str(cause) if cause is not None else err["msg"]
        problems.append((f"{NAMESPACE}:{base}", message))
    return problems


def _role_list_problems(raw_cluster: Any) -> list[tuple[str, str]]:
    """What CNPG's webhook rejects across the role list; runs on raw data so it reports alongside field errors."""
    if not isinstance(raw_cluster, Mapping) or not isinstance(raw_cluster.get("roles"), list):
        return []
    problems: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    at = f"{NAMESPACE}:cluster.roles"
    for i, role in enumerate(raw_cluster["roles"]):
        if not isinstance(role, Mapping) or not isinstance(role.get("name"), str):
            continue
        name = role["name"]
        if name in seen:
            problems.append((f"{at}[{i}].name", f"duplicate role {name!r} (also roles[{seen[name]}])"))
        seen.setdefault(name, i)
        if name in RESERVED_ROLE_NAMES or name.startswith(RESERVED_ROLE_PREFIXES):
            problems.append((f"{at}[{i}].name", f"{name!r} is reserved by PostgreSQL or CNPG"))
        if raw_cluster.get("mode") == "databaseRole" and role.get("ensure") == "absent":
            problems.append(
                (f"{at}[{i}].ensure", "absent is not supported in databaseRole mode; remove the role from the stack")
            )
    return problems


def parse_stack_config(raw: Mapping[str, Any]) -> StackConfig:
    """Validate the ``pg-dr`` sections (already parsed from JSON) into a :class:`StackConfig`."""
    unknown = [k for k in raw if k not in SECTIONS]
    problems = [(f"{NAMESPACE}:{k}", f"unknown key (known: {', '.join(SECTIONS)})") for k in unknown]
    problems += _role_list_problems(raw.get("cluster"))
    try:
        cfg = StackConfig.model_validate({k: v for k, v in raw.items() if k in SECTIONS})
    except ValidationError as exc:
        raise ConfigError(problems + _problems_from(exc)) from None
    if problems:
        raise ConfigError(problems)
    return cfg


def _namespace_keys() -> set[str]:
    """Every ``pg-dr:*`` key the running stack has (the CLI passes them in PULUMI_CONFIG)."""
    from pulumi.runtime.config import CONFIG, get_config_env

    keys = set(CONFIG.get()) | set(get_config_env())
    return {k.split(":", 1)[1] for k in keys if k.startswith(f"{NAMESPACE}:")}


def _config_ref_targets(value: Any) -> set[str]:
    """Keys named by ``config:KEY`` references anywhere in raw config (they are not unknown keys)."""
    if isinstance(value, str) and value.startswith("config:"):
        key = value[len("config:") :]
        return {key.split(":", 1)[1]} if key.startswith(f"{NAMESPACE}:") else {key}
    if isinstance(value, Mapping):
        return set().union(*(_config_ref_targets(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_config_ref_targets(v) for v in value)) if value else set()
    return set()


def load_stack_config(config: pulumi.Config | None = None) -> StackConfig:
    """Read every ``pg-dr:*`` key from the running stack's config and validate it."""
    config = config or pulumi.Config(NAMESPACE)
    raw: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for section in SECTIONS:
        value = config.get(section)
        if value is None:
            continue
        try:
            raw[section] = json.loads(value)
        except json.JSONDecodeError:
            problems.append((f"{NAMESPACE}:{section}", "must be a mapping (structured config), not a string"))
    if problems:
        raise ConfigError(problems)
    for key in sorted(_namespace_keys() - set(SECTIONS) - _config_ref_targets(raw)):
        raw[key] = None  # reported as an unknown key by parse_stack_config
    return parse_stack_config(raw)
