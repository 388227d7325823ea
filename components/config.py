"""Typed stack configuration for pg-dr (namespace ``pg-dr``, camelCase keys).

Every section of the stack file is validated here, before any resource registers. A bad stack file
fails with one :class:`ConfigError` that lists every problem by its key path, for example::

    pg-dr:cluster.roles[1].connectionLimit: must be >= -1

The models are the product's interface: keep them stable and documented in the README. This module
holds the ``secrets``, ``tailnet`` and ``cluster`` sections, the whole-stack cross-checks and the
loader; ``config_backup`` and ``config_drill`` hold their sections (re-exported here), ``config_base``
the shared value types.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Literal

import pulumi
from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    model_validator,
)

from components.config_backup import (  # noqa: F401 - the section models, re-exported
    DEFAULT_BORG_COMPRESSION,
    DEFAULT_DUMP_COMPRESSION,
    DEFAULT_DUMP_FORMAT,
    DEFAULT_RESTORE_JOBS,
    BackupConfig,
    CheckConfig,
    DatabaseConfig,
    RepositoryConfig,
    RetentionConfig,
    ScheduleConfig,
)
from components.config_base import (
    NAMESPACE,
    SECTIONS,
    ConfigError,
    DnsName,
    Model,
    PgIdent,
    Quantity,
    Tag,
    _NestedProblems,
)
from components.config_drill import DrillConfig, DrillTargetConfig  # noqa: F401 - re-exported
from components.secret_refs import SecretRef

# CNPG's webhook and DatabaseRole CEL rules reject these role names.
RESERVED_ROLE_NAMES = frozenset({"postgres", "streaming_replica"})
RESERVED_ROLE_PREFIXES = ("cnpg_", "pg_")
# Roles a read-only backup user may be a member of.
READ_ONLY_GRANT_ROLES = frozenset({"pg_read_all_data", "pg_monitor"})


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
